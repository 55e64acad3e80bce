"""The demo's story, step by step, each step checking what it claims.

1. build v1 (train, compress, convert, evaluate);  2. sign it into a fresh TUF repository
and start the update server;  3. start device agents (one story each) and an app calling
`predict`;  4. v2, a last-layer fine-tune, rolled out to 50 % then 100 %;  5. a bad v3 that
fails the golden set: refused by the devices, halted by the server;  6. a tampered v4 on
the server: refused, then installed once the files are whole again;  7. the summary.

Every wait has a deadline; a check that fails is recorded and the story goes on, so the
summary shows everything that happened. The demo exits 0 only when every check passed.
"""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from rich.console import Console

from litefleet.demo.fleet import LOW_BATTERY, METERED_ON_BATTERY, WIFI_CHARGING, DemoDevice
from litefleet.demo.processes import ProcessGroup, litefleet

MODEL = "digits"


@dataclass
class Check:
    step: str
    claim: str
    ok: bool
    detail: str = ""


@dataclass
class DemoRun:
    """Everything the story observed; the summary and the HTML report read it."""

    workdir: Path
    console: Console
    processes: ProcessGroup
    devices: list[DemoDevice]
    min_accuracy: float
    timeout: float
    quick: bool = False
    server_url: str = ""
    checks: list[Check] = field(default_factory=list)
    timeline: list[tuple[float, dict[str, int | None]]] = field(default_factory=list)
    events: list[tuple[float, str]] = field(default_factory=list)
    builds: dict[str, Path] = field(default_factory=dict)
    started: float = field(default_factory=time.monotonic)

    # ------------------------------------------------------------------ helpers

    @property
    def repo(self) -> Path:
        return self.workdir / "repo"

    def elapsed(self) -> float:
        return round(time.monotonic() - self.started, 1)

    def mark(self, what: str) -> None:
        self.events.append((self.elapsed(), what))

    def check(self, step: str, claim: str, ok: bool, detail: str = "") -> bool:
        self.checks.append(Check(step, claim, bool(ok), detail))
        icon = "[green]✔[/]" if ok else "[red]✘[/]"
        self.console.print(f"  {icon} {claim}" + (f" [dim]({detail})[/]" if detail else ""))
        return bool(ok)

    def run_cli(self, *args: str) -> str:
        """A litefleet command to completion; its failure is the demo's failure."""
        import subprocess

        result = subprocess.run(litefleet(*args), capture_output=True, text=True, timeout=300)
        if result.returncode != 0:
            raise RuntimeError(f"litefleet {' '.join(args)} failed: {result.stderr.strip()}")
        return result.stdout.strip()

    def sample(self) -> dict[str, int | None]:
        actives = {d.name: d.active() for d in self.devices}
        self.timeline.append((self.elapsed(), actives))
        return actives

    def wait_for(self, what: str, predicate: Callable[[], bool], timeout: float | None = None):
        """Poll `predicate` (sampling the fleet as it goes) until true or the deadline."""
        deadline = time.monotonic() + (timeout or self.timeout)
        with self.console.status(f"waiting: {what}"):
            while time.monotonic() < deadline:
                self.sample()
                if predicate():
                    return True
                time.sleep(0.5)
        return False

    def log(self, device: DemoDevice) -> Path:
        return self.processes.log_dir / f"agent-{device.name}.log"

    def results(self, device: DemoDevice) -> list[dict[str, Any]]:
        return device.results(self.log(device))

    def fleet(self) -> dict[str, Any]:
        from litefleet.testing.operators import operator_headers

        headers = operator_headers(self.repo, "demo", "viewer")
        return httpx.get(f"{self.server_url}/v1/fleet", timeout=10, headers=headers).json()

    def release_status(self, version: int) -> dict[str, Any]:
        for r in self.fleet().get("releases", []):
            if r["model"] == MODEL and r["version"] == version:
                return r
        return {}

    def by_name(self, name: str) -> DemoDevice:
        return next(d for d in self.devices if d.name == name)


# ---------------------------------------------------------------------- steps


def step_build(run: DemoRun, name: str, **overrides: object) -> Path:
    """A real build into the work folder, progress and table on the console."""
    from litefleet.pipeline.build import build
    from litefleet.pipeline.recipe import Recipe
    from litefleet.pipeline.report import table

    recipe = Recipe()
    if run.quick:
        overrides = {**QUICK, **overrides}
    recipe = recipe.with_overrides(overrides)
    out = run.workdir / "builds" / name
    with _progress(run.console) as on_progress:
        report = build(recipe, out, on_progress)
    run.console.print(table(report))
    run.builds[name] = out
    return out


