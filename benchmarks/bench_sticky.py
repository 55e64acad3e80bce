"""Bytes a device moves per release when its variant choice ignores the bytes ("today": the
most accurate variant wins, so a device hops between variants and no patch applies) versus
with stickiness (the installed variant stays while within `sticky_tolerance` of the best).
Same fleet, same releases, same seed; JSON on stdout.

    python benchmarks/bench_sticky.py [--devices 2000] [--days 30] [--tolerance 0.01] [--seeds 5]
        [--samples 80,150,300]

Each seed draws another fleet and other accuracies; the figures are summed over the seeds.

Second part (issue 19, `--samples`): small test sets. The variants of the as-is shapes CNN
build (`tests/pipeline/shapes.py`, 72 test samples: baseline-float32 89,956 B down to
pruned-int4 15,504 B) get accuracies measured on n samples (multiples of 1/n, moved by one
sample's std-dev between releases). "fixed" is the agent before issue 19 (a 0.01 tolerance
whatever n: one sample of 80 is 1.25 pp, enough to swap); "interval" keeps the installed
variant unless the 95 % Newcombe interval on the gain clears the tolerance. Per device and
release: full downloads, patches applied, bytes.

The variant families and their sizes are those of the default digits build in the README
(baseline-int8 24.5 KB, qat-int8 20.1 KB, pruned-int8 24.5 KB, distilled-int8 6.6 KB,
baseline-dynamic 23.7 KB, accuracies 96.67-97.22 %), scaled to the simulator's 1.18 MB
production-sized file. Between releases each variant's accuracy moves by N(0, 0.3 pp): one
test sample of 360, an assumption (retrains move accuracy by about that much).
"""

from __future__ import annotations

import argparse
import json
import sys

from litefleet.sim.config import load_config
from litefleet.sim.runner import simulate

FAMILIES = {
    "baseline-int8": {"accuracy": 0.9667, "bytes_factor": 1.0},
    "qat-int8": {"accuracy": 0.9722, "bytes_factor": 20.1 / 24.5},
    "pruned-int8": {"accuracy": 0.9694, "bytes_factor": 1.0},
    "distilled-int8": {"accuracy": 0.9667, "bytes_factor": 6.6 / 24.5},
    "baseline-dynamic": {"accuracy": 0.9667, "bytes_factor": 23.7 / 24.5, "precision": "dynamic"},
}


SHAPES_FAMILIES = {
    # measured: `build --as-is` of the shapes CNN (sizes in bytes, accuracy on 72 samples)
    "baseline-float32": {"accuracy": 0.9306, "bytes": 89_956, "precision": "float32"},
    "baseline-float16": {"accuracy": 0.9306, "bytes": 48_028, "precision": "float16"},
    "baseline-int8": {"accuracy": 0.9306, "bytes": 27_872},
    "pruned-int8": {"accuracy": 0.9306, "bytes": 27_760},
    "qat-int8": {"accuracy": 0.9028, "bytes": 27_560},
}


def _families(measured: dict) -> dict:
    biggest = max(f["bytes"] for f in measured.values())
    return {
        name: {
            "accuracy": f["accuracy"],
            "bytes_factor": f["bytes"] / biggest,
            **({"precision": f["precision"]} if "precision" in f else {}),
        }
        for name, f in measured.items()
    }


