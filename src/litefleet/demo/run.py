"""Run the demo story in a work folder and say whether every step behaved."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from rich.console import Console
from rich.rule import Rule

from litefleet.demo import story, summary
from litefleet.demo.fleet import demo_fleet
from litefleet.demo.processes import ProcessGroup

STEPS = [
    ("1. build v1: train, compress, convert, evaluate in LiteRT", "build"),
    ("2. sign v1 into a TUF repository; start the update server", "publish"),
    ("3. start the devices and an app calling predict", "devices"),
    ("4. v2, a last-layer fine-tune: staged rollout 50 % → 100 %", "rollout"),
    ("5. a bad v3 (fails the golden set): refused, halted by the server", "bad"),
    ("6. a tampered v4 on the server: refused, then installed once whole", "tamper"),
]


def run_demo(
    workdir: Path | None,
    *,
    quick: bool = False,
    timeout: float = 120.0,
    min_accuracy: float = 0.85,
    console: Console | None = None,
) -> bool:
    console = console or Console()
    if not console.is_terminal:
        console.width = max(console.width, 150)  # a log file gets whole tables
    keep = workdir is not None
    work = Path(workdir) if workdir else Path(tempfile.mkdtemp(prefix="litefleet-demo-"))
    if keep and work.exists() and any(work.iterdir()):
        shutil.rmtree(work)
    work.mkdir(parents=True, exist_ok=True)
    console.print(f"work folder: [bold]{work}[/]" + ("" if keep else " (removed at the end)"))
    ok = False
    try:
        with ProcessGroup(work / "logs") as processes:
            run = story.DemoRun(
                workdir=work,
                console=console,
                processes=processes,
                devices=demo_fleet(story.MODEL),
                min_accuracy=min_accuracy,
                timeout=timeout,
                quick=quick,
            )
            for title, key in STEPS:
                console.print(Rule(title))
                _step(run, key)
            console.print(Rule("7. summary"))
            app = story.step_finish(run)
            rows = summary.device_rows(run)
            fleet = run.fleet()
            summary.print_summary(run, rows, app, fleet)
            report = work / "demo-report.html"
            summary.write_html(run, report, rows, app, fleet)
            console.print(f"report: [bold]{report}[/]; logs: {work / 'logs'}")
            ok = summary.print_checks(console, run)
            if not keep:
                final = Path.cwd() / "demo-report.html"
                shutil.copy(report, final)
                console.print(f"report copied to [bold]{final}[/]")
    except KeyboardInterrupt:
        console.print("[yellow]interrupted: every process the demo started is stopped[/]")
        ok = False
    finally:
        if not keep:
            shutil.rmtree(work, ignore_errors=True)
    return ok


def _step(run: story.DemoRun, key: str) -> None:
    if key == "build":
        story.step_build(run, "v1")
    elif key == "publish":
        story.step_publish_and_serve(run, run.builds["v1"])
    elif key == "devices":
        story.step_start_devices(run)
    elif key == "rollout":
        story.step_staged_rollout(run)
    elif key == "bad":
        story.step_bad_release(run)
    elif key == "tamper":
        story.step_tampered_release(run)
