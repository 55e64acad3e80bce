"""One run of one strategy, single-process vs sharded over Ray actors: wall time, peak memory per
process, and how far the figures move. JSON on stdout.

    python benchmarks/bench_shard.py [--devices 100000] [--days 30] [--shards 2]
                                     [--strategy conditional] [--ray auto]

Each mode runs in its own `python -m litefleet simulate --json` process (so one mode's peak
memory does not leak into the other's): first `--workers 1` (the baseline), then
`--ray ADDRESS --shards K` (a local Ray started by that process when ADDRESS is `auto` and no
cluster runs here). Reported: `wall_seconds` of each (the sharded one includes starting Ray
and the actors), `wall_ratio` = sharded / single, the single process's peak RSS, each shard's
peak RSS (usually set while its traces are drawn) and its RSS at the end of the run (what it
holds for its devices), the driver's peak RSS, `max_shard_rss_ratio` = largest shard peak /
single process peak (the memory one machine needs per shard), and the figures' ratios
sharded / single (seed noise: each shard draws its own random numbers).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def _run(config: Path, out: Path, extra: list[str]) -> tuple[dict, float]:
    cmd = [sys.executable, "-m", "litefleet", "simulate", "--config", str(config)]
    cmd += ["--out", str(out), "--no-plots", "--json", *extra]
    t = time.perf_counter()
    done = subprocess.run(cmd, check=True, capture_output=True, text=True)
    return json.loads(done.stdout), time.perf_counter() - t


def _ratio(a: float | None, b: float | None) -> float | None:
    return round(a / b, 4) if a is not None and b else None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--devices", type=int, default=100_000)
    parser.add_argument("--days", type=float, default=30.0)
    parser.add_argument("--shards", type=int, default=2)
    parser.add_argument("--strategy", default="conditional")
    parser.add_argument("--ray", default="auto")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-shard-") as tmp:
        config = Path(tmp) / "sim.json"
        run = {"name": args.strategy, "strategy": args.strategy}
        config.write_text(json.dumps({"devices": args.devices, "days": args.days, "runs": [run]}))
        single, single_wall = _run(config, Path(tmp) / "single", ["--workers", "1"])
        sharded, sharded_wall = _run(
            config, Path(tmp) / "sharded", ["--ray", args.ray, "--shards", str(args.shards)]
        )
    a, b = single["runs"][args.strategy], sharded["runs"][args.strategy]
    shard_rss = sharded["memory"]["shard_peak_rss_bytes"]
    halts = [[h["hour"] for h in s["bad_release"]["halts"]] for s in (a, b)]
    report = {
        "benchmark": "shard",
        "baseline": "the same run in one process (--workers 1), measured in the same invocation",
        "devices": args.devices,
        "days": args.days,
        "strategy": args.strategy,
        "shards": sharded["machine"]["ray"]["shards"],
        "ray": sharded["machine"]["ray"],
        "single": {
            "wall_seconds": round(single_wall, 2),
            "run_seconds": a["wall_seconds"],
            "peak_rss_bytes": single["memory"]["peak_rss_bytes"],
        },
        "sharded": {
            "wall_seconds": round(sharded_wall, 2),
            "run_seconds": b["wall_seconds"],
            "shard_peak_rss_bytes": shard_rss,
            "shard_rss_at_end_bytes": sharded["memory"]["shard_rss_at_end_bytes"],
            "driver_peak_rss_bytes": sharded["memory"]["driver_peak_rss_bytes"],
            "tree_peak_rss_bytes": sharded["memory"]["peak_rss_bytes"],
        },
        "wall_ratio": _ratio(sharded_wall, single_wall),
        "max_shard_rss_ratio": _ratio(max(shard_rss), single["memory"]["peak_rss_bytes"]),
        "figures_sharded_vs_single": {
            "bytes_total": _ratio(b["bytes"]["total"], a["bytes"]["total"]),
            "bytes_metered": _ratio(b["bytes"]["metered"], a["bytes"]["metered"]),
            "installs": _ratio(b["decisions"]["installs"], a["decisions"]["installs"]),
            "checks": _ratio(b["load"]["checks"], a["load"]["checks"]),
            "stale_device_hours": _ratio(
                b["staleness"]["device_hours"], a["staleness"]["device_hours"]
            ),
            "bad_device_hours": _ratio(
                b["bad_release"]["device_hours"], a["bad_release"]["device_hours"]
            ),
            "halt_hours": {"single": halts[0], "sharded": halts[1]},
        },
    }
    print(
        f"{args.devices:,} devices × {args.days:g} days ({args.strategy}): single "
        f"{single_wall:.1f} s, {single['memory']['peak_rss_bytes'] / 1e9:.2f} GB; "
        f"{len(shard_rss)} shards {sharded_wall:.1f} s, per shard "
        f"{', '.join(f'{r / 1e9:.2f}' for r in shard_rss)} GB",
        file=sys.stderr,
    )
    json.dump(report, sys.stdout, indent=2)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
