"""A per-device request budget (token bucket), so one device cannot flood the server.

Each device may send `burst` reports at once and `rate` per second after that; beyond, the
server answers 429 with `Retry-After` and the device keeps its events queued. The buckets
live in the worker's memory (bounded: the least recently seen devices are forgotten first,
which only makes them start with a full bucket again), so with N workers behind a
round-robin proxy a device gets at most N times the budget; nginx's `limit_req` keyed on
the device path (see `deploy.py`) enforces one budget in front of all of them.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict


class DeviceRateLimit:
    def __init__(self, rate: float = 2.0, burst: int = 30, max_devices: int = 200_000) -> None:
        self.rate, self.burst, self.max_devices = rate, burst, max_devices
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()
        self._lock = threading.Lock()

    def allow(self, device_id: str, now: float | None = None) -> float:
        """0.0 when the request may go on; else the seconds to wait before retrying."""
        now = time.monotonic() if now is None else now
        with self._lock:
            tokens, last = self._buckets.pop(device_id, (float(self.burst), now))
            tokens = min(float(self.burst), tokens + (now - last) * self.rate)
            wait = 0.0
            if tokens >= 1.0:
                tokens -= 1.0
            else:
                wait = (1.0 - tokens) / self.rate
            self._buckets[device_id] = (tokens, now)
            while len(self._buckets) > self.max_devices:
                self._buckets.popitem(last=False)
        return wait
