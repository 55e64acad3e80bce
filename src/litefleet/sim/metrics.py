"""What one simulated strategy did, and the figures the report shows.

The engine only counts (bytes, checks, transitions); `summarize` turns the counts into the
figures: bytes by network, staleness, time for a release to reach 50 % / 95 % of the fleet,
server load per minute, downloads on low battery, device-hours on a bad release.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import numpy as np

HOUR = 3600.0


@dataclass
class RunMetrics:
    name: str
    strategy: str
    devices: int
    seconds: float
    checks: list[float] = field(default_factory=list)
    """Time of every check that reached the server."""
    offline_checks: int = 0
    deferred: int = 0
    defer_reasons: Counter[str] = field(default_factory=Counter)
    installs: int = 0
    local_installs: int = 0
    probation_rollbacks: int = 0
    abort_rollbacks: int = 0
    rejected: int = 0
    bytes: Counter[str] = field(default_factory=Counter)
    """Keys `<network>/<full|patch>`."""
    downloads: Counter[str] = field(default_factory=Counter)
    low_battery_downloads: int = 0
    stale_seconds: float = 0.0
    bad_seconds: float = 0.0
    after_abort_seconds: float = 0.0
    """Part of `bad_seconds` after the release was aborted: the strategy's reaction time."""
    on_bad_at_abort: dict[int, int] = field(default_factory=dict)
    transitions: list[tuple[float, int, int]] = field(default_factory=list)
    """(time, from version, to version) of every activation and rollback."""
    events: int = 0
    wall_seconds: float = 0.0

    def download(self, network: str, kind: str, size: int, low_battery: bool) -> None:
        self.bytes[f"{network}/{kind}"] += size
        self.downloads[f"{network}/{kind}"] += 1
        self.low_battery_downloads += low_battery

    def summarize(
        self,
        published: dict[int, float],
        aborted: dict[int, float],
        bad: list[int],
        halts: list[dict[str, Any]],
    ) -> dict[str, Any]:
        total = sum(self.bytes.values())
        metered = sum(v for k, v in self.bytes.items() if k.startswith("metered/"))
        per_min = self.checks_per_minute()
        return {
            "name": self.name,
            "strategy": self.strategy,
            "bytes": {
                "total": total,
                "metered": metered,
                "unmetered": total - metered,
                "full": sum(v for k, v in self.bytes.items() if k.endswith("/full")),
                "patch": sum(v for k, v in self.bytes.items() if k.endswith("/patch")),
                "by_kind": dict(sorted(self.bytes.items())),
            },
            "downloads": {
                "full": sum(v for k, v in self.downloads.items() if k.endswith("/full")),
                "patch": sum(v for k, v in self.downloads.items() if k.endswith("/patch")),
                "low_battery": self.low_battery_downloads,
            },
            "staleness": {
                "device_hours": self.stale_seconds / HOUR,
                "share": self.stale_seconds / (self.devices * self.seconds),
                "releases": self.adoption(published, aborted, bad),
            },
            "load": {
                "checks": len(self.checks),
                "offline_checks": self.offline_checks,
                "mean_rps": len(self.checks) / self.seconds,
                "peak_minute_requests": int(per_min.max()) if len(per_min) else 0,
                "peak_rps": float(per_min.max()) / 60.0 if len(per_min) else 0.0,
                "p99_minute_requests": float(np.percentile(per_min, 99)) if len(per_min) else 0,
            },
            "bad_release": {
                "device_hours": self.bad_seconds / HOUR,
                "after_abort_device_hours": self.after_abort_seconds / HOUR,
                "on_it_at_abort": sum(self.on_bad_at_abort.values()),
                "hours_to_leave_after_abort": (
                    self.after_abort_seconds / HOUR / sum(self.on_bad_at_abort.values())
                    if sum(self.on_bad_at_abort.values())
                    else None
                ),
                "probation_rollbacks": self.probation_rollbacks,
                "abort_rollbacks": self.abort_rollbacks,
                "halts": halts,
            },
            "decisions": {
                "installs": self.installs,
                "local_installs": self.local_installs,
                "deferred": self.deferred,
                "rejected": self.rejected,
                "defer_reasons": dict(self.defer_reasons.most_common(8)),
            },
            "events": self.events,
            "wall_seconds": round(self.wall_seconds, 2),
        }

    def checks_per_minute(self) -> np.ndarray:
        minutes = int(np.ceil(self.seconds / 60.0))
        idx = (np.asarray(self.checks, dtype=float) // 60.0).astype(np.int64)
        return np.bincount(np.clip(idx, 0, minutes - 1), minlength=minutes)

    def running(self, versions: list[int], step: float = HOUR) -> tuple[np.ndarray, np.ndarray]:
        """(times, share of the fleet running each version at each time) on a regular grid."""
        times = np.arange(0.0, self.seconds + step, step)
        share = np.zeros((len(versions), len(times)))
        col = {v: k for k, v in enumerate(versions)}
        share[col[1], :] = self.devices  # everyone starts on v1
        for t, old, new in self.transitions:
            j = int(np.searchsorted(times, t, side="left"))
            share[col[old], j:] -= 1
            share[col[new], j:] += 1
        return times, share / self.devices

    def adoption(
        self, published: dict[int, float], aborted: dict[int, float], bad: list[int]
    ) -> dict[str, dict[str, Any]]:
        """Per release: hours from publishing until 50 % and 95 % of the fleet ran it at once."""
        out: dict[str, dict[str, Any]] = {}
        for version, t0 in sorted(published.items()):
            if version == 1:
                continue
            changes = sorted(
                (t, +1 if new == version else -1)
                for t, old, new in self.transitions
                if version in (old, new) and old != new
            )
            count, peak, reached = 0, 0, {0.5: None, 0.95: None}
            for t, delta in changes:
                count += delta
                peak = max(peak, count)
                for q in reached:
                    if reached[q] is None and count >= q * self.devices:
                        reached[q] = (t - t0) / HOUR
            out[str(version)] = {
                "published_hour": t0 / HOUR,
                "bad": version in bad,
                "aborted_hour": aborted[version] / HOUR if version in aborted else None,
                "hours_to_50": reached[0.5],
                "hours_to_95": reached[0.95],
                "peak_share": peak / self.devices,
            }
        return out
