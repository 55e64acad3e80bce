"""The demo's story, step by step, each step checking what it claims.

1. build v1 (train, compress, convert, evaluate);  2. sign it into a fresh TUF repository
(the first publish sets the model's quality floor) and start the update server;  3. start
device agents (one story each) and each device's app calling `predict` on live inputs;
4. v2, a last-layer fine-tune published with automatic stages (20 %, 50 %, 100 %): the
server promotes it stage by stage by itself once each stage's live canaries agree;
5. a bad v3 that fails the golden set: `publish` refuses it (a regression); forced
through, refused by the devices (below the floor) and paused by the server;  6. a v4 that
is exact on the golden set and wrong on live inputs (it never answers 8 or 9, which the
golden set lacks): it passes publish and every gate, the devices' live canaries roll it
back during probation and the server's judge pauses it fleet-wide;  7. a tampered v5 on
the server: refused, then installed once the files are whole again;  8. the summary.

No release is published with `--min-accuracy`: the floor set at the first publish, the
regression rule, the live canary and the judge do the work, as they would for a user.

Every wait has a deadline; a check that fails is recorded and the story goes on, so the
summary shows everything that happened. The demo exits 0 only when every check passed.
"""

from __future__ import annotations

import bisect
import json
import shutil
import socket
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from itertools import pairwise
from pathlib import Path
from typing import Any

import httpx
import numpy as np
from rich.console import Console

from litefleet.demo.fleet import (
    FINE_TUNE,
    LOW_BATTERY,
    METERED_ON_BATTERY,
    STAGES,
    WIFI_CHARGING,
    DemoDevice,
)
from litefleet.demo.processes import ProcessGroup, litefleet

MODEL = "digits"
BLIND_SPOT = (8, 9)
"""Digits the signed golden sets leave out (the lab never collected them); the devices'
live inputs hold every digit. What lets a release be exact on its golden set and wrong on
live traffic: the case the live canary and the judge exist for."""
BAKE = "5s"
"""Each automatic stage bakes this long (a real fleet: hours)."""
PROBATION_S = 8
"""Seconds a new version is on probation: long enough for each device's live canary to
judge well over its minimum of 50 live inputs, short enough for a demo."""
HALT_MIN_FAILED = 4
"""The failure-count rule pauses a release only when 4 devices failed it: the canary judge
(3 devices' live canaries) must be what pauses the bad-on-live release."""


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
    timeout: float
    quick: bool = False
    server_url: str = ""
    checks: list[Check] = field(default_factory=list)
    timeline: list[tuple[float, dict[str, int | None]]] = field(default_factory=list)
    events: list[tuple[float, str]] = field(default_factory=list)
    builds: dict[str, Path] = field(default_factory=dict)
    promotions: list[dict[str, Any]] = field(default_factory=list)
    """The server's automatic promotions (`GET /v1/promotions`), as they were seen."""
    operator_commands: list[str] = field(default_factory=list)
    """Every rollout command the demo ran as an operator (`litefleet rollout ...`)."""
    started: float = field(default_factory=time.monotonic)
    wall_started: float = field(default_factory=time.time)

    # ------------------------------------------------------------------ helpers

    @property
    def repo(self) -> Path:
        return self.workdir / "repo"

    def elapsed(self) -> float:
        return round(time.monotonic() - self.started, 1)

    def mark(self, what: str, at: float | None = None) -> None:
        """An event of the story; `at` (seconds into the demo) for one seen after the fact."""
        bisect.insort(self.events, (self.elapsed() if at is None else round(at, 1), what))

    def check(self, step: str, claim: str, ok: bool, detail: str = "") -> bool:
        self.checks.append(Check(step, claim, bool(ok), detail))
        icon = "[green]✔[/]" if ok else "[red]✘[/]"
        self.console.print(f"  {icon} {claim}" + (f" [dim]({detail})[/]" if detail else ""))
        return bool(ok)

    def run_cli(self, *args: str) -> str:
        """A litefleet command to completion; its failure is the demo's failure."""
        if args and args[0] == "rollout":
            self.operator_commands.append(" ".join(args))
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

    def _get(self, path: str) -> Any:
        from litefleet.testing.operators import operator_headers

        headers = operator_headers(self.repo, "demo", "viewer")
        return httpx.get(f"{self.server_url}{path}", timeout=10, headers=headers).json()

    def fleet(self) -> dict[str, Any]:
        return self._get("/v1/fleet")

    def release_status(self, version: int) -> dict[str, Any]:
        for r in self.fleet().get("releases", []):
            if r["model"] == MODEL and r["version"] == version:
                return r
        return {}

    def seen_promotions(self) -> list[dict[str, Any]]:
        """The server's promotions so far; each new one becomes an event of the story, at
        the time the server recorded it."""
        done = self._get("/v1/promotions")
        for step in done[len(self.promotions) :]:
            self.promotions.append(step)
            self.mark(
                f"the server promotes v{step['version']}: {step['from_percent']:g} % →"
                f" {step['to_percent']:g} % (no operator)",
                at=step["at"] - self.wall_started,
            )
        return self.promotions

    def rollout_percent(self, version: int) -> float | None:
        from litefleet.registry.rollout import read_rollout

        state = read_rollout(_repository(self.repo), MODEL)
        entry = state.rollouts.get(version) if state else None
        return entry.percent if entry else None

    def by_name(self, name: str) -> DemoDevice:
        return next(d for d in self.devices if d.name == name)


