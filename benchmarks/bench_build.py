"""Build the default recipe on digits and print, per candidate, its size and accuracy
against the float32 baseline measured in the same run (JSON on stdout).

    python benchmarks/bench_build.py [--out DIR]

`size_ratio` = baseline-float32 raw bytes / candidate zstd bytes (the download a device
makes); `accuracy_delta_pp` = candidate accuracy − baseline-float32 accuracy, in points.
`best` is the smallest download among the candidates within `MAX_LOSS_PP` of float32 —
every candidate was measured in the LiteRT interpreter, so every one runs on a device —
and `goal` says whether it reaches `GOAL_RATIO`.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

from litefleet.pipeline.build import build
from litefleet.pipeline.recipe import Recipe
from litefleet.release import BuildReport, CandidateReport

GOAL_RATIO = 20.0
MAX_LOSS_PP = 0.5


def best_within_loss(report: BuildReport, max_loss_pp: float = MAX_LOSS_PP) -> CandidateReport:
    """The smallest zstd download whose accuracy is within `max_loss_pp` of float32."""
    base = next(c for c in report.candidates if c.name == "baseline-float32")
    good = [c for c in report.candidates if (base.accuracy - c.accuracy) * 100 <= max_loss_pp]
    return min(good, key=lambda c: (c.zstd_bytes, -c.accuracy))


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
    best_int8 = max(int8, key=lambda c: (c.accuracy >= base.accuracy - 0.005, -c.zstd_bytes))
    best = best_within_loss(report)
    result = {
        "benchmark": "build",
        "dataset": report.dataset,
        "baseline": {"name": base.name, "raw_bytes": base.raw_bytes, "accuracy": base.accuracy},
        "candidates": candidates,
        "best": {"name": best.name, **candidates[best.name]},
        "goal": {
            "min_size_ratio": GOAL_RATIO,
            "max_loss_pp": MAX_LOSS_PP,
            "met": candidates[best.name]["size_ratio"] >= GOAL_RATIO,
        },
        "best_int8": {"name": best_int8.name, **candidates[best_int8.name]},
        "skipped": {s.name: s.reason for s in report.skipped},
        "seconds": report.seconds,
        "environment": report.environment,
    }
    json.dump(result, sys.stdout, indent=2)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
