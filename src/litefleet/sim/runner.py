"""Run every configured strategy on the same fleet, in parallel processes, and collect figures.

    cfg = load_config(None, devices=300, days=7)
    result = simulate(cfg)
    result.runs["conditional"].summary["bytes"]["metered"]

With several workers the traces are drawn once, chunk by chunk by the workers themselves,
into `.npy` files in a temporary folder (in /dev/shm when it has room: no disk writes) that
every worker maps read-only (memory holds them once, however many processes read them);
with one worker they stay in memory.
The arrays are the same either way, so a run's result does not depend on the number of
workers. The parent samples the memory of the whole process tree (`memory.TreeMemory`).
"""

from __future__ import annotations

import itertools
import multiprocessing
import os
import platform
import shutil
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from litefleet.errors import UserError
from litefleet.sim.config import ONE_MACHINE_DEVICES, RunConfig, SimConfig
from litefleet.sim.engine import FleetRun
from litefleet.sim.memory import TreeMemory
from litefleet.sim.metrics import RunMetrics
from litefleet.sim.stragglers import summarize_stragglers
from litefleet.sim.traces import (
    Traces,
    allocate_traces,
    chunks,
    fill_traces,
    finish_traces,
    make_traces,
    open_for_writing,
    open_traces,
)


@dataclass
class RunOutput:
    summary: dict[str, Any]
    per_minute: np.ndarray
    """Check requests that reached the server in each minute."""
    times: np.ndarray
    running: np.ndarray
    """(versions, times): share of the fleet running each version."""


@dataclass
class SimResult:
    config: SimConfig
    runs: dict[str, RunOutput]
    versions: list[int]
    wall_seconds: float
    traces_seconds: float
    machine: dict[str, Any] = field(default_factory=dict)
    memory: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "config": self.config.model_dump(mode="json"),
            "machine": self.machine,
            "wall_seconds": round(self.wall_seconds, 2),
            "traces_seconds": round(self.traces_seconds, 2),
            "memory": self.memory,
            "runs": {name: out.summary for name, out in self.runs.items()},
        }


def releases_of(cfg: SimConfig) -> list[int]:
    return list(range(1, len(cfg.releases.publish_days) + 2))


def run_one(
    cfg: SimConfig,
    run: RunConfig,
    traces: Traces | None = None,
    progress: Callable[[float], None] | None = None,
) -> RunOutput:
    """One strategy, start to end (in this process)."""
    versions = releases_of(cfg)
    traces = traces if traces is not None else make_traces(cfg, len(versions))
    sim = FleetRun(cfg, traces, run, progress=progress)
    return run_output(cfg, sim, sim.run())


def run_output(cfg: SimConfig, sim: Any, m: RunMetrics) -> RunOutput:
    """The figures of a finished run: `sim` is the `FleetRun` (or the merged view of a
    sharded run, `litefleet.sim.shard`, with the same cfg/traces/waits/server/n/end)."""
    versions = releases_of(cfg)
    s = sim.server
    halts = [
        {"version": h.version, "hour": h.time / 3600.0, "tried": h.tried, "failed": h.failed}
        for h in s.halts
    ]
    stragglers = summarize_stragglers(sim)
    summary = m.summarize(
        s.published, s.aborted, cfg.releases.bad_versions, halts, stragglers["releases"]
    )
    summary["stragglers"] = stragglers["fleet"]
    times, running = m.running(versions)
    return RunOutput(summary, m.checks_per_minute(), times, running)


_PROGRESS: Any = None
"""Shared array of each run's progress (0..1), set in every worker by `_init`."""


def _init(progress: Any) -> None:
    global _PROGRESS
    _PROGRESS = progress


def _fill(cfg_json: str, folder: str, first: int, stop: int) -> dict[str, np.ndarray]:
    cfg = SimConfig.model_validate_json(cfg_json)
    return fill_traces(cfg, len(releases_of(cfg)), open_for_writing(Path(folder)), first, stop)


def _worker(cfg_json: str, name: str, folder: str) -> tuple[str, RunOutput]:
    cfg = SimConfig.model_validate_json(cfg_json)
    k, run = next((k, r) for k, r in enumerate(cfg.runs) if r.name == name)

    def progress(x: float) -> None:
        if _PROGRESS is not None:
            _PROGRESS[k] = x

    return name, run_one(cfg, run, open_traces(Path(folder)), progress)