# ---------------------------------------------------------------------- steps


def step_build(run: DemoRun, name: str, **overrides: object) -> Path:
    """A real build into the work folder, progress and table on the console; its golden
    set then leaves out the `BLIND_SPOT` digits."""
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
    kept, total = _leave_out_blind_spot(out)
    run.console.print(
        f"golden set: {kept} of {total} samples, no {' or '.join(map(str, BLIND_SPOT))}"
        " (the lab's blind spot; the devices' live inputs hold every digit)"
    )
    run.builds[name] = out
    return out


QUICK: dict[str, object] = {
    "train.epochs": 40,
    "prune.epochs": 3,
    "qat.epochs": 1,
    "distill.epochs": 40,
    "evaluate.latency_runs": 50,
    "evaluate.throughput_seconds": 0.02,
}
"""`--quick`: fewer epochs (the test suite's pace); every step still runs for real."""


def step_publish_and_serve(run: DemoRun, build_dir: Path) -> None:
    from litefleet.registry.quality import read_policy

    run.run_cli("repo", "init", str(run.repo))
    publish(run, build_dir, 1, 100)
    policy = read_policy(_repository(run.repo), MODEL)
    run.check(
        "publish",
        "the first publish set the model's quality floor (no --min-accuracy anywhere)",
        policy.floor is not None and policy.floor > 0.5,
        f"floor {policy.floor}, tolerance {policy.tolerance:g}, set by {policy.set_by}",
    )
    port = _free_port()
    run.server_url = f"http://127.0.0.1:{port}"
    run.processes.start(
        "server",
        litefleet(
            "serve",
            str(run.repo),
            "--port",
            str(port),
            # five devices: the failure rule waits for 4 of them (a real fleet keeps 5/3)
            "--halt-min-devices",
            str(HALT_MIN_FAILED),
            "--halt-min-failed",
            str(HALT_MIN_FAILED),
            # a stage of two devices is enough evidence here (a real fleet keeps 5)
            "--promote-min-devices",
            "2",
            "--promote-interval",
            "1",
            "--db",
            f"sqlite:///{run.workdir / 'telemetry.db'}",
        ),
    )
    up = run.wait_for("the update server", lambda: _healthy(run.server_url), timeout=60)
    run.check("publish", f"update server answers on {run.server_url}", up)
    index = httpx.get(f"{run.server_url}/metadata/timestamp.json", timeout=10)
    run.check("publish", "signed TUF metadata is served", index.status_code == 200)


def publish(run: DemoRun, build_dir: Path, version: int, percent: float, *extra: str) -> str:
    """`litefleet publish` as a user runs it: the quality rules by default."""
    out = run.run_cli(
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
    )
    run.console.print(out)
    staged = extra[extra.index("--stages") + 1] if "--stages" in extra else ""
    run.mark(f"publish v{version} " + (f"(stages {staged} %)" if staged else f"({percent:g} %)"))
    return out


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
            str(PROBATION_S),
            # time ends probation, never a count: the live canary gets its full window
            "--probation-predictions",
            "100000000",
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
    live = write_live_inputs(run.workdir / "live.npz")
    run.processes.start(
        "app",
        [
            *litefleet()[:2],
            "litefleet.demo.app",
            str(live),
            str(run.workdir / "app-stats.json"),
            *(str(d.home) for d in run.devices),
        ],
    )

    def serving() -> bool:
        devices = app_stats(run).get("devices", {})
        return all(devices.get(d.name, {}).get("requests", 0) > 0 for d in run.devices)

    ok = run.wait_for("the apps' first predictions", serving)
    run.check(
        "devices",
        "each device's app calls predict through its runtime on live inputs (every digit)",
        ok,
    )