QUICK: dict[str, object] = {
    "train.epochs": 40,
    "prune.epochs": 3,
    "qat.epochs": 1,
    "distill.epochs": 40,
    "evaluate.latency_runs": 50,
}
"""`--quick`: fewer epochs (the test suite's pace); every step still runs for real."""


def step_publish_and_serve(run: DemoRun, build_dir: Path) -> None:
    run.run_cli("repo", "init", str(run.repo))
    publish(run, build_dir, 1, 100)
    port = _free_port()
    run.server_url = f"http://127.0.0.1:{port}"
    run.processes.start(
        "server",
        litefleet(
            "serve",
            str(run.repo),
            "--port",
            str(port),
            # three devices: the share decides (a real fleet keeps --halt-min-failed 3)
            "--halt-min-devices",
            "3",
            "--halt-min-failed",
            "1",
            "--db",
            f"sqlite:///{run.workdir / 'telemetry.db'}",
        ),
    )
    up = run.wait_for("the update server", lambda: _healthy(run.server_url), timeout=60)
    run.check("publish", f"update server answers on {run.server_url}", up)
    index = httpx.get(f"{run.server_url}/metadata/timestamp.json", timeout=10)
    run.check("publish", "signed TUF metadata is served", index.status_code == 200)


def publish(run: DemoRun, build_dir: Path, version: int, percent: float, *extra: str) -> None:
    run.console.print(
        run.run_cli(
            "publish",
            *extra,
            str(run.repo),
            str(build_dir),
            "--model",
            MODEL,
            "--version",
            str(version),
            "--rollout",
            f"{percent:g}",
            "--min-accuracy",
            f"{run.min_accuracy:g}",
        )
    )
    run.mark(f"publish v{version} ({percent:g} %)")


def step_start_devices(run: DemoRun) -> None:
    root = run.repo / "metadata" / "1.root.json"
    homes = run.workdir / "devices"
    for d in run.devices:
        d.home = homes / d.name
        d.set_conditions(WIFI_CHARGING)
        args = [
            "agent",
            "init",
            "--home",
            str(d.home),
            "--server",
            run.server_url,
            "--root",
            str(root),
            "--model",
            MODEL,
            "--device-id",
            d.device_id,
            "--token",
            run.run_cli("repo", "token", str(run.repo), "--device", d.device_id).strip(),
            "--strategy",
            d.strategy,
            "--policy",
            json.dumps(d.policy),
            "--conditions",
            str(d.conditions_file),
            "--probation-seconds",
            "5",
        ]
        if d.precisions:
            args += ["--precisions", ",".join(d.precisions)]
        run.run_cli(*args)
        run.processes.start(
            f"agent-{d.name}",
            litefleet("agent", "run", "--home", str(d.home), "--json", "--tick", "0.25"),
        )
        run.console.print(f"  started [bold]{d.device_id}[/] ({d.strategy}): {d.role}")
    all_on_v1 = run.wait_for(
        "every device installs v1", lambda: all(d.active() == 1 for d in run.devices)
    )
    run.check("devices", "every device verified, gated and activated v1", all_on_v1)
    camera = run.by_name("camera")
    run.processes.start(
        "app",
        [
            *litefleet()[:2],
            "litefleet.demo.app",
            str(camera.home),
            str(run.builds["v1"] / "golden.npz"),
            str(run.workdir / "app-stats.json"),
        ],
    )
    serving = run.wait_for("the app's first predictions", lambda: app_stats(run)["requests"] > 0)
    run.check("devices", "the app calls predict on the camera through the runtime", serving)


