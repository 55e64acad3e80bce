"""One simulated run over a fleet too large for one machine: its devices sharded across Ray actors.

Each actor (`Shard`) owns a contiguous slice of devices [lo, hi), draws exactly the traces a
single-machine run draws for them (chunks are seeded by (seed, chunk), `slice_traces`), and
drives the engine's `FleetRun` over the slice with a `ReplicaServer`: a copy of the update
server that follows the same schedule (publish, rollout stages, aborts) but decides nothing.
The driver steps every shard in lockstep, one engine step at a time; the shards return the
telemetry their devices sent in that step, and the driver feeds it, in time order, to the one
real `SimServer` (the registry's `HaltRule`). A pause it decides is sent to every shard
before the next step, so a halt takes effect at most one step (`step_minutes`) later than in
a single process, where it takes effect after the round that crossed the threshold.
Everything a device decides stays in its shard: the array-native policy, `choose_release`
per group of equal inputs, the download plan.

At the end the shards' counts are merged (`merge_metrics`: counts add, transitions and checks
per minute concatenate) and the straggler figures are computed on the driver from the shards'
wait tallies, so the result has the same layout as `runner.simulate`'s.

Ray is optional (`pip install 'litefleet[cluster]'`): it is imported only here, when asked.

    result = simulate_sharded(cfg, address="auto", shards=4)
"""

from __future__ import annotations

import dataclasses
import itertools
import resource
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from litefleet.errors import UserError
from litefleet.sim.config import RunConfig, SimConfig
from litefleet.sim.engine import FleetRun
from litefleet.sim.memory import TreeMemory
from litefleet.sim.metrics import RunMetrics, Transitions
from litefleet.sim.runner import RunOutput, SimResult, machine_facts, releases_of, run_output
from litefleet.sim.server import DAY, HOUR, Halt, SimServer
from litefleet.sim.stragglers import WaitLog
from litefleet.sim.traces import (
    CHUNK,
    METERED,
    NET_MASK,
    NONE,
    UNMETERED,
    Traces,
    empty_arrays,
    fill_traces,
)

Report = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]
"""(global device ids, versions, failed, times) of the telemetry of one step."""


# ---------------------------------------------------------------------- the slices


