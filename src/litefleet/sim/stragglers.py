"""Why devices wait for a release: a per-device, per-release tally the engine fills as it goes.

While a device is behind a published release (its highest version is below it), every
check it makes says why it is still waiting:
- the download was deferred: the `litefleet.device.policy.Rule` the policy gave
  (unmetered, battery, busy, window, ...);
- the check failed: `offline`;
- the server offered nothing: `rollout` (not in the cohort yet, or the release paused).
A device that waited without any of these waited for its next scheduled check: `interval`.
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
        self.reach[:, : 2] = 0.0  # everyone runs v1 from the start

    def _tally(self, d: np.ndarray, t: np.ndarray, column: np.ndarray | int, highest: np.ndarray,
               server: Any) -> None:
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
        self, d: np.ndarray, t: np.ndarray, nothing: np.ndarray, highest: np.ndarray, server: Any
    ) -> None:
        self._tally(d[nothing], t[nothing], ROLLOUT, highest[nothing], server)

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