def resolution(args: argparse.Namespace, samples: list[int]) -> dict:
    """Fixed tolerance vs the confidence interval, for each test set size."""
    out: dict[str, dict] = {}
    wall = 0.0
    for n in samples:
        totals: dict[str, dict[str, int]] = {}
        for seed in range(args.seeds):
            cfg = load_config(None, devices=args.devices, days=args.days, seed=seed)
            cfg = cfg.model_validate(
                {
                    **cfg.model_dump(),
                    "releases": {
                        **cfg.releases.model_dump(),
                        "variants": _families(SHAPES_FAMILIES),
                        "accuracy_jitter": 1.0 / n,
                        "accuracy_samples": n,
                    },
                    "runs": [
                        {
                            "name": "fixed",
                            "strategy": "periodic",
                            "sticky_tolerance": args.tolerance,
                            "sample_aware": False,
                        },
                        {
                            "name": "interval",
                            "strategy": "periodic",
                            "sticky_tolerance": args.tolerance,
                        },
                    ],
                }
            )
            result = simulate(cfg, args.workers)
            wall += result.wall_seconds
            for name, run in result.runs.items():
                t = totals.setdefault(name, {"bytes": 0, "full": 0, "patch": 0})
                t["bytes"] += run.summary["bytes"]["total"]
                t["full"] += run.summary["downloads"]["full"]
                t["patch"] += run.summary["downloads"]["patch"]
        per = args.devices * len(cfg.releases.publish_days) * args.seeds
        runs = {
            name: {
                "full_downloads_per_device_per_release": round(t["full"] / per, 3),
                "patches_per_device_per_release": round(t["patch"] / per, 3),
                "bytes_per_device_per_release": round(t["bytes"] / per),
            }
            for name, t in totals.items()
        }
        before, after = runs["fixed"], runs["interval"]
        out[str(n)] = {
            "runs": runs,
            "bytes_interval_vs_fixed_ratio": round(
                after["bytes_per_device_per_release"] / before["bytes_per_device_per_release"], 4
            )
            if before["bytes_per_device_per_release"]
            else None,
        }
    return {
        "test_samples": out,
        "families": SHAPES_FAMILIES,
        "baseline": "fixed (sticky_tolerance alone, sample count ignored)",
        "wall_seconds": round(wall, 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--devices", type=int, default=2000)
    parser.add_argument("--days", type=float, default=30.0)
    parser.add_argument("--tolerance", type=float, default=0.01)
    parser.add_argument("--jitter", type=float, default=0.003)
    parser.add_argument("--workers", type=int, default=None)
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument(
        "--samples", default="80,150,300", help="Test set sizes of the resolution part ('' = none)."
    )
    args = parser.parse_args()
    samples = [int(n) for n in args.samples.split(",") if n.strip()]
    totals: dict[str, dict[str, int]] = {}
    wall = 0.0
    for seed in range(args.seeds):
        cfg = load_config(None, devices=args.devices, days=args.days, seed=seed)
        cfg = cfg.model_validate(
            {
                **cfg.model_dump(),
                "releases": {
                    **cfg.releases.model_dump(),
                    "variants": FAMILIES,
                    "accuracy_jitter": args.jitter,
                },
                "runs": [
                    {"name": "today", "strategy": "periodic", "sticky_tolerance": 0.0},
                    {"name": "sticky", "strategy": "periodic", "sticky_tolerance": args.tolerance},
                ],
            }
        )
        result = simulate(cfg, args.workers)
        wall += result.wall_seconds
        for name, out in result.runs.items():
            t = totals.setdefault(name, {"total": 0, "full": 0, "patch": 0})
            for key in t:
                t[key] += out.summary["bytes"][key]
    releases = len(cfg.releases.publish_days)
    per = args.devices * releases * args.seeds
    runs = {
        name: {
            "bytes_per_device_per_release": round(b["total"] / per),
            "patch_share_of_bytes": round(b["patch"] / b["total"], 4) if b["total"] else None,
            "full_bytes": b["full"],
            "patch_bytes": b["patch"],
        }
        for name, b in totals.items()
    }
    today = runs["today"]["bytes_per_device_per_release"]
    sticky = runs["sticky"]["bytes_per_device_per_release"]
    json.dump(
        {
            "benchmark": "sticky_variants",
            "devices": args.devices,
            "days": args.days,
            "seeds": args.seeds,
            "releases": releases,
            "tolerance": args.tolerance,
            "accuracy_jitter": args.jitter,
            "baseline": "today (sticky_tolerance 0)",
            "runs": runs,
            "bytes_sticky_vs_today_ratio": round(sticky / today, 4) if today else None,
            "wall_seconds": round(wall, 2),
            "small_test_sets": resolution(args, samples) if samples else None,
        },
        sys.stdout,
        indent=1,
    )
    print()


if __name__ == "__main__":
    main()