def shard_bounds(devices: int, shards: int) -> list[tuple[int, int]]:
    """[lo, hi) per shard: whole trace chunks when there are enough of them (each chunk is
    then drawn by one shard only), else an even split (a shard draws the chunks it touches
    and keeps its rows)."""
    shards = max(1, min(shards, devices))
    total = -(-devices // CHUNK)
    if total >= shards:
        cuts = np.linspace(0, total, shards + 1).astype(int) * CHUNK
    else:
        cuts = np.linspace(0, devices, shards + 1).astype(int)
    cuts = np.minimum(cuts, devices)
    return [(int(a), int(b)) for a, b in itertools.pairwise(cuts) if b > a]


def slice_traces(cfg: SimConfig, releases: int, lo: int, hi: int) -> Traces:
    """Rows [lo, hi) of `make_traces(cfg, releases)`, bit for bit, drawing only the chunks
    they fall in."""
    arrays = empty_arrays(cfg.model_copy(update={"devices": hi - lo}), releases, None)
    dark_d, dark_h = [np.empty(0, dtype=np.int32)], [np.empty(0, dtype=np.int32)]
    for c in range(lo // CHUNK, -(-hi // CHUNK)):
        c_lo, c_hi = c * CHUNK, min(cfg.devices, (c + 1) * CHUNK)
        if lo <= c_lo and c_hi <= hi:  # the whole chunk is ours: draw it in place
            dark = fill_traces(cfg, releases, arrays, c, c + 1, offset=lo)
            dark_d.append(dark["dark_device"])
            dark_h.append(dark["dark_hour"])
            continue
        part = empty_arrays(cfg.model_copy(update={"devices": c_hi - c_lo}), releases, None)
        dark = fill_traces(cfg, releases, part, c, c + 1, offset=c_lo)
        a, b = max(lo, c_lo), min(hi, c_hi)
        for name, value in part.items():
            arrays[name][a - lo : b - lo] = value[a - c_lo : b - c_lo]
        mine = (dark["dark_device"] >= a - c_lo) & (dark["dark_device"] < b - c_lo)
        dark_d.append(dark["dark_device"][mine] + c_lo - lo)
        dark_h.append(dark["dark_hour"][mine])
    return Traces(
        **arrays,
        dark_device=np.concatenate(dark_d).astype(np.int32),
        dark_hour=np.concatenate(dark_h).astype(np.int32),
        kind_names=list(cfg.fleet.kinds),
    )


# ---------------------------------------------------------------------- one shard


class ReplicaServer(SimServer):
    """The server as a shard sees it: the same schedule, but telemetry is kept for the
    driver instead of counted, and pauses come from the driver (`apply_halt`)."""

    def __init__(self, cfg: SimConfig, offset: int) -> None:
        super().__init__(cfg)
        self.offset = offset
        self._outbox: list[Report] = []

    def report_many(
        self, devices: np.ndarray, versions: np.ndarray, failed: np.ndarray, times: np.ndarray
    ) -> None:
        self._outbox.append((devices + self.offset, versions, failed, times))

    def take_reports(self) -> Report:
        if not self._outbox:
            empty = np.empty(0)
            return empty.astype(np.int64), empty.astype(np.int16), empty.astype(bool), empty
        out = tuple(np.concatenate(x) for x in zip(*self._outbox, strict=True))
        self._outbox.clear()
        return out  # type: ignore[return-value]

    def apply_halt(self, halt: Halt) -> None:
        """What `SimServer` does when its `HaltRule` fires: pause, then schedule the abort."""
        self._set(halt.version, status="paused", reason=halt.reason)
        self.halts.append(halt)
        after = self.cfg.server.abort_after_hours
        if after is not None:
            self._push(halt.time + after * HOUR, "abort", halt.version, 0.0)


class Shard:
    """Devices [lo, hi) of the fleet, in one process (a Ray actor in `simulate_sharded`)."""

    def __init__(self, cfg_json: str, lo: int, hi: int) -> None:
        t0 = time.perf_counter()
        self.cfg = SimConfig.model_validate_json(cfg_json)
        self.lo, self.hi = lo, hi
        self.traces = slice_traces(self.cfg, len(releases_of(self.cfg)), lo, hi)
        self.traces_seconds = time.perf_counter() - t0
        self.fleet: FleetRun | None = None

    def fleet_facts(self) -> dict[str, Any]:
        """What the straggler report reads of the traces, for these devices."""
        tr = self.traces
        net = tr.state & NET_MASK
        ever_unmetered = (net == UNMETERED).any(axis=1)
        never_online = (net == NONE).all(axis=1)
        return {
            "kind": np.asarray(tr.kind),
            "network_summary": np.where(
                ever_unmetered, UNMETERED, np.where(never_online, NONE, METERED)
            )
            .astype(np.uint8)
            .reshape(-1, 1),
            "dark_device": tr.dark_device.astype(np.int64) + self.lo,
            "dark_hour": tr.dark_hour,
            "hours": tr.hours,
            "traces_seconds": self.traces_seconds,
        }

    def begin(self, run_json: str) -> None:
        run = RunConfig.model_validate_json(run_json)
        self.server = ReplicaServer(self.cfg, self.lo)
        self.fleet = FleetRun(self.cfg, self.traces, run, server=self.server, offset=self.lo)
        self.fleet.begin()

    def step(self, stop: float, last: bool, halts: list[Halt], advance_at: float | None) -> Report:
        """Pauses the driver decided, the server's schedule up to `advance_at`, then every
        device that wakes before `stop`; returns the telemetry they sent."""
        fleet = self.fleet
        assert fleet is not None
        for halt in halts:
            self.server.apply_halt(halt)
        if advance_at is not None and self.server.advance(advance_at):
            fleet.server_changed(advance_at)
        fleet.step_until(stop, last)
        return self.server.take_reports()

    def finish(self) -> tuple[RunMetrics, np.ndarray, np.ndarray]:
        """The shard's metrics and wait tallies (counts, reach) at the end of the run."""
        fleet = self.fleet
        assert fleet is not None
        metrics = fleet.finish()
        self.fleet = None
        return metrics, fleet.waits.counts, fleet.waits.reach

    def memory(self) -> tuple[int, int | None]:
        """(peak, current) resident memory of this process, bytes. The peak is usually set
        while the traces are drawn (a chunk's temporary arrays); the current figure, after
        a run, is what the shard holds for its devices."""
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
        try:
            import psutil
        except ImportError:
            return peak, None
        return peak, int(psutil.Process().memory_info().rss)


# ---------------------------------------------------------------------- merging


def merge_metrics(parts: list[RunMetrics], devices: int) -> RunMetrics:
    """One `RunMetrics` for the whole fleet: every count adds, transitions concatenate."""
    first = parts[0]
    out = RunMetrics(first.name, first.strategy, devices, first.seconds)
    for f in dataclasses.fields(RunMetrics):
        if f.name in ("name", "strategy", "devices", "seconds", "wall_seconds"):
            continue
        values = [getattr(p, f.name) for p in parts]
        sample = values[0]
        if isinstance(sample, Transitions):
            merged = Transitions()
            for v in values:
                merged.add(*v.arrays())
        elif isinstance(sample, np.ndarray):
            merged = np.sum(values, axis=0).astype(sample.dtype)
        elif isinstance(sample, Counter):
            merged = sum(values, Counter())
        elif isinstance(sample, dict):
            merged = {}
            for v in values:
                for key, x in v.items():
                    merged[key] = merged.get(key, 0) + x
        elif isinstance(sample, int | float):
            merged = sum(values)
        else:
            raise TypeError(f"merge_metrics cannot merge RunMetrics.{f.name}")
        setattr(out, f.name, merged)
    return out


@dataclass
class FleetFacts:
    """The parts of `Traces` the straggler report reads, for the whole fleet: device kinds,
    the hours offline, and `state` reduced to one column per device that answers its two
    questions the same way (any unmetered hour? any online hour?)."""

    kind: np.ndarray
    kind_names: list[str]
    state: np.ndarray
    dark_device: np.ndarray
    dark_hour: np.ndarray
    hours: int


@dataclass
class MergedRun:
    """A sharded run seen as one `FleetRun` by `runner.run_output` and the straggler report."""

    cfg: SimConfig
    traces: FleetFacts
    waits: WaitLog
    server: SimServer
    n: int
    end: float


def merge_facts(cfg: SimConfig, facts: list[dict[str, Any]]) -> FleetFacts:
    return FleetFacts(
        kind=np.concatenate([f["kind"] for f in facts]),
        kind_names=list(cfg.fleet.kinds),
        state=np.concatenate([f["network_summary"] for f in facts]),
        dark_device=np.concatenate([f["dark_device"] for f in facts]).astype(np.int32),
        dark_hour=np.concatenate([f["dark_hour"] for f in facts]).astype(np.int32),
        hours=int(facts[0]["hours"]),
    )


# ---------------------------------------------------------------------- the driver


def import_ray() -> Any:
    try:
        import ray
    except ImportError:
        raise UserError(
            "--ray needs Ray: pip install 'litefleet[cluster]' (on every node of the cluster)"
        ) from None
    return ray


def check_ray_options(workers: int | None, shards: int | None) -> None:
    """The CLI's checks of `--ray`, before anything is drawn."""
    if workers is not None:
        raise UserError("--workers and --ray exclude each other (with --ray, use --shards)")
    if shards is not None and shards < 1:
        raise UserError(f"--shards must be at least 1, not {shards}")
    import_ray()


def shard_lines(result: SimResult) -> list[str]:
    """What the CLI says of a sharded run's shards (nothing for a single-machine run)."""
    rss = result.memory.get("shard_peak_rss_bytes")
    info = result.machine.get("ray")
    if not rss or not info:
        return []
    sizes = [hi - lo for lo, hi in info["shards"]]
    return [
        f"  {len(rss)} shards on Ray {info['version']} ({info['nodes']} node(s)), "
        f"{min(sizes):,}-{max(sizes):,} devices each: peak memory per shard "
        f"{min(rss) / 1e9:.2f}-{max(rss) / 1e9:.2f} GB RSS, driver "
        f"{result.memory['driver_peak_rss_bytes'] / 1e9:.2f} GB"
    ]


def connect(ray: Any, address: str) -> bool:
    """Attach to the cluster at `address` ("auto": the one started on this machine with
    `ray start`, or else a new local one). True when this call started Ray."""
    if ray.is_initialized():
        return False
    try:
        ray.init(
            address=None if address == "auto" else address,
            include_dashboard=False,
            logging_level="WARNING",
        )
    except (ConnectionError, RuntimeError, ValueError) as exc:
        raise UserError(f"cannot connect to the Ray cluster at {address}: {exc}") from None
    return True


def run_sharded(
    cfg: SimConfig,
    run: RunConfig,
    actors: list[Any],
    facts: FleetFacts,
    ray: Any,
    progress: Callable[[float], None] | None = None,
) -> RunOutput:
    """One strategy over every shard, in lockstep, with one real server on the driver."""
    t0 = time.perf_counter()
    server = SimServer(cfg)
    ray.get([a.begin.remote(run.model_dump_json()) for a in actors])
    end, step = cfg.days * DAY, cfg.step_minutes * 60.0
    now, sent, advance_at, shown = 0.0, 0, None, -1.0
    while now <= end:  # the loop of `FleetRun.run`, with the step spread over the shards
        if server.next_time() <= now:
            if server.advance(now):
                advance_at = now
            continue
        stop = min(now + step, server.next_time())
        last = stop > end
        stop = min(stop, end)
        halts, sent = server.halts[sent:], len(server.halts)
        reports = ray.get([a.step.remote(stop, last, halts, advance_at) for a in actors])
        advance_at = None
        d, v, f, t = (np.concatenate(x) for x in zip(*reports, strict=True))
        if len(d):
            server.report_many(d, v, f, t)
        if last:
            break
        now = stop
        if progress and now - shown >= end / 100:
            shown = now
            progress(now / end)
    parts = ray.get([a.finish.remote() for a in actors])
    m = merge_metrics([p[0] for p in parts], cfg.devices)
    versions = len(releases_of(cfg))
    waits = WaitLog(cfg.devices, versions)
    waits.counts[:] = np.concatenate([p[1] for p in parts])
    waits.reach[:] = np.concatenate([p[2] for p in parts])
    del parts
    m.wall_seconds = time.perf_counter() - t0
    view = MergedRun(cfg, facts, waits, server, cfg.devices, end)
    return run_output(cfg, view, m)


def simulate_sharded(
    cfg: SimConfig,
    address: str = "auto",
    shards: int | None = None,
    on_done: Callable[[str, RunOutput], None] | None = None,
    progress: Callable[[dict[str, float]], None] | None = None,
) -> SimResult:
    """Every run of `cfg`, one after the other, each over `shards` Ray actors (default:
    one per CPU of the cluster)."""
    ray = import_ray()
    t0 = time.perf_counter()
    started = connect(ray, address)
    try:
        if shards is None:
            shards = max(1, int(ray.cluster_resources().get("CPU", 1)))
        bounds = shard_bounds(cfg.devices, shards)
        remote = ray.remote(Shard).options(scheduling_strategy="SPREAD")
        cfg_json = cfg.model_dump_json()
        names = [r.name for r in cfg.runs]
        done = dict.fromkeys(names, 0.0)
        outputs: dict[str, RunOutput] = {}
        with TreeMemory() as memory:
            actors = [remote.remote(cfg_json, lo, hi) for lo, hi in bounds]
            t = time.perf_counter()
            shard_facts = ray.get([a.fleet_facts.remote() for a in actors])
            traces_seconds = time.perf_counter() - t
            facts = merge_facts(cfg, shard_facts)
            for run in cfg.runs:

                def mark(x: float, name: str = run.name) -> None:
                    done[name] = x
                    if progress:
                        progress(dict(done))

                outputs[run.name] = run_sharded(cfg, run, actors, facts, ray, mark)
                mark(1.0)
                if on_done:
                    on_done(run.name, outputs[run.name])
            shard_memory = ray.get([a.memory.remote() for a in actors])
            for a in actors:
                ray.kill(a)
        figures = memory.figures()
        figures["driver_peak_rss_bytes"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
        figures["shard_peak_rss_bytes"] = [m[0] for m in shard_memory]
        figures["shard_rss_at_end_bytes"] = [m[1] for m in shard_memory]
        machine = machine_facts(len(bounds))
        machine["ray"] = {
            "version": ray.__version__,
            "nodes": len([n for n in ray.nodes() if n.get("Alive")]),
            "cpus": ray.cluster_resources().get("CPU"),
            "shards": [list(b) for b in bounds],
        }
    except (ray.exceptions.RayActorError, ray.exceptions.OutOfMemoryError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        raise UserError(
            f"a shard was lost ({type(exc).__name__}: {first}); if it ran out of memory, "
            "use more --shards or nodes with more memory"
        ) from None
    finally:
        if started:
            ray.shutdown()
    return SimResult(
        config=cfg,
        runs=outputs,
        versions=releases_of(cfg),
        wall_seconds=time.perf_counter() - t0,
        traces_seconds=traces_seconds,
        machine=machine,
        memory=figures,
    )


__all__ = [
    "FleetFacts",
    "MergedRun",
    "ReplicaServer",
    "Shard",
    "check_ray_options",
    "merge_metrics",
    "shard_bounds",
    "shard_lines",
    "simulate_sharded",
    "slice_traces",
]
