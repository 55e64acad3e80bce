"""Run every configured strategy on the same fleet, in parallel processes, and collect figures.

    cfg = load_config(None, devices=300, days=7)
    result = simulate(cfg)
    result.runs["conditional"].summary["bytes"]["metered"]

Each worker draws the traces itself from the seed (the same arrays in every process), so
nothing large crosses a process boundary; a run's result does not depend on the number of
workers.
"""

from __future__ import annotations

import os
import platform
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from litefleet.sim.config import RunConfig, SimConfig
from litefleet.sim.engine import FleetRun
from litefleet.sim.traces import Traces, make_traces


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

    def to_json(self) -> dict[str, Any]:
        return {
            "config": self.config.model_dump(mode="json"),
            "machine": self.machine,
            "wall_seconds": round(self.wall_seconds, 2),
            "traces_seconds": round(self.traces_seconds, 2),
            "runs": {name: out.summary for name, out in self.runs.items()},
        }


def releases_of(cfg: SimConfig) -> list[int]:
    return list(range(1, len(cfg.releases.publish_days) + 2))


def run_one(cfg: SimConfig, run: RunConfig, traces: Traces | None = None) -> RunOutput:
    """One strategy, start to end (in this process)."""
    versions = releases_of(cfg)
    traces = traces if traces is not None else make_traces(cfg, len(versions))
    sim = FleetRun(cfg, traces, run)
    m = sim.run()
    s = sim.server
    halts = [
        {"version": h.version, "hour": h.time / 3600.0, "tried": h.tried, "failed": h.failed}
        for h in s.halts
    ]
    summary = m.summarize(s.published, s.aborted, cfg.releases.bad_versions, halts)
    times, running = m.running(versions)
    return RunOutput(summary, m.checks_per_minute(), times, running)


def _worker(cfg_json: str, name: str) -> tuple[str, RunOutput]:
    cfg = SimConfig.model_validate_json(cfg_json)
    run = next(r for r in cfg.runs if r.name == name)
    return name, run_one(cfg, run)


def simulate(
    cfg: SimConfig,
    workers: int | None = None,
    on_done: Callable[[str, RunOutput], None] | None = None,
) -> SimResult:
    """Every run of `cfg` on the same traces; `workers` processes (1: in this process)."""
    t0 = time.perf_counter()
    workers = workers or min(len(cfg.runs), os.cpu_count() or 1)
    outputs: dict[str, RunOutput] = {}
    traces_seconds = 0.0
    if workers <= 1:
        t = time.perf_counter()
        traces = make_traces(cfg, len(releases_of(cfg)))
        traces_seconds = time.perf_counter() - t
        for run in cfg.runs:
            outputs[run.name] = run_one(cfg, run, traces)
            if on_done:
                on_done(run.name, outputs[run.name])
    else:
        cfg_json = cfg.model_dump_json()
        with ProcessPoolExecutor(max_workers=workers) as pool:
            futures = [pool.submit(_worker, cfg_json, r.name) for r in cfg.runs]
            for fut in as_completed(futures):
                name, out = fut.result()
                outputs[name] = out
                if on_done:
                    on_done(name, out)
    ordered = {r.name: outputs[r.name] for r in cfg.runs}
    return SimResult(
        config=cfg,
        runs=ordered,
        versions=releases_of(cfg),
        wall_seconds=time.perf_counter() - t0,
        traces_seconds=traces_seconds,
        machine=_machine(workers),
    )


def _machine(workers: int) -> dict[str, Any]:
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