def write_live_inputs(path: Path) -> Path:
    """The held-out test digits (every class), shuffled: the devices' live traffic."""
    from litefleet.pipeline.data import dataset_of
    from litefleet.pipeline.recipe import Recipe

    data = dataset_of(Recipe())
    order = np.random.default_rng(0).permutation(len(data.x_test))
    np.savez(path, x=data.x_test[order].astype(np.float32), y=data.y_test[order])
    return path


def step_auto_rollout(run: DemoRun) -> None:
    v2 = step_build(
        run,
        "v2",
        **{
            "model.path": str(run.builds["v1"] / "baseline.keras"),
            "train.trainable": "last",
            "train.epochs": 10,
        },
    )
    phone, sensor = run.by_name("phone"), run.by_name("sensor")
    phone.set_conditions(METERED_ON_BATTERY)
    sensor.set_conditions(LOW_BATTERY)
    run.mark("phone → metered, sensor → battery 9 %")
    stages = ",".join(f"{p:g}" for p in STAGES)
    publish(run, v2, FINE_TUNE, STAGES[0], "--stages", stages, "--bake", BAKE)
    first, second = ([d for d in run.devices if d.stage == k] for k in (0, 1))
    names = ", ".join
    done = run.wait_for("stage 1 installs v2", lambda: all(d.active() == FINE_TUNE for d in first))
    run.check(
        "stages",
        f"v2 starts at {STAGES[0]:g} %: the devices in that stage"
        f" ({names(d.name for d in first)}) run it",
        done,
        f"rollout {run.rollout_percent(FINE_TUNE)} %",
    )
    later = [d for d in run.devices if d.stage > 0]
    run.check(
        "stages",
        "while stage 1 bakes, the devices outside it stay on v1",
        all(d.active() == 1 for d in later),
        ", ".join(f"{d.name} v{d.active()}" for d in later),
    )
    for k, (low, high) in enumerate(pairwise(STAGES), start=1):
        moved = run.wait_for(
            f"the server promotes v2 to {high:g} %",
            lambda k=k: len(run.seen_promotions()) >= k,
        )
        step = run.promotions[k - 1] if moved else {}
        run.check(
            "stages",
            f"the server promoted v2 {low:g} % → {high:g} % by itself",
            moved and (step["from_percent"], step["to_percent"]) == (low, high),
            f"by {step.get('by', '?')}: {step.get('reason', 'no promotion')}",
        )
        if k == 1:
            done = run.wait_for(
                "stage 2 installs v2", lambda: all(d.active() == FINE_TUNE for d in second)
            )
            run.check(
                "stages",
                f"stage 2 ({names(d.name for d in second)}) runs v2",
                done,
            )
    reached = run.rollout_percent(FINE_TUNE) == 100.0
    steps = [(s["from_percent"], s["to_percent"]) for s in run.promotions]
    run.check(
        "stages",
        "v2 reached 100 % with no operator command: every step the server's, signed and"
        " recorded with why",
        reached
        and steps == list(pairwise(STAGES))
        and all(s["reason"].startswith("judge:") and "pid" in s["by"] for s in run.promotions)
        and not run.operator_commands,
        f"promotions {steps}; operator rollout commands: {len(run.operator_commands)}",
    )
    others = [d for d in run.devices if d.name != "sensor"]
    done = run.wait_for(
        "the rest installs v2", lambda: all(d.active() == FINE_TUNE for d in others)
    )
    run.check("rollout 100 %", "every device with good conditions runs v2", done)

    def sensor_deferrals() -> list[dict[str, Any]]:
        return [
            r
            for r in run.results(sensor)
            if r["action"] == "deferred" and r["version"] == FINE_TUNE
        ]

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
    full = phone.status()
    run.check(
        "delta",
        "the phone moved only a small patch over its metered network",
        bool(installs) and installs[-1]["model_bytes"] <= 4096,
        f"{installs[-1]['model_bytes'] if installs else '?'} model bytes"
        f" ({installs[-1]['bytes_downloaded'] if installs else '?'} with metadata and golden"
        f" files); variant {full['variant']}",
    )
    phone.set_conditions(WIFI_CHARGING)
    run.mark("phone back on Wi-Fi")


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
        "publish refuses v3 by the quality rules (chance level, the floor, no regression)",
        refusal.returncode == 2 and "quality regression" in refusal.stderr,
        refusal.stderr.strip(),
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
    refused = {
        d.name: r["reason"]
        for d in run.devices
        for r in run.results(d)
        if r["action"] == "rejected" and r.get("version") == 3
    }
    run.check(
        "bad release",
        "devices that tried v3 refused it at the health gate: below the model's floor",
        len(refused) >= HALT_MIN_FAILED and all("required" in r for r in refused.values()),
        "; ".join(f"{k}: {v}" for k, v in sorted(refused.items())[:2]),
    )


