"""The demo's apps: each device's app calls `predict` through its runtime on live inputs.

    python -m litefleet.demo.app LIVE.npz STATS.json HOME [HOME ...]

One process stands for the app of every device home given (one `ModelRuntime` each, the
same entry point a real app uses, `predict_with_version`), taking turns. The live inputs
are held-out samples of every class, which the signed golden sets need not cover: this
live traffic is what each device's live canary compares versions on during probation.
The app counts requests, failures and which version answered, per device, and writes the
counts to STATS.json twice a second, so the demo can prove hot swaps fail nothing.
"""

from __future__ import annotations

import signal
import sys
import time
from pathlib import Path

import numpy as np

from litefleet.device.runtime import ModelRuntime
from litefleet.fsutil import atomic_write_json

PAUSE_S = 0.01
"""Between rounds over the devices: apps with other work to do, not a benchmark."""


class DeviceApp:
    """One device's app: its runtime, its counts, its share of the live inputs."""

    def __init__(self, home: Path, offset: int) -> None:
        self.name = home.name
        self.runtime = ModelRuntime(home)
        self.offset = offset
        self.requests = self.failures = 0
        self.by_version: dict[str, int] = {}
        self.timeline: list[tuple[float, int, int]] = []
        """(wall-clock time, version that answered, requests so far), twice a second."""
        self.errors: list[str] = []

    def call(self, live: np.ndarray) -> int:
        sample = live[(self.offset + self.requests) % len(live)][np.newaxis, ...]
        try:
            _, version = self.runtime.predict_with_version(sample)
            self.by_version[str(version)] = self.by_version.get(str(version), 0) + 1
        except Exception as exc:  # every failure counts; the demo requires zero
            self.failures += 1
            version = -1
            if len(self.errors) < 5:
                self.errors.append(f"{type(exc).__name__}: {exc}")
        self.requests += 1
        return version

    def stats(self) -> dict:
        return {
            "requests": self.requests,
            "failures": self.failures,
            "by_version": self.by_version,
            "swaps": self.runtime.swaps,
            "timeline": self.timeline[-2000:],
            "errors": self.errors,
        }


def main(live_path: Path, stats_path: Path, homes: list[Path]) -> None:
    stopping = False

    def stop(signum, frame) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    with np.load(live_path) as z:
        live = z["x"].astype(np.float32)
    apps = [DeviceApp(home, offset=k * 37) for k, home in enumerate(homes)]
    next_write = 0.0
    versions: list[int] = []
    while not stopping:
        versions = [app.call(live) for app in apps]
        now = time.time()
        if now >= next_write:
            _note(apps, versions, now)
            _write(stats_path, apps)
            next_write = now + 0.5
        time.sleep(PAUSE_S)
    for app in apps:
        app.runtime.close()
    if versions:
        _note(apps, versions, time.time())  # the last answer, however recent
    _write(stats_path, apps)


def _note(apps: list[DeviceApp], versions: list[int], now: float) -> None:
    for app, version in zip(apps, versions, strict=True):
        app.timeline.append((round(now, 2), version, app.requests))


def _write(path: Path, apps: list[DeviceApp]) -> None:
    """Totals over every device's app, and each device's own counts."""
    devices = {app.name: app.stats() for app in apps}
    by_version: dict[str, int] = {}
    for app in apps:
        for version, n in app.by_version.items():
            by_version[version] = by_version.get(version, 0) + n
    atomic_write_json(
        path,
        {
            "requests": sum(a.requests for a in apps),
            "failures": sum(a.failures for a in apps),
            "by_version": by_version,
            "swaps": sum(a.runtime.swaps for a in apps),
            "devices": devices,
        },
    )


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]), [Path(p) for p in sys.argv[3:]])
