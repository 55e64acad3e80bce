"""Per-device traces of the world a policy sees: network, battery, charging, load, local time.

Traces are hourly and piecewise constant, drawn with numpy for the whole fleet at once from
`SimConfig` and the seed; every strategy runs on the same `Traces`. The engine reads one cell
per decision (`conditions(i, t)`), so a device's policy sees exactly what a device would
report through `litefleet.device.conditions.Conditions`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from litefleet.device.conditions import Conditions
from litefleet.sim.config import KindConfig, SimConfig

NONE, METERED, UNMETERED = 0, 1, 2
NETWORKS = ("none", "metered", "unmetered")
BUSY_LOAD, IDLE_LOAD = 0.8, 0.1


@dataclass
class Traces:
    """The fleet's world: arrays shaped (devices, hours) or (devices,) or (devices, releases)."""

    kind: np.ndarray
    kind_names: list[str]
    network: np.ndarray
    battery: np.ndarray
    charging: np.ndarray
    cpu: np.ndarray
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

    @property
    def hours(self) -> int:
        return self.network.shape[1]

    def hour(self, t: float) -> int:
        return min(int(t // 3600.0), self.hours - 1)

    def online(self, i: int, t: float) -> bool:
        return self.network[i, self.hour(t)] != NONE

    def conditions(self, i: int, t: float) -> Conditions:
        h = min(int(t // 3600.0), self.network.shape[1] - 1)
        return Conditions(
            network=NETWORKS[self.network.item(i, h)],  # type: ignore[arg-type]
            battery_percent=self.battery.item(i, h),
            charging=self.charging.item(i, h),
            cpu_load=self.cpu.item(i, h),
            free_disk_bytes=self.free_disk.item(i),
            free_ram_bytes=1 << 30,
            local_hour=(t / 3600.0 + self.tz.item(i)) % 24.0,
        )


def make_traces(cfg: SimConfig, releases: int) -> Traces:
    """Draw the fleet. Same config and seed: same arrays, bit for bit."""
    rng = np.random.default_rng(cfg.seed)
    n, hours = cfg.devices, int(np.ceil(cfg.days * 24)) + 1
    names = list(cfg.fleet.kinds)
    shares = np.array([cfg.fleet.kinds[k].share for k in names], dtype=float)
    kind = rng.choice(len(names), size=n, p=shares / shares.sum())
    tz = rng.choice(np.array(cfg.fleet.tz_offsets, dtype=float), size=n)
    network = np.empty((n, hours), dtype=np.int8)
    battery = np.full((n, hours), 100.0, dtype=np.float32)
    charging = np.ones((n, hours), dtype=bool)
    cpu = np.empty((n, hours), dtype=np.float32)
    free_disk = np.empty(n, dtype=np.int64)
    usage = np.empty(n, dtype=float)
    # local hour at the middle of each UTC hour, per device
    local = (np.arange(hours)[None, :] + 0.5 + tz[:, None]) % 24.0
    for k, name in enumerate(names):
        sel = np.flatnonzero(kind == k)
        if not len(sel):
            continue
        kc = cfg.fleet.kinds[name]
        m = len(sel)
        network[sel] = _network(kc, local[sel], rng)
        if kc.power == "battery":
            battery[sel], charging[sel] = _battery(kc, local[sel], rng)
        busy = rng.random((m, hours)) < kc.cpu_busy_prob
        cpu[sel] = np.where(busy, BUSY_LOAD, IDLE_LOAD)
        network[sel] = np.where(_offline(kc, m, hours, rng), NONE, network[sel])
        free_disk[sel] = (rng.uniform(*kc.free_disk_mb, size=m) * 1e6).astype(np.int64)
        median, sigma = kc.predictions_per_hour
        usage[sel] = median * np.exp(sigma * rng.standard_normal(m))
    r = max(releases, 1)
    bad = cfg.bad
    return Traces(
        kind=kind,
        kind_names=names,
        network=network,
        battery=battery,
        charging=charging,
        cpu=cpu,
        tz=tz,
        free_disk=free_disk,
        usage=usage,
        latent=rng.random((n, r)) < bad.latent_share,
        latent_delay=rng.uniform(*bad.latent_hours, size=(n, r)) * 3600.0,
        gate_draw=rng.random((n, r)),
    )


def _in_window(hour: np.ndarray, start: np.ndarray, end: np.ndarray) -> np.ndarray:
    """Local hour in [start, end), wrapping midnight when start > end (per device)."""
    start, end = start[:, None] % 24.0, end[:, None] % 24.0
    plain = (hour >= start) & (hour < end)
    wrapped = (hour >= start) | (hour < end)
    return np.where(start <= end, plain, wrapped)


def _network(kc: KindConfig, local: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    m = local.shape[0]
    if kc.network == "unmetered":
        return np.full(local.shape, UNMETERED, dtype=np.int8)
    if kc.network == "metered":
        return np.full(local.shape, METERED, dtype=np.int8)
    home = _in_window(local, rng.uniform(*kc.home_start, size=m), rng.uniform(*kc.home_end, size=m))
    return np.where(home, UNMETERED, METERED).astype(np.int8)


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
