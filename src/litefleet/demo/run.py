"""Run the demo story in a work folder and say whether every step behaved."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

from rich.console import Console
from rich.rule import Rule

from litefleet.demo import story, summary
from litefleet.demo.fleet import demo_fleet
from litefleet.demo.processes import ProcessGroup
from litefleet.errors import UserError

STEPS = [
    ("1. build v1: train, compress, convert, evaluate in LiteRT", "build"),
    ("2. sign v1 (the first publish sets the quality floor); start the update server", "publish"),
    ("3. start the devices, each with an app calling predict on live inputs", "devices"),
    ("4. v2, a last-layer fine-tune: stages 20 → 50 → 100 %, promoted by the server", "rollout"),
    ("5. a bad v3 (fails the golden set): refused at publish and by devices, halted", "bad"),
    ("6. a v4 exact on the golden set, wrong on live inputs: caught by live canaries", "live"),
    ("7. a tampered v5 on the server: refused, then installed once whole", "tamper"),
]


MARK = ".litefleet-demo"
"""A file in every work folder the demo made: only such a folder is ever replaced."""


def run_demo(
    workdir: Path | None,
    *,
    quick: bool = False,
    timeout: float = 120.0,
    console: Console | None = None,
) -> bool:
    """Run the story; True when every check passed. Ctrl-C (SIGINT) or SIGTERM stops every
    process the demo started, then raises KeyboardInterrupt.

    `workdir` given: everything stays there (an earlier demo's folder is replaced, any
    other non-empty folder is refused). None: a temporary folder, removed at the end
    unless the demo failed (its logs are kept, and named); the report is kept in a file of
    its own in the temporary directory, never in the current folder.
    """
    console = console or Console()
    if not console.is_terminal:
        console.width = max(console.width, 150)  # a log file gets whole tables
    keep = workdir is not None
    work = (
        prepare_workdir(Path(workdir))
        if workdir
        else Path(tempfile.mkdtemp(prefix="litefleet-demo-"))
    )
    (work / MARK).touch()
    if keep:
        console.print(f"work folder: [bold]{work}[/] (kept)")
    ok = False
    try:
        with ProcessGroup(work / "logs") as processes:
            run = story.DemoRun(
                workdir=work,
                console=console,
                processes=processes,
                devices=demo_fleet(story.MODEL),
                timeout=timeout,
                quick=quick,
            )
            for title, key in STEPS:
                console.print(Rule(title))
                _step(run, key)
            console.print(Rule("8. summary"))
            app = story.step_finish(run)
            rows = summary.device_rows(run)
            fleet = run.fleet()
            summary.print_summary(run, rows, app, fleet)
            report = work / "demo-report.html" if keep else kept_report_path()
            summary.write_html(run, report, rows, app, fleet)
            ok = summary.print_checks(console, run)
            logs = f"; logs: {work / 'logs'}" if keep else ""
            console.print(f"report: [bold]{report}[/]{logs}")
    except KeyboardInterrupt:
        console.print("[yellow]interrupted: every process the demo started is stopped[/]")
        raise  # the caller exits 130, never 0: an interrupted demo did not pass
    finally:
        if not keep and ok:
            shutil.rmtree(work, ignore_errors=True)
        elif not keep:
            console.print(f"the demo did not pass: its work folder is kept for the logs: {work}")
    return ok


def prepare_workdir(work: Path) -> Path:
    """An empty folder, or one an earlier demo made (emptied); anything else is refused,
    so `--workdir ~` never deletes a home folder."""
    if work.exists() and not work.is_dir():
        raise UserError(f"--workdir {work} is a file")
    if work.exists() and any(work.iterdir()):
        if not (work / MARK).is_file():
            raise UserError(
                f"--workdir {work} is not empty and no earlier demo made it: choose an empty"
                " or new folder"
            )
        shutil.rmtree(work)
    work.mkdir(parents=True, exist_ok=True)
    return work


def kept_report_path() -> Path:
    """A new file in the temporary directory (not the current folder, which may be a
    repository): `litefleet-demo-report-XXXX.html`, kept after the demo."""
    fd, name = tempfile.mkstemp(prefix="litefleet-demo-report-", suffix=".html")
    os.close(fd)
    return Path(name)


def _step(run: story.DemoRun, key: str) -> None:
    if key == "build":
        story.step_build(run, "v1")
    elif key == "publish":
        story.step_publish_and_serve(run, run.builds["v1"])
    elif key == "devices":
        story.step_start_devices(run)
    elif key == "rollout":
        story.step_auto_rollout(run)
    elif key == "bad":
        story.step_bad_release(run)
    elif key == "live":
        story.step_bad_on_live(run)
    elif key == "tamper":
        story.step_tampered_release(run)
