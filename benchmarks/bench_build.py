"""Build the default recipe on digits and print, per candidate, its size and accuracy
against the float32 baseline measured in the same run (JSON on stdout).

    python benchmarks/bench_build.py [--out DIR]

`size_ratio` = baseline-float32 raw bytes / candidate zstd bytes (the download a device
makes); `accuracy_delta_pp` = candidate accuracy − baseline-float32 accuracy, in points.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

from litefleet.pipeline.build import build
from litefleet.pipeline.recipe import Recipe


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        report = build(Recipe(), args.out or Path(tmp) / "build")
    base = next(c for c in report.candidates if c.name == "baseline-float32")
    candidates = {
        c.name: {
            "size_ratio": round(base.raw_bytes / c.zstd_bytes, 2),
            "raw_ratio": round(base.raw_bytes / c.raw_bytes, 2),
            "accuracy_delta_pp": round((c.accuracy - base.accuracy) * 100, 2),
            "latency_ratio": round(c.latency_ms_p50 / base.latency_ms_p50, 2),
            "zstd_bytes": c.zstd_bytes,
            "accuracy": round(c.accuracy, 4),
        }
        for c in report.candidates
    }
    int8 = [c for c in report.candidates if c.precision == "int8"]
    best = max(int8, key=lambda c: (c.accuracy >= base.accuracy - 0.005, -c.zstd_bytes))
    result = {
        "benchmark": "build",
        "dataset": report.dataset,
        "baseline": {"name": base.name, "raw_bytes": base.raw_bytes, "accuracy": base.accuracy},
        "candidates": candidates,
        "best_int8": {"name": best.name, **candidates[best.name]},
        "seconds": report.seconds,
        "environment": report.environment,
    }
    json.dump(result, sys.stdout, indent=2)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
