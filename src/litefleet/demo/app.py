"""The demo's app: calls `predict` through the device runtime as fast as it can.

    python -m litefleet.demo.app HOME GOLDEN.npz STATS.json

Every request goes through `ModelRuntime.predict_with_version`, the same entry point a
real app uses; the app counts requests, failures and which version answered, and writes
the counts to STATS.json twice a second, so the demo can prove hot swaps fail nothing.
"""

from __future__ import annotations

import signal
import sys
import time
from pathlib import Path

import numpy as np

from litefleet.device.runtime import ModelRuntime
from litefleet.fsutil import atomic_write_json
from litefleet.golden import load_golden_file


def main(home: Path, golden: Path, stats_path: Path) -> None:
    stopping = False

    def stop(signum, frame) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    x = load_golden_file(golden).inputs[0]
    runtime = ModelRuntime(home)
    requests = failures = 0
    by_version: dict[str, int] = {}
    timeline: list[tuple[float, int, int]] = []
    errors: list[str] = []
    started = time.time()
    next_write = 0.0
    while not stopping:
        sample = x[requests % len(x)][np.newaxis, ...]
        try:
            _, version = runtime.predict_with_version(sample)
            by_version[str(version)] = by_version.get(str(version), 0) + 1
        except Exception as exc:  # every failure counts; the demo requires zero
            failures += 1
            version = -1
            if len(errors) < 5:
                errors.append(f"{type(exc).__name__}: {exc}")
        requests += 1
        now = time.time()
        if now >= next_write:
            timeline.append((round(now - started, 2), version, requests))
            _write(stats_path, requests, failures, by_version, runtime.swaps, timeline, errors)
            next_write = now + 0.5
        time.sleep(0.002)  # an app with other work to do, not a benchmark
    _write(stats_path, requests, failures, by_version, runtime.swaps, timeline, errors)


def _write(path, requests, failures, by_version, swaps, timeline, errors) -> None:
    atomic_write_json(
        path,
        {
            "requests": requests,
            "failures": failures,
            "by_version": by_version,
            "swaps": swaps,
            "timeline": timeline[-2000:],
            "errors": errors,
        },
    )


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3]))
