"""What one simulated strategy did, and the figures the report shows.

The engine only counts, into arrays sized by the run and not by its events: bytes and
downloads by network and kind, checks per minute, and every activation or rollback as
(time, from, to) in numpy chunks. `summarize` turns the counts into the figures: bytes by
network, staleness, time for a release to reach 50 % / 95 % of the fleet and of its online
devices, server load per minute, downloads on low battery, device-hours on a bad release.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from litefleet.sim.traces import NETWORKS

HOUR = 3600.0
KINDS = ("full", "patch")


class Transitions:
    """Every (time, from version, to version) of the run, appended in numpy chunks."""

    def __init__(self) -> None:
        self._t: list[np.ndarray] = []
        self._old: list[np.ndarray] = []
        self._new: list[np.ndarray] = []

    def add(self, t: np.ndarray, old: np.ndarray, new: np.ndarray) -> None:
        if len(t):
            self._t.append(np.asarray(t, dtype=np.float64))
            self._old.append(np.asarray(old, dtype=np.int16))
            self._new.append(np.asarray(new, dtype=np.int16))

    def arrays(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(times, old, new), in time order."""
        if not self._t:
            empty = np.empty(0)
            return empty, empty.astype(np.int16), empty.astype(np.int16)
        t, old, new = (np.concatenate(x) for x in (self._t, self._old, self._new))
        order = np.argsort(t, kind="stable")
        self._t, self._old, self._new = [t[order]], [old[order]], [new[order]]
        return t[order], old[order], new[order]

    def __len__(self) -> int:
        return sum(len(t) for t in self._t)