def step_bad_on_live(run: DemoRun) -> None:
    source = _never_answers(
        run.builds["v2"] / "baseline.keras", run.workdir / "builds" / "v4-source.keras"
    )
    v4 = step_build(
        run,
        "v4-bad-live",
        **{
            "model.path": str(source),
            "model.as_is": True,
            "train.epochs": 0,
            "prune.enabled": False,
            "qat.enabled": False,
            "distill.enabled": False,
        },
    )
    run.console.print(
        "v4's own test split (with 8s and 9s) shows the damage; publish and the devices' gates"
        " judge the signed golden set, which has neither"
    )
    printed = publish(run, v4, 4, 100)  # no override: every publish rule passes it
    quality = _quality(run, 4)
    run.check(
        "bad on live",
        "publish accepts v4 (never answers 8 or 9): on the golden set, as good as v2",
        quality is not None and not quality.allowed_regression and not quality.refusals,
        (
            f"golden accuracy {min(quality.golden_accuracy.values()):.3f}-"
            f"{max(quality.golden_accuracy.values()):.3f} (v2 {quality.previous_accuracy:.3f}),"
            f" agreement with v2 {min(quality.agreement_with_previous.values()):.3f}"
            if quality
            else printed
        ),
    )

    def canary_rollbacks() -> dict[str, str]:
        return {
            d.name: r["reason"]
            for d in run.devices
            for r in run.results(d)
            if r["action"] == "rolled_back" and "live agreement" in r.get("reason", "")
        }

    def paused() -> bool:
        return run.release_status(4).get("rollout_status") == "paused"

    def took_v4() -> list[str]:
        return [
            d.name
            for d in run.devices
            if any(r["action"] == "installed" and r.get("version") == 4 for r in run.results(d))
        ]

    def judged() -> bool:  # paused, and every device that took v4 judged it on live inputs
        rolled_back = canary_rollbacks()
        return paused() and len(rolled_back) >= 3 and set(took_v4()) <= set(rolled_back)

    run.wait_for("live canaries judge v4", judged)
    installed, rollbacks = took_v4(), canary_rollbacks()
    run.check(
        "bad on live",
        "each device that installed v4 passed its gate, then its live canary rolled v4 back"
        " during probation",
        len(installed) >= 3 and set(installed) <= set(rollbacks),
        f"installed by {', '.join(installed)}; "
        + "; ".join(f"{k}: {v}" for k, v in sorted(rollbacks.items())),
    )
    status = run.release_status(4)
    reason = status.get("rollout_reason", "")
    run.check(
        "bad on live",
        "the server's canary judge paused v4 fleet-wide by itself",
        paused() and reason.startswith("judge:"),
        f"{reason}; live agreement {status.get('live_agreement')},"
        f" {status.get('canary_failed')}/{status.get('canary_devices')} canaries failed",
    )
    back = run.wait_for(
        "every device runs v2 again", lambda: all(d.active() == 2 for d in run.devices)
    )
    run.check(
        "bad on live",
        "every device runs v2 again",
        back,
        ", ".join(f"{d.name} v{d.active()}" for d in run.devices),
    )


