"""Per-device traces of the world a policy sees: network, battery, charging, load, local time.

Traces are hourly and piecewise constant, drawn with numpy from `SimConfig` and the seed;
every strategy runs on the same `Traces`. They are compact, so a million devices × 30 days
fit in about 1.5 GB and can be shared by every worker process:

- `state` (devices, hours) uint8: bits 0-1 the network code (`NONE`, `METERED`,
  `UNMETERED`), bit 2 charging, bit 3 CPU busy;
- `battery` (devices, hours) uint8: the battery percent, floored (a rule `battery < 50`
  reads the same on the floor as on the exact level, for any whole-number threshold).

The fleet is drawn in chunks of `CHUNK` devices, each from its own generator seeded by
(seed, chunk), so memory stays bounded and the arrays do not depend on where they are
stored: `make_traces(cfg, r)` keeps them in memory, `make_traces(cfg, r, folder)` writes
them as `.npy` files that `open_traces(folder)` maps read-only in other processes.
`conditions_many(idx, t)` gives the `ConditionsArray` the device policy decides on.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, fields
from pathlib import Path

import numpy as np

from litefleet.device.conditions import NET_METERED, NET_NONE, NET_UNMETERED, ConditionsArray
from litefleet.release import rollout_bucket
from litefleet.sim.config import KindConfig, SimConfig

NONE, METERED, UNMETERED = NET_NONE, NET_METERED, NET_UNMETERED
NETWORKS = ("none", "metered", "unmetered")
BUSY_LOAD, IDLE_LOAD = 0.8, 0.1
NET_MASK, CHARGING_BIT, BUSY_BIT = 0b11, 0b100, 0b1000
CHUNK = 16_384
"""Devices drawn at once: bounds the temporary (devices, hours) float arrays to ~100 MB."""
RAM_BYTES = 1 << 30
"""Free RAM every simulated device reports (only `rank_variants` reads it)."""


def device_id(i: int) -> str:
    return f"sim-{i:07d}"


@dataclass
class Traces:
    """The fleet's world: arrays shaped (devices, hours), (devices,) or (devices, releases)."""

    kind: np.ndarray
    """int8 index into `kind_names`."""
    state: np.ndarray
    """(devices, hours) uint8: network code | charging << 2 | busy << 3."""
    battery: np.ndarray
    """(devices, hours) uint8 percent, floored."""
    tz: np.ndarray
    free_disk: np.ndarray
    usage: np.ndarray
    """Predictions per hour the app makes on this device."""
    latent: np.ndarray
    """(devices, releases): on a bad release, symptoms show only after probation."""
    latent_delay: np.ndarray
    """(devices, releases): seconds after probation at which latent symptoms start."""
    gate_draw: np.ndarray
    """(devices, releases): uniform draw compared with `bad.gate_catch`."""
    bucket: np.ndarray
    """(devices, releases): `litefleet.release.rollout_bucket` of each device and version
    (column r is version r + 1), computed once: the cohort of every rollout percentage."""
    dark_device: np.ndarray
    dark_hour: np.ndarray
    """The (device, hour) pairs where the device had no network at all in the 24 hours up
    to the end of that hour: it is not "online" then (rare, so stored sparse)."""
    kind_names: list[str]

    @property
    def devices(self) -> int:
        return self.state.shape[0]

    @property
    def hours(self) -> int:
        return self.state.shape[1]

    def hour_of(self, t: np.ndarray) -> np.ndarray:
        return np.minimum((t // 3600.0).astype(np.int64), self.hours - 1)

    def cells(self, idx: np.ndarray, t: np.ndarray) -> np.ndarray:
        """Flat indices of (device, hour) for devices `idx` at times `t`."""
        return idx.astype(np.int64) * self.hours + self.hour_of(t)

    def network_many(self, idx: np.ndarray, t: np.ndarray) -> np.ndarray:
        flat = self.state.reshape(-1)
        return flat[self.cells(idx, t)] & NET_MASK

    def conditions_many(self, idx: np.ndarray, t: np.ndarray) -> ConditionsArray:
        cells = self.cells(idx, t)
        s = self.state.reshape(-1)[cells]
        busy = (s & BUSY_BIT) != 0
        return ConditionsArray(
            network=(s & NET_MASK).astype(np.int8),
            battery_percent=self.battery.reshape(-1)[cells].astype(np.float64),
            charging=(s & CHARGING_BIT) != 0,
            cpu_load=np.where(busy, BUSY_LOAD, IDLE_LOAD),
            free_disk_bytes=self.free_disk[idx],
            local_hour=(t / 3600.0 + self.tz[idx]) % 24.0,
            idle=np.ones(len(idx), dtype=bool),  # as before: the sim's devices are idle
        )

    def never_unmetered(self, rows: int = 50_000) -> np.ndarray:
        """Per device: it never had an unmetered network in the whole run (cellular-only).

        Such a device can only ever download over a metered network, so its metered bytes are
        the floor any strategy that keeps it current pays (`bytes.metered_unavoidable`)."""
        out = np.empty(self.devices, dtype=bool)
        for lo in range(0, self.devices, rows):
            block = np.asarray(self.state[lo : lo + rows]) & NET_MASK
            out[lo : lo + rows] = ~(block == UNMETERED).any(axis=1)
        return out

    # the decoded (devices, hours) views, for tests and reports on small fleets
    @property
    def network(self) -> np.ndarray:
        return self.state & NET_MASK

    @property
    def charging(self) -> np.ndarray:
        return (self.state & CHARGING_BIT) != 0

    @property
    def cpu(self) -> np.ndarray:
        return np.where((self.state & BUSY_BIT) != 0, BUSY_LOAD, IDLE_LOAD)


_PER_DEVICE = {
    "kind": np.int8,
    "tz": np.float64,
    "free_disk": np.int64,
    "usage": np.float64,
}
_PER_RELEASE = {
    "latent": bool,
    "latent_delay": np.float64,
    "gate_draw": np.float64,
    "bucket": np.float64,
}


def make_traces(cfg: SimConfig, releases: int, folder: Path | None = None) -> Traces:
    """Draw the fleet. Same config and seed: same arrays, bit for bit, in memory or on disk."""
    if folder is None:
        arrays = empty_arrays(cfg, releases, None)
        dark = fill_traces(cfg, releases, arrays, 0, chunks(cfg))
        return Traces(**arrays, **dark, kind_names=list(cfg.fleet.kinds))
    allocate_traces(cfg, releases, folder)
    dark = fill_traces(cfg, releases, open_for_writing(folder), 0, chunks(cfg))
    finish_traces(cfg, folder, [dark])
    return open_traces(folder)


def chunks(cfg: SimConfig) -> int:
    return -(-cfg.devices // CHUNK)


def _shapes(cfg: SimConfig, releases: int) -> dict[str, tuple[tuple[int, ...], object]]:
    n, hours = cfg.devices, int(np.ceil(cfg.days * 24)) + 1
    r = max(releases, 1)
    return {
        "state": ((n, hours), np.uint8),
        "battery": ((n, hours), np.uint8),
        **{k: ((n,), t) for k, t in _PER_DEVICE.items()},
        **{k: ((n, r), t) for k, t in _PER_RELEASE.items()},
    }


def empty_arrays(cfg: SimConfig, releases: int, folder: Path | None) -> dict[str, np.ndarray]:
    """Every trace array, uninitialised: in memory (`folder` None) or `.npy` memmaps in
    `folder`; `fill_traces` writes them (a shard fills the slice it owns)."""
    arrays: dict[str, np.ndarray] = {}
    for name, (shape, dtype) in _shapes(cfg, releases).items():
        if folder is None:
            arrays[name] = np.empty(shape, dtype=dtype)
        else:
            arrays[name] = np.lib.format.open_memmap(
                Path(folder) / f"{name}.npy", mode="w+", dtype=dtype, shape=shape
            )
    return arrays


def allocate_traces(cfg: SimConfig, releases: int, folder: Path) -> None:
    """Create the (empty) `.npy` files; `fill_traces` writes chunks of them, in any process."""
    for a in empty_arrays(cfg, releases, folder).values():
        a.flush()  # type: ignore[attr-defined]


def open_for_writing(folder: Path) -> dict[str, np.ndarray]:
    return {
        name: np.load(Path(folder) / f"{name}.npy", mmap_mode="r+")
        for name in ("state", "battery", *_PER_DEVICE, *_PER_RELEASE)
    }


def fill_traces(
    cfg: SimConfig,
    releases: int,
    arrays: dict[str, np.ndarray],
    first: int,
    stop: int,
    offset: int = 0,
) -> dict[str, np.ndarray]:
    """Draw chunks [first, stop) into `arrays`, whose row 0 is device `offset`; returns
    their sparse dark (device - offset, hour)."""
    n, hours = cfg.devices, int(np.ceil(cfg.days * 24)) + 1
    r = max(releases, 1)
    dark_d, dark_h = [np.empty(0, dtype=np.int64)], [np.empty(0, dtype=np.int64)]
    for c in range(first, stop):
        lo, hi = c * CHUNK, min(n, (c + 1) * CHUNK)
        rng = np.random.default_rng([cfg.seed, c])
        chunk = _draw_chunk(cfg, hi - lo, hours, r, rng)
        for name, value in chunk.items():
            arrays[name][lo - offset : hi - offset] = value
        d, h = _dark(chunk["state"])
        dark_d.append(d + lo - offset)
        dark_h.append(h)
        arrays["bucket"][lo - offset : hi - offset] = _buckets(cfg.releases.model, lo, hi, r)
    for a in arrays.values():
        if isinstance(a, np.memmap):
            a.flush()
    return {
        "dark_device": np.concatenate(dark_d).astype(np.int32),
        "dark_hour": np.concatenate(dark_h).astype(np.int32),
    }


def finish_traces(cfg: SimConfig, folder: Path, darks: list[dict[str, np.ndarray]]) -> None:
    """Write what the chunks gave back (the dark pairs, in chunk order) and the kind names."""
    for name in ("dark_device", "dark_hour"):
        np.save(Path(folder) / f"{name}.npy", np.concatenate([d[name] for d in darks]))
    (Path(folder) / "kinds.json").write_text(json.dumps(list(cfg.fleet.kinds)))


def open_traces(folder: Path) -> Traces:
    """Map the traces another process wrote with `make_traces(..., folder)`, read-only."""
    folder = Path(folder)
    arrays = {
        f.name: np.load(folder / f"{f.name}.npy", mmap_mode="r")
        for f in fields(Traces)
        if f.name != "kind_names"
    }
    return Traces(**arrays, kind_names=json.loads((folder / "kinds.json").read_text()))


def _buckets(model: str, start: int, stop: int, releases: int) -> np.ndarray:
    """The real cohort hash, once per device and version."""
    return np.array(
        [
            [rollout_bucket(device_id(i), model, v) for v in range(1, releases + 1)]
            for i in range(start, stop)
        ],
        dtype=np.float64,
    ).reshape(stop - start, releases)


def _dark(state: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(device, hour) where the device had no network in any of the last 24 hours."""
    off = ((state & NET_MASK) == NONE).astype(np.int32)
    cs = np.cumsum(off, axis=1)
    window = np.empty_like(cs)
    window[:, :24] = cs[:, :24]
    window[:, 24:] = cs[:, 24:] - cs[:, :-24]
    span = np.minimum(np.arange(state.shape[1]) + 1, 24)
    return np.nonzero(window >= span[None, :])


def _draw_chunk(
    cfg: SimConfig, m: int, hours: int, r: int, rng: np.random.Generator
) -> dict[str, np.ndarray]:
    names = list(cfg.fleet.kinds)
    shares = np.array([cfg.fleet.kinds[k].share for k in names], dtype=float)
    kind = rng.choice(len(names), size=m, p=shares / shares.sum())
    tz = rng.choice(np.array(cfg.fleet.tz_offsets, dtype=float), size=m)
    network = np.empty((m, hours), dtype=np.uint8)
    battery = np.full((m, hours), 100, dtype=np.uint8)
    charging = np.ones((m, hours), dtype=bool)
    busy = np.zeros((m, hours), dtype=bool)
    free_disk = np.empty(m, dtype=np.int64)
    usage = np.empty(m, dtype=float)
    # local hour at the middle of each UTC hour, per device
    local = (np.arange(hours)[None, :] + 0.5 + tz[:, None]) % 24.0
    for k, name in enumerate(names):
        sel = np.flatnonzero(kind == k)
        if not len(sel):
            continue
        kc = cfg.fleet.kinds[name]
        s = len(sel)
        net = _network(kc, local[sel], rng)
        if kc.power == "battery":
            level, charging[sel] = _battery(kc, local[sel], rng)
            battery[sel] = np.floor(level).astype(np.uint8)
        busy[sel] = rng.random((s, hours)) < kc.cpu_busy_prob
        network[sel] = np.where(_offline(kc, s, hours, rng), NONE, net)
        free_disk[sel] = (rng.uniform(*kc.free_disk_mb, size=s) * 1e6).astype(np.int64)
        median, sigma = kc.predictions_per_hour
        usage[sel] = median * np.exp(sigma * rng.standard_normal(s))
    bad = cfg.bad
    state = network | (charging.astype(np.uint8) << 2) | (busy.astype(np.uint8) << 3)
    return {
        "state": state,
        "battery": battery,
        "kind": kind.astype(np.int8),
        "tz": tz,
        "free_disk": free_disk,
        "usage": usage,
        "latent": rng.random((m, r)) < bad.latent_share,
        "latent_delay": rng.uniform(*bad.latent_hours, size=(m, r)) * 3600.0,
        "gate_draw": rng.random((m, r)),
    }


def _in_window(hour: np.ndarray, start: np.ndarray, end: np.ndarray) -> np.ndarray:
    """Local hour in [start, end), wrapping midnight when start > end (per device)."""
    start, end = start[:, None] % 24.0, end[:, None] % 24.0
    plain = (hour >= start) & (hour < end)
    wrapped = (hour >= start) | (hour < end)
    return np.where(start <= end, plain, wrapped)


def _network(kc: KindConfig, local: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    m = local.shape[0]
    if kc.network == "unmetered":
        return np.full(local.shape, UNMETERED, dtype=np.uint8)
    if kc.network == "metered":
        return np.full(local.shape, METERED, dtype=np.uint8)
    home = _in_window(local, rng.uniform(*kc.home_start, size=m), rng.uniform(*kc.home_end, size=m))
    return np.where(home, UNMETERED, METERED).astype(np.uint8)


def _battery(
    kc: KindConfig, local: np.ndarray, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Level at the start of each hour: drains by day, charges in the nightly window."""
    m, hours = local.shape
    night = _in_window(
        local, rng.uniform(*kc.charge_start, size=m), rng.uniform(*kc.charge_end, size=m)
    )
    charging = night | (rng.random((m, hours)) < kc.day_charge_prob)
    drain = rng.uniform(*kc.drain_per_hour, size=m)
    level = rng.uniform(40.0, 100.0, size=m)
    out = np.empty((m, hours), dtype=np.float32)
    for h in range(hours):
        out[:, h] = level
        spent = np.where(night[:, h], drain * 0.25, drain)
        level = np.where(
            charging[:, h],
            np.minimum(100.0, level + kc.charge_per_hour),
            np.maximum(1.0, level - spent),
        )
    return out, charging


def _offline(kc: KindConfig, m: int, hours: int, rng: np.random.Generator) -> np.ndarray:
    """Random offline spells: Poisson count per device, exponential length in hours."""
    counts = rng.poisson(kc.offline_per_day * hours / 24.0, size=m)
    total = int(counts.sum())
    device = np.repeat(np.arange(m), counts)
    start = rng.integers(0, hours, size=total)
    length = np.ceil(rng.exponential(kc.offline_hours_mean, size=total)).astype(int)
    end = np.minimum(start + np.maximum(length, 1), hours)
    edges = np.zeros((m, hours + 1), dtype=np.int32)
    np.add.at(edges, (device, start), 1)
    np.add.at(edges, (device, end), -1)
    return np.cumsum(edges, axis=1)[:, :hours] > 0