def step_staged_rollout(run: DemoRun) -> None:
    v2 = step_build(
        run,
        "v2",
        **{
            "model.path": str(run.builds["v1"] / "baseline.keras"),
            "train.trainable": "last",
            "train.epochs": 10,
        },
    )
    phone, sensor, kiosk = run.by_name("phone"), run.by_name("sensor"), run.by_name("kiosk")
    phone.set_conditions(METERED_ON_BATTERY)
    sensor.set_conditions(LOW_BATTERY)
    run.mark("phone → metered, sensor → battery 9 %")
    publish(run, v2, 2, 50)
    wave = [d for d in run.devices if d.in_first_wave]
    done = run.wait_for("the 50 % cohort installs v2", lambda: all(d.active() == 2 for d in wave))
    run.check(
        "rollout 50 %",
        f"devices in the 50 % cohort ({', '.join(d.name for d in wave)}) run v2",
        done,
    )
    time.sleep(3)  # a few more cycles: the other half must not move
    run.check(
        "rollout 50 %",
        "devices outside the cohort stay on v1",
        kiosk.active() == 1 and sensor.active() == 1,
        f"kiosk v{kiosk.active()}, sensor v{sensor.active()}",
    )
    run.run_cli("rollout", str(run.repo), "--model", MODEL, "--version", "2", "--percent", "100")
    run.mark("rollout v2 → 100 %")
    others = [d for d in run.devices if d.name != "sensor"]
    done = run.wait_for("the rest installs v2", lambda: all(d.active() == 2 for d in others))
    run.check("rollout 100 %", "every device with good conditions runs v2", done)

    def sensor_deferrals() -> list[dict[str, Any]]:
        return [r for r in run.results(sensor) if r["action"] == "deferred" and r["version"] == 2]

    run.wait_for("the sensor's next check", lambda: bool(sensor_deferrals()))
    deferred = sensor_deferrals()
    run.check(
        "rollout 100 %",
        "the sensor defers the download while its battery is critical",
        sensor.active() == 1 and bool(deferred),
        deferred[-1]["reason"] if deferred else "no deferral seen",
    )
    sensor.set_conditions(WIFI_CHARGING)
    run.mark("sensor starts charging")
    done = run.wait_for("the sensor updates once charging", lambda: sensor.active() == 2)
    run.check("rollout 100 %", "the sensor installs v2 once it charges", done)
    for device in run.devices:
        before, after = _manifest(device, 1), _manifest(device, 2)
        variant = before.get("variant")
        if not _patch_published(run, variant, 2, 1):
            continue  # no patch to apply for this device's variant
        run.check(
            "delta",
            f"the {device.name} stayed on {variant} and got v2 as a delta patch",
            after.get("source") == "patch" and after.get("variant") == variant,
            f"source {after.get('source')}, variant {after.get('variant')}",
        )
    installs = [r for r in run.results(phone) if r["action"] == "installed" and r["version"] == 2]
    full = run.by_name("phone").status()
    run.check(
        "delta",
        "the phone moved only a small patch over its metered network",
        bool(installs) and installs[-1]["model_bytes"] <= 4096,
        f"{installs[-1]['model_bytes'] if installs else '?'} model bytes"
        f" ({installs[-1]['bytes_downloaded'] if installs else '?'} with metadata and golden"
        f" files); variant {full['variant']}",
    )


def step_bad_release(run: DemoRun) -> None:
    v3 = step_build(
        run,
        "v3-bad",
        **{
            "train.epochs": 1,
            "train.learning_rate": 1e-5,
            "prune.enabled": False,
            "qat.enabled": False,
            "distill.enabled": False,
        },
    )
    refusal = subprocess.run(
        litefleet("publish", str(run.repo), str(v3), "--model", MODEL, "--version", "3"),
        capture_output=True,
        text=True,
        timeout=300,
    )
    run.check(
        "bad release",
        "publish refuses v3: worse than v2 on v2's golden set",
        refusal.returncode == 2 and "quality regression" in refusal.stderr,
        refusal.stderr.strip()[:200],
    )
    publish(run, v3, 3, 100, "--allow-regression")  # a publisher who insists
    halted = run.wait_for(
        "the server halts v3 by itself",
        lambda: run.release_status(3).get("rollout_status") == "paused",
    )
    status = run.release_status(3)
    run.check(
        "bad release",
        "the server paused the v3 rollout automatically",
        halted,
        f"{status.get('failed', '?')} of {status.get('tried', '?')} devices failed: "
        f"{status.get('rollout_reason', '')}",
    )
    time.sleep(2)
    actives = run.sample()
    run.check(
        "bad release",
        "no device activated v3; every one still runs v2",
        all(v == 2 for v in actives.values()),
        ", ".join(f"{k} v{v}" for k, v in actives.items()),
    )
    refused = [d.name for d in run.devices if 3 in _blocked(d)]
    run.check(
        "bad release",
        "devices that tried v3 refused it at the health gate",
        len(refused) >= 3,
        "refused by " + ", ".join(refused),
    )