def check_one_machine(cfg: SimConfig) -> None:
    """Refuse, before drawing anything, a fleet larger than one machine simulates."""
    if cfg.devices > ONE_MACHINE_DEVICES:
        raise UserError(
            f"{cfg.devices:,} devices is more than one machine simulates"
            f" ({ONE_MACHINE_DEVICES:,}): shard the run across a Ray cluster with"
            " --ray ADDRESS (docs/simulate.md, 'Fleets larger than one machine')"
        )


def simulate(
    cfg: SimConfig,
    workers: int | None = None,
    on_done: Callable[[str, RunOutput], None] | None = None,
    progress: Callable[[dict[str, float]], None] | None = None,
) -> SimResult:
    """Every run of `cfg` on the same traces; `workers` processes (1: in this process).

    `progress` is called about every second with each run's share done (0..1)."""
    check_one_machine(cfg)
    t0 = time.perf_counter()
    workers = workers or min(len(cfg.runs), os.cpu_count() or 1)
    names = [r.name for r in cfg.runs]
    shared = multiprocessing.get_context("fork").Array("d", len(names), lock=False)

    def tick() -> None:
        if progress:
            progress(dict(zip(names, shared, strict=True)))

    outputs: dict[str, RunOutput] = {}
    with TreeMemory(tick=tick) as memory:
        if workers <= 1:
            t = time.perf_counter()
            traces = make_traces(cfg, len(releases_of(cfg)))
            traces_seconds = time.perf_counter() - t
            for k, run in enumerate(cfg.runs):

                def mark(x: float, k: int = k) -> None:
                    shared[k] = x

                outputs[run.name] = run_one(cfg, run, traces, mark)
                shared[k] = 1.0
                if on_done:
                    on_done(run.name, outputs[run.name])
        else:
            traces_seconds = _in_pool(cfg, workers, shared, outputs, on_done)
    ordered = {r.name: outputs[r.name] for r in cfg.runs}
    return SimResult(
        config=cfg,
        runs=ordered,
        versions=releases_of(cfg),
        wall_seconds=time.perf_counter() - t0,
        traces_seconds=traces_seconds,
        machine=machine_facts(workers),
        memory=memory.figures(),
    )


def _in_pool(
    cfg: SimConfig,
    workers: int,
    shared: Any,
    outputs: dict[str, RunOutput],
    on_done: Callable[[str, RunOutput], None] | None,
) -> float:
    """Draw the traces with `workers` processes into a temporary folder, then run there."""
    cfg_json = cfg.model_dump_json()
    with (
        tempfile.TemporaryDirectory(prefix="litefleet-sim-", dir=_scratch(cfg)) as folder,
        ProcessPoolExecutor(
            max_workers=workers,
            mp_context=multiprocessing.get_context("fork"),
            initializer=_init,
            initargs=(shared,),
        ) as pool,
    ):
        t = time.perf_counter()
        allocate_traces(cfg, len(releases_of(cfg)), Path(folder))
        total = chunks(cfg)
        bounds = np.linspace(0, total, min(total, 4 * workers) + 1).astype(int)
        parts = [
            pool.submit(_fill, cfg_json, folder, int(a), int(b))
            for a, b in itertools.pairwise(bounds)
            if b > a
        ]
        finish_traces(cfg, Path(folder), [p.result() for p in parts])
        traces_seconds = time.perf_counter() - t
        index = {r.name: k for k, r in enumerate(cfg.runs)}
        futures = [pool.submit(_worker, cfg_json, r.name, folder) for r in cfg.runs]
        for fut in as_completed(futures):
            name, out = fut.result()
            outputs[name] = out
            shared[index[name]] = 1.0
            if on_done:
                on_done(name, out)
    return traces_seconds


def _scratch(cfg: SimConfig) -> str | None:
    """Where the traces go: /dev/shm (memory, no disk writes) when it has room for twice
    their size, else the system's temporary folder."""
    hours = int(cfg.days * 24) + 1
    size = cfg.devices * (2 * hours + 32 + 25 * len(releases_of(cfg)))
    shm = Path("/dev/shm")
    try:
        if shm.is_dir() and shutil.disk_usage(shm).free > 2 * size:
            return str(shm)
    except OSError:
        pass
    return None


def machine_facts(workers: int) -> dict[str, Any]:
    """The machine a run measured on (CPU, cores, workers): every result records it."""
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(
                (ln.split(":", 1)[1].strip() for ln in f if ln.startswith("model name")), cpu
            )
    except OSError:
        pass
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "workers": workers,
        "python": platform.python_version(),
    }