@dataclass
class RunMetrics:
    name: str
    strategy: str
    devices: int
    seconds: float
    per_minute: np.ndarray = field(init=False)
    """Check requests that reached the server in each minute."""
    offline_checks: int = 0
    deferred: int = 0
    defer_reasons: Counter[str] = field(default_factory=Counter)
    installs: int = 0
    local_installs: int = 0
    probation_rollbacks: int = 0
    abort_rollbacks: int = 0
    rejected: int = 0
    byte_counts: np.ndarray = field(init=False)
    """(network code, 0 full / 1 patch): bytes downloaded."""
    download_counts: np.ndarray = field(init=False)
    low_battery_downloads: int = 0
    metered_unavoidable: int = 0
    """Metered bytes of devices that never had an unmetered network (no strategy avoids them)."""
    stale_seconds: float = 0.0
    bad_seconds: float = 0.0
    after_abort_seconds: float = 0.0
    """Part of `bad_seconds` after the release was aborted: the strategy's reaction time."""
    on_bad_at_abort: dict[int, int] = field(default_factory=dict)
    transitions: Transitions = field(default_factory=Transitions)
    events: int = 0
    wall_seconds: float = 0.0

    def __post_init__(self) -> None:
        self.per_minute = np.zeros(max(1, int(np.ceil(self.seconds / 60.0))), dtype=np.int64)
        self.byte_counts = np.zeros((len(NETWORKS), len(KINDS)), dtype=np.int64)
        self.download_counts = np.zeros((len(NETWORKS), len(KINDS)), dtype=np.int64)

    @property
    def bytes(self) -> Counter[str]:
        """Keys `<network>/<full|patch>` (the layout of `simulate.json`)."""
        return _keyed(self.byte_counts)

    @property
    def downloads(self) -> Counter[str]:
        return _keyed(self.download_counts)

    def count_checks(self, t: np.ndarray) -> None:
        if not len(t):
            return
        minute = np.minimum((t // 60.0).astype(np.int64), len(self.per_minute) - 1)
        lo = int(minute.min())
        counts = np.bincount(minute - lo)
        self.per_minute[lo : lo + len(counts)] += counts

    def download(
        self,
        network: np.ndarray,
        patch: np.ndarray,
        size: np.ndarray,
        low: np.ndarray,
        never_unmetered: np.ndarray | None = None,
    ) -> None:
        if never_unmetered is not None:
            stuck = never_unmetered & (network == NETWORKS.index("metered"))
            self.metered_unavoidable += int(size[stuck].sum())
        key = network.astype(np.int64) * len(KINDS) + patch.astype(np.int64)
        cells = self.byte_counts.size
        self.byte_counts += (
            np.bincount(key, weights=size, minlength=cells)
            .astype(np.int64)
            .reshape(self.byte_counts.shape)
        )
        self.download_counts += np.bincount(key, minlength=cells).reshape(
            self.download_counts.shape
        )
        self.low_battery_downloads += int(np.count_nonzero(low))

    @property
    def checks(self) -> int:
        return int(self.per_minute.sum())

    def summarize(
        self,
        published: dict[int, float],
        aborted: dict[int, float],
        bad: list[int],
        halts: list[dict[str, Any]],
        online: dict[str, dict[str, Any]] | None = None,
    ) -> dict[str, Any]:
        b = self.byte_counts
        total = int(b.sum())
        metered = int(b[NETWORKS.index("metered")].sum())
        per_min = self.per_minute
        checks = self.checks
        on_abort = sum(self.on_bad_at_abort.values())
        releases = self.adoption(published, aborted, bad)
        for v, figures in (online or {}).items():
            releases[v].update(figures)
        return {
            "name": self.name,
            "strategy": self.strategy,
            "bytes": {
                "total": total,
                "metered": metered,
                "unmetered": total - metered,
                "metered_unavoidable": self.metered_unavoidable,
                "metered_avoidable": metered - self.metered_unavoidable,
                "full": int(b[:, 0].sum()),
                "patch": int(b[:, 1].sum()),
                "by_kind": dict(sorted((k, v) for k, v in self.bytes.items() if v)),
            },
            "downloads": {
                "full": int(self.download_counts[:, 0].sum()),
                "patch": int(self.download_counts[:, 1].sum()),
                "low_battery": self.low_battery_downloads,
            },
            "staleness": {
                "device_hours": self.stale_seconds / HOUR,
                "share": self.stale_seconds / (self.devices * self.seconds),
                "releases": releases,
            },
            "load": {
                "checks": checks,
                "offline_checks": self.offline_checks,
                "mean_rps": checks / self.seconds,
                "peak_minute_requests": int(per_min.max()),
                "peak_rps": float(per_min.max()) / 60.0,
                "p99_minute_requests": float(np.percentile(per_min, 99)),
            },
            "bad_release": {
                "device_hours": self.bad_seconds / HOUR,
                "after_abort_device_hours": self.after_abort_seconds / HOUR,
                "on_it_at_abort": on_abort,
                "hours_to_leave_after_abort": (
                    self.after_abort_seconds / HOUR / on_abort if on_abort else None
                ),
                "probation_rollbacks": self.probation_rollbacks,
                "abort_rollbacks": self.abort_rollbacks,
                "halts": halts,
                # per pause/abort: hours until 50/95 % of the fleet had checked since;
                # set by `FleetRun.run` (a sharded run does not merge it)
                "reach": getattr(self, "halt_reach", []),
            },
            "decisions": {
                "installs": self.installs,
                "local_installs": self.local_installs,
                "deferred": self.deferred,
                "rejected": self.rejected,
                "defer_reasons": dict(self.defer_reasons.most_common(10)),
            },
            "events": self.events,
            "wall_seconds": round(self.wall_seconds, 2),
        }

    def checks_per_minute(self) -> np.ndarray:
        return self.per_minute

    def running(self, versions: list[int], step: float = HOUR) -> tuple[np.ndarray, np.ndarray]:
        """(times, share of the fleet running each version at each time) on a regular grid."""
        times = np.arange(0.0, self.seconds + step, step)
        t, old, new = self.transitions.arrays()
        delta = np.zeros((len(versions) + 2, len(times) + 1))
        j = np.searchsorted(times, t, side="left")
        np.add.at(delta, (old, j), -1.0)
        np.add.at(delta, (new, j), 1.0)
        counts = np.cumsum(delta[:, : len(times)], axis=1)
        share = counts[1 : len(versions) + 1]
        share[versions.index(1)] += self.devices  # everyone starts on v1
        return times, share / self.devices

    def adoption(
        self, published: dict[int, float], aborted: dict[int, float], bad: list[int]
    ) -> dict[str, dict[str, Any]]:
        """Per release: hours from publishing until 50 % and 95 % of the fleet ran it at once."""
        t, old, new = self.transitions.arrays()
        out: dict[str, dict[str, Any]] = {}
        for version, t0 in sorted(published.items()):
            if version == 1:
                continue
            sel = ((old == version) | (new == version)) & (old != new)
            times = t[sel]
            count = np.cumsum(np.where(new[sel] == version, 1, -1))
            peak = int(count.max()) if len(count) else 0
            reached: dict[float, float | None] = {}
            for q in (0.5, 0.95):
                hit = np.flatnonzero(count >= q * self.devices)
                reached[q] = (float(times[hit[0]]) - t0) / HOUR if len(hit) else None
            out[str(version)] = {
                "published_hour": t0 / HOUR,
                "bad": version in bad,
                "aborted_hour": aborted[version] / HOUR if version in aborted else None,
                "hours_to_50": reached[0.5],
                "hours_to_95": reached[0.95],
                "peak_share": peak / self.devices,
            }
        return out


def _keyed(counts: np.ndarray) -> Counter[str]:
    out: Counter[str] = Counter()
    for n, net in enumerate(NETWORKS):
        for k, kind in enumerate(KINDS):
            if counts[n, k]:
                out[f"{net}/{kind}"] = int(counts[n, k])
    return out
