"""Simulate the default fleet and print each strategy's figures as ratios against periodic
(the baseline, measured in the same run), plus the simulator's own speed (JSON on stdout).

    python benchmarks/bench_sim.py [--devices 10000] [--days 30] [--workers N]

`metered_ratio` = metered bytes / periodic's; `stale_ratio` = stale device-hours / periodic's;
`peak_ratio` = peak-minute check rate / periodic's; `events_per_s` = simulated decisions per
second of wall time of that run.
"""

from __future__ import annotations

import argparse
import json
import sys

from litefleet.sim.config import load_config
from litefleet.sim.runner import simulate


def _ratio(a: float, b: float) -> float | None:
    return round(a / b, 4) if b else None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--devices", type=int, default=10_000)
    parser.add_argument("--days", type=float, default=30.0)
    parser.add_argument("--workers", type=int, default=None)
    args = parser.parse_args()
    result = simulate(load_config(None, devices=args.devices, days=args.days), args.workers)
    base = result.runs["periodic"].summary
    runs = {}
    for name, out in result.runs.items():
        s = out.summary
        runs[name] = {
            "metered_ratio": _ratio(s["bytes"]["metered"], base["bytes"]["metered"]),
            "bytes_ratio": _ratio(s["bytes"]["total"], base["bytes"]["total"]),
            "stale_ratio": _ratio(
                s["staleness"]["device_hours"], base["staleness"]["device_hours"]
            ),
            "bad_exposure_ratio": _ratio(
                s["bad_release"]["device_hours"], base["bad_release"]["device_hours"]
            ),
            "peak_ratio": _ratio(s["load"]["peak_rps"], base["load"]["peak_rps"]),
            "mean_load_ratio": _ratio(s["load"]["mean_rps"], base["load"]["mean_rps"]),
            "events_per_s": round(s["events"] / max(s["wall_seconds"], 1e-9)),
            "wall_seconds": s["wall_seconds"],
        }
    json.dump(
        {
            "benchmark": "simulate",
            "devices": args.devices,
            "days": args.days,
            "baseline": "periodic",
            "runs": runs,
            "wall_seconds": round(result.wall_seconds, 2),
            "machine": result.machine,
        },
        sys.stdout,
        indent=2,
    )
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