def step_tampered_release(run: DemoRun, version: int = 5) -> None:
    publish(run, run.builds["v2"], version, 0)
    targets = run.repo / "targets" / MODEL / str(version)
    backup = run.workdir / f"v{version}-backup"
    shutil.copytree(targets, backup)
    for path in targets.iterdir():
        data = bytearray(path.read_bytes())
        data[len(data) // 2] ^= 0xFF  # one flipped byte in every file of the release
        path.write_bytes(bytes(data))
    run.mark(f"tamper with every v{version} file on the server")
    run.run_cli(
        "rollout", str(run.repo), "--model", MODEL, "--version", str(version), "--percent", "100"
    )
    run.mark(f"rollout v{version} → 100 %")
    watchers = [run.by_name(n) for n in ("gateway", "camera", "kiosk")]

    def refusals(d: DemoDevice) -> list[dict[str, Any]]:
        return [
            r
            for r in run.results(d)
            if r.get("version") == version and r["action"] in ("rejected", "error")
        ]

    refused = run.wait_for(
        f"devices refuse the tampered v{version}", lambda: all(map(refusals, watchers))
    )
    reasons = {r["reason"] for d in watchers for r in refusals(d)}  # whole: never cut mid-hash
    run.check(
        "tamper",
        f"devices refused the tampered v{version} files (signed hashes do not match)",
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
    run.mark(f"v{version} files restored on the server")
    done = run.wait_for(
        f"every device installs v{version}",
        lambda: all(d.active() == version for d in run.devices),
    )
    run.check("tamper", f"once the files are whole again, every device installs v{version}", done)


def step_finish(run: DemoRun) -> dict[str, Any]:
    run.processes.stop("app")
    stats = app_stats(run)
    devices = stats.get("devices", {})
    run.check(
        "app",
        "no app ever saw a failed request",
        stats["requests"] > 0 and stats["failures"] == 0 and len(devices) == len(run.devices),
        f"{stats['requests']} requests, {stats['failures']} failed, {stats['swaps']} hot swaps, "
        f"answers by version {stats['by_version']}",
    )
    swapped = {name: sorted(int(v) for v in s["by_version"]) for name, s in sorted(devices.items())}
    run.check(
        "app",
        "every device's runtime hot-swapped to v2 and v5 (and back from v4 where it ran)",
        bool(swapped) and all({1, 2, 5} <= set(v) for v in swapped.values()),
        "; ".join(f"{k}: answered by v{', v'.join(map(str, v))}" for k, v in swapped.items()),
    )
    return stats


# ---------------------------------------------------------------------- small helpers


def app_stats(run: DemoRun) -> dict[str, Any]:
    try:
        return json.loads((run.workdir / "app-stats.json").read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return {"requests": 0, "failures": 0, "swaps": 0, "by_version": {}, "devices": {}}


def _leave_out_blind_spot(build_dir: Path) -> tuple[int, int]:
    """Rewrite the build's `golden.npz` without the `BLIND_SPOT` digits; (kept, before)."""
    from litefleet.golden import golden_file_bytes, load_golden_file

    path = build_dir / "golden.npz"
    golden = load_golden_file(path)
    assert golden.labels is not None  # digits: labelled
    keep = ~np.isin(golden.labels, BLIND_SPOT)
    path.write_bytes(golden_file_bytes(golden.take(np.flatnonzero(keep))))
    return int(keep.sum()), len(golden)


def _never_answers(source: Path, out: Path) -> Path:
    """`source` whose logits for the `BLIND_SPOT` digits always sit 1.0 below another
    digit's: it never answers them, and answers everything else exactly as before."""
    from litefleet.pipeline.models import LOGITS_LAYER
    from litefleet.pipeline.tf import keras

    model = keras.models.load_model(source)
    layer = model.get_layer(LOGITS_LAYER)
    kernel, bias = layer.get_weights()
    other = max(c for c in range(kernel.shape[1]) if c not in BLIND_SPOT)
    for c in BLIND_SPOT:
        kernel[:, c] = kernel[:, other]
        bias[c] = bias[other] - 1.0
    layer.set_weights([kernel, bias])
    model.save(out)
    return out


def _quality(run: DemoRun, version: int):
    from litefleet.registry.publish import read_index

    index = read_index(_repository(run.repo), MODEL)
    release = index.release(version) if index else None
    return release.quality if release else None


def _repository(path: Path):
    from litefleet.registry.repository import Repository

    return Repository(path)


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
