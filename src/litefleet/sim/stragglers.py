"""Why devices wait for a release: a per-device, per-release tally the engine fills as it goes.

While a device is behind a published release (its highest version is below it), every
check it makes says why it is still waiting:
- the download was deferred: the `litefleet.device.policy.Rule` the policy gave
  (unmetered, battery, busy, window, ...);
- the check failed: `offline`;
- the server offered nothing: `rollout` (not in the cohort yet, or the release paused).
A device that waited without any of these waited for its next scheduled check: `interval`.
Once a release is offered to a device, its 'rollout' tally for it is cleared: from then on
it waits for its own reasons (the cohort stage that held it back is over).
The report (`summarize_stragglers`) takes, for each device that reached a release late or
never, the reason it met most often.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from litefleet.device.policy import Rule

ROLLOUT = 0
"""Column of 'the server offered nothing' (Rule.GO's slot: a GO never waits)."""
OFFLINE = len(Rule)
REASONS = ["rollout", *(r.name.lower() for r in Rule if r != Rule.GO), "offline"]
"""Reason names by column; `interval` is the name of a device with no tally at all."""
INTERVAL = "interval"


class WaitLog:
    """Counts (devices, versions + 1, reasons) and the time each device first reached each
    version (ran it or a later one)."""

    def __init__(self, devices: int, versions: int) -> None:
        self.versions = versions
        self.counts = np.zeros((devices, versions + 1, OFFLINE + 1), dtype=np.uint16)
        self.reach = np.full((devices, versions + 1), np.inf)
        self.reach[:, :2] = 0.0  # everyone runs v1 from the start

    def _tally(
        self,
        d: np.ndarray,
        t: np.ndarray,
        column: np.ndarray | int,
        highest: np.ndarray,
        server: Any,
    ) -> None:
        if not len(d):
            return
        column = np.broadcast_to(np.asarray(column, dtype=np.int64), d.shape)
        for v, published in server.published.items():
            if v < 2:
                continue
            behind = (highest < v) & (t >= published)
            if behind.any():
                rows = d[behind]
                cols = column[behind]
                cell = self.counts[rows, v, cols]
                self.counts[rows, v, cols] = np.minimum(cell.astype(np.int64) + 1, 65535)

    def offline(self, d: np.ndarray, t: np.ndarray, highest: np.ndarray, server: Any) -> None:
        self._tally(d, t, OFFLINE, highest, server)

    def answered(
        self, d: np.ndarray, t: np.ndarray, offered: np.ndarray, highest: np.ndarray, server: Any
    ) -> None:
        """The server offered nothing (`offered` 0): one more 'rollout'. Once a version is
        offered, the waits for it (and for the versions it skips) count from there: the
        stage that held it back is over, so its 'rollout' tally is cleared."""
        nothing = offered == 0
        self._tally(d[nothing], t[nothing], ROLLOUT, highest[nothing], server)
        for v in range(2, self.versions + 1):
            now_offered = (offered >= v) & (highest < v)
            if now_offered.any():
                self.counts[d[now_offered], v, ROLLOUT] = 0

    def deferred(
        self, d: np.ndarray, t: np.ndarray, rule: np.ndarray, highest: np.ndarray, server: Any
    ) -> None:
        self._tally(d, t, rule, highest, server)

    def reached(self, d: np.ndarray, t: np.ndarray, highest: np.ndarray) -> None:
        for v in range(2, self.versions + 1):
            new = (highest >= v) & np.isinf(self.reach[d, v])
            if new.any():
                self.reach[d[new], v] = t[new]

    def dominant(self, d: np.ndarray, v: int) -> np.ndarray:
        """Reason name index per device (len(REASONS): interval, no tally)."""
        counts = self.counts[d, v]
        top = counts.argmax(axis=1)
        return np.where(counts.max(axis=1) > 0, top, len(REASONS))


REASON_TEXT = {
    "rollout": "not offered yet (outside the rollout cohort, or the release paused)",
    "no_network": "no network",
    "storage": "not enough free storage",
    "critical_battery": "battery critical",
    "unmetered": "waiting for an unmetered network",
    "charging": "waiting for a charger",
    "battery": "waiting for battery >= min_battery or a charger",
    "idle": "waiting for the device to be idle",
    "busy": "CPU busy",
    "window": "outside the download window",
    "offline": "offline at its checks",
    INTERVAL: "no check since it was published (interval)",
}
MIN_DAYS_BEFORE_END = 7.0
"""The fleet-level finding looks at the newest good release published at least this long
before the end (the issue's yardstick: it had a week to arrive)."""


def online_share(sim: Any, v: int) -> tuple[np.ndarray, np.ndarray]:
    """(times, share of online devices that reached v) at the end of every hour from its
    publication. Online at hour h: the device had a network in some hour of the 24 hours
    up to h (`Traces.dark_*` holds the few device-hours where it had none)."""
    traces, end = sim.traces, sim.end
    t0 = sim.server.published[v]
    first = int(t0 // 3600.0)
    hours = np.arange(first, traces.hours)
    times = np.minimum((hours + 1) * 3600.0, end)
    reach = sim.waits.reach[:, v]
    reached = np.searchsorted(np.sort(reach), times, side="right")
    dark_h = np.asarray(traces.dark_hour)
    dark_d = np.asarray(traces.dark_device)
    keep = dark_h >= first
    dark_h, dark_d = dark_h[keep] - first, dark_d[keep]
    dark = np.bincount(dark_h, minlength=len(hours))[: len(hours)]
    dark_reached = np.bincount(
        dark_h, weights=reach[dark_d] <= times[dark_h], minlength=len(hours)
    )[: len(hours)]
    online = sim.n - dark
    share = (reached - dark_reached) / np.maximum(online, 1)
    return times, share


def summarize_stragglers(sim: Any) -> dict[str, Any]:
    """Per good release: hours to 50 / 95 % of the online devices, and who came late or
    never, by device kind and by the reason they waited; plus the fleet-level finding."""
    cfg, traces, waits = sim.cfg, sim.traces, sim.waits
    kinds = np.asarray(traces.kind)
    names = traces.kind_names
    bad = set(cfg.releases.bad_versions)
    releases: dict[str, dict[str, Any]] = {}
    for v, t0 in sorted(sim.server.published.items()):
        if v < 2 or v in bad:
            continue
        times, share = online_share(sim, v)
        hit = {q: np.flatnonzero(share >= q / 100) for q in (50, 95)}
        hours = {q: (float(times[h[0]]) - t0) / 3600.0 if len(h) else None for q, h in hit.items()}
        t95 = t0 + hours[95] * 3600.0 if hours[95] is not None else -np.inf
        late = (
            np.flatnonzero(waits.reach[:, v] > t95)
            if hours[95] is not None
            else np.flatnonzero(np.isinf(waits.reach[:, v]))
        )
        releases[str(v)] = {
            "online_hours_to_50": hours[50],
            "online_hours_to_95": hours[95],
            "online_share_at_end": float(share[-1]) if len(share) else None,
            "stragglers": _tally(waits, late, v, kinds, names),
        }
    return {"releases": releases, "fleet": _never(sim, kinds, names)}


def _tally(waits: WaitLog, d: np.ndarray, v: int, kinds: np.ndarray, names: list[str]) -> dict:
    """Devices `d` by kind, by dominant reason, and by both."""
    reasons = [*REASONS, INTERVAL]
    why = waits.dominant(d, v) if len(d) else np.empty(0, dtype=np.int64)
    kind = kinds[d]
    both: dict[str, dict[str, int]] = {}
    for k, name in enumerate(names):
        sel = kind == k
        if sel.any():
            counts = np.bincount(why[sel], minlength=len(reasons))
            both[name] = {reasons[r]: int(c) for r, c in enumerate(counts) if c}
    by_reason = np.bincount(why, minlength=len(reasons))
    return {
        "devices": len(d),
        "by_kind": {
            names[k]: int(c) for k, c in enumerate(np.bincount(kind, minlength=len(names))) if c
        },
        "by_reason": {reasons[r]: int(c) for r, c in enumerate(by_reason) if c},
        "by_kind_reason": both,
    }


def _never(sim: Any, kinds: np.ndarray, names: list[str]) -> dict[str, Any]:
    """Who never got each good release published a week before the end, and why."""
    cfg, traces, waits = sim.cfg, sim.traces, sim.waits
    bad = set(cfg.releases.bad_versions)
    limit = sim.end - MIN_DAYS_BEFORE_END * 86400.0
    versions = sorted(
        v for v, t in sim.server.published.items() if v >= 2 and v not in bad and t <= limit
    )
    releases: dict[str, Any] = {}
    lines: list[str] = []
    for v in versions:
        found = _never_one(waits, traces, v, kinds, names)
        releases[str(v)] = found
        if found["devices"]:
            lines.append(f"v{v}: {found['devices']:,} of {sim.n:,} devices never ran it")
            lines += [f"  {line}" for line in found["lines"]]
        else:
            lines.append(f"v{v}: every device ran it")
    total = int(np.count_nonzero(np.isinf(waits.reach[:, versions]).any(axis=1))) if versions else 0
    return {
        "versions": versions,
        "devices": total,
        "releases": releases,
        "lines": lines,
    }


def _never_one(
    waits: WaitLog, traces: Any, v: int, kinds: np.ndarray, names: list[str]
) -> dict[str, Any]:
    d = np.flatnonzero(np.isinf(waits.reach[:, v]))
    reasons = [*REASONS, INTERVAL]
    why = waits.dominant(d, v) if len(d) else np.empty(0, dtype=np.int64)
    never_unmetered = np.zeros(len(d), dtype=bool)
    never_online = np.zeros(len(d), dtype=bool)
    for lo in range(0, len(d), 50_000):
        rows = np.asarray(traces.state[d[lo : lo + 50_000]]) & 0b11
        never_unmetered[lo : lo + 50_000] = ~(rows == 2).any(axis=1)
        never_online[lo : lo + 50_000] = (rows == 0).all(axis=1)
    groups = []
    key = kinds[d].astype(np.int64) * len(reasons) + why
    for k in np.unique(key):
        sel = key == k
        kind, reason = names[int(k) // len(reasons)], reasons[int(k) % len(reasons)]
        groups.append(
            {
                "kind": kind,
                "reason": reason,
                "devices": int(sel.sum()),
                "never_unmetered": int(never_unmetered[sel].sum()),
                "never_online": int(never_online[sel].sum()),
            }
        )
    groups.sort(key=lambda g: -g["devices"])
    lines = []
    for g in groups:
        facts = []
        if g["never_unmetered"]:
            facts.append(f"{g['never_unmetered']:,} never saw an unmetered network")
        if g["never_online"]:
            facts.append(f"{g['never_online']:,} never online")
        extra = f" ({'; '.join(facts)})" if facts else ""
        lines.append(f"{g['devices']:,} {g['kind']}: {REASON_TEXT[g['reason']]}{extra}")
    return {"devices": len(d), "groups": groups, "lines": lines}