def step_tampered_release(run: DemoRun) -> None:
    publish(run, run.builds["v2"], 4, 0)
    targets = run.repo / "targets" / MODEL / "4"
    backup = run.workdir / "v4-backup"
    shutil.copytree(targets, backup)
    for path in targets.iterdir():
        data = bytearray(path.read_bytes())
        data[len(data) // 2] ^= 0xFF  # one flipped byte in every v4 file on the server
        path.write_bytes(bytes(data))
    run.mark("tamper with every v4 file on the server")
    run.run_cli("rollout", str(run.repo), "--model", MODEL, "--version", "4", "--percent", "100")
    run.mark("rollout v4 → 100 %")
    watchers = [run.by_name(n) for n in ("gateway", "camera", "kiosk")]

    def refused_v4(d: DemoDevice) -> bool:
        return any(
            r.get("version") == 4 and r["action"] in ("rejected", "error") for r in run.results(d)
        )

    refused = run.wait_for("devices refuse the tampered v4", lambda: all(map(refused_v4, watchers)))
    reasons = {
        r["reason"]  # whole: a reason cut mid-hash says nothing
        for d in watchers
        for r in run.results(d)
        if r.get("version") == 4 and r["action"] in ("rejected", "error")
    }
    run.check(
        "tamper",
        "devices refused the tampered v4 files (signed hashes do not match)",
        refused,
        "; ".join(sorted(reasons)),
    )
    run.check(
        "tamper",
        "every device still runs v2",
        all(v == 2 for v in run.sample().values()),
    )
    shutil.rmtree(targets)
    shutil.copytree(backup, targets)
    run.mark("v4 files restored on the server")
    done = run.wait_for(
        "every device installs v4", lambda: all(d.active() == 4 for d in run.devices)
    )
    run.check("tamper", "once the files are whole again, every device installs v4", done)


def step_finish(run: DemoRun) -> dict[str, Any]:
    run.processes.stop("app")
    stats = app_stats(run)
    run.check(
        "app",
        "the app never saw a failed request",
        stats["requests"] > 0 and stats["failures"] == 0,
        f"{stats['requests']} requests, {stats['failures']} failed, {stats['swaps']} hot swaps, "
        f"answers by version {stats['by_version']}",
    )
    run.check("app", "the app's runtime hot-swapped to every new version", stats["swaps"] >= 2)
    return stats


# ---------------------------------------------------------------------- small helpers


def app_stats(run: DemoRun) -> dict[str, Any]:
    try:
        return json.loads((run.workdir / "app-stats.json").read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return {"requests": 0, "failures": 0, "swaps": 0, "by_version": {}, "timeline": []}


def _patch_published(run: DemoRun, variant: str | None, version: int, old: int) -> bool:
    """Whether the signed index offers a patch from `old` to `version` of `variant`."""
    from litefleet.registry.repository import Repository
    from litefleet.release import index_path

    data = Repository(run.repo).read_target(index_path(MODEL))
    if data is None:
        return False
    index = json.loads(data)
    for release in index.get("releases", []):
        entry = release.get("variants", {}).get(variant) if release["version"] == version else None
        if entry and any(p.get("from_version") == old for p in entry.get("patches", [])):
            return True
    return False


def _manifest(device: DemoDevice, version: int) -> dict[str, Any]:
    path = device.home / "versions" / str(version) / "manifest.json"
    try:
        return json.loads(path.read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return {}


def _blocked(device: DemoDevice) -> set[int]:
    return {int(v) for v in device.status().get("blocked", {})}


def _healthy(url: str) -> bool:
    try:
        return httpx.get(f"{url}/healthz", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class _progress:
    """Rich progress bars for a build, as `litefleet build` shows them."""

    def __init__(self, console: Console) -> None:
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
        )

        self.progress = Progress(
            TextColumn("  {task.description:<22}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=console,
        )
        self.tasks: dict[str, Any] = {}

    def __enter__(self) -> Callable[[str, int, int], None]:
        self.progress.__enter__()

        def on_progress(stage: str, done: int, total: int) -> None:
            if stage not in self.tasks:
                self.tasks[stage] = self.progress.add_task(stage, total=total)
            self.progress.update(self.tasks[stage], completed=done, total=total)

        return on_progress

    def __exit__(self, *exc: object) -> None:
        self.progress.__exit__(*exc)
