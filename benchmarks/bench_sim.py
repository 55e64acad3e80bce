"""The simulator's speed and memory at several fleet sizes, plus each strategy's figures as ratios
against periodic (the baseline, measured in the same run). JSON on stdout.

    python benchmarks/bench_sim.py [--sizes 10000 100000 1000000] [--days 30] [--workers N]

Every size runs the default four strategies (`litefleet simulate --devices N`). Per size:
`wall_seconds` (traces included), `traces_seconds`, `device_days_per_s` = devices × days /
wall seconds (the fleet simulated under all four strategies), `run_device_days_per_s` = the
same × 4 (each strategy's simulation counted), `peak_rss_bytes` / `peak_pss_bytes` of the
whole process tree (`litefleet.sim.memory`), and `rate_vs_first` = device_days_per_s / that of
the first size measured in the same invocation (10,000 by default: >1 means the engine gets
faster per device as the fleet grows).
"""

from __future__ import annotations

import argparse
import json
import sys

from litefleet.sim.config import load_config
from litefleet.sim.runner import simulate


def _ratio(a: float, b: float) -> float | None:
    return round(a / b, 4) if b else None


def strategy_ratios(result) -> dict:
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
            "decisions_per_s": round(s["events"] / max(s["wall_seconds"], 1e-9)),
            "wall_seconds": s["wall_seconds"],
        }
    return runs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--days", type=float, default=30.0)
    parser.add_argument("--workers", type=int, default=None)
    args = parser.parse_args()
    sizes = []
    first_rate = None
    for n in args.sizes:
        cfg = load_config(None, devices=n, days=args.days)
        result = simulate(cfg, args.workers)
        rate = n * args.days / result.wall_seconds
        first_rate = first_rate or rate
        entry = {
            "devices": n,
            "days": args.days,
            "wall_seconds": round(result.wall_seconds, 2),
            "traces_seconds": round(result.traces_seconds, 2),
            "device_days_per_s": round(rate),
            "run_device_days_per_s": round(rate * len(cfg.runs)),
            "rate_vs_first": round(rate / first_rate, 3),
            **result.memory,
            "runs": strategy_ratios(result),
        }
        sizes.append(entry)
        print(
            f"{n:,} devices: {entry['wall_seconds']} s, {entry['device_days_per_s']:,} "
            f"device-days/s, peak RSS {(entry['peak_rss_bytes'] or 0) / 1e9:.2f} GB",
            file=sys.stderr,
        )
    json.dump(
        {
            "benchmark": "simulate",
            "baseline": f"{args.sizes[0]} devices (rate_vs_first); periodic (strategy ratios)",
            "sizes": sizes,
            "machine": result.machine,
        },
        sys.stdout,
        indent=2,
    )
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
