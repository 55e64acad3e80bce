"""Delta patches between model versions: patch bytes / full bytes, per variant (JSON on stdout).

    python benchmarks/bench_delta.py [--quick]

Three builds of the default recipe in this run: v1; v2 = v1 with only the last layer
fine-tuned; v3 = a full retrain with another seed. For each variant, `finetune.patch_ratio`
= bsdiff4(v1 -> v2) / v2 bytes and `retrain.patch_ratio` = bsdiff4(v1 -> v3) / v3 bytes:
what a device downloads with a patch instead of the full file (1.0 = no saving; publish
keeps a patch only below 1.0). `zstd_ratio` (zstd-19 of the full file / its bytes) is the
baseline a patch has to beat when the transport compresses.

`goal` lists the variants whose fine-tune patch is above `GOAL_PATCH_RATIO` (10 % of the
file); a last-layer fine-tune starts every candidate from its predecessor in v1's folder, so
only the last layer's bytes should change.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import zstandard

from litefleet.delta import apply_patch, make_patch
from litefleet.pipeline.build import build
from litefleet.pipeline.recipe import Recipe

GOAL_PATCH_RATIO = 0.10

QUICK = {
    "train.epochs": 40,
    "prune.epochs": 3,
    "qat.epochs": 1,
    "distill.epochs": 40,
    "evaluate.latency_runs": 20,
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="short training (a smoke run)")
    args = parser.parse_args()
    recipe = Recipe().with_overrides(QUICK) if args.quick else Recipe()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        started = time.perf_counter()
        v1 = build(recipe, root / "v1")
        finetune = recipe.with_overrides(
            {
                "model.path": str(root / "v1" / "baseline.keras"),
                "train.trainable": "last",
                "train.epochs": 5,
            }
        )
        build(finetune, root / "v2")
        build(recipe.with_overrides({"seed": recipe.seed + 1}), root / "v3")
        build_seconds = time.perf_counter() - started
        variants = {}
        for cand in v1.candidates:
            old = (root / "v1" / cand.file).read_bytes()
            row: dict[str, object] = {}
            for label, folder in (("finetune", "v2"), ("retrain", "v3")):
                new = (root / folder / cand.file).read_bytes()
                t0 = time.perf_counter()
                patch = make_patch(old, new)
                diff_ms = (time.perf_counter() - t0) * 1000
                assert apply_patch(old, patch) == new
                row[label] = {
                    "full_bytes": len(new),
                    "patch_bytes": len(patch),
                    "patch_ratio": round(len(patch) / len(new), 4),
                    "zstd_ratio": round(len(zstandard.compress(new, 19)) / len(new), 4),
                    "diff_ms": round(diff_ms, 1),
                }
            variants[cand.name] = row
    result = {
        "benchmark": "delta",
        "recipe": "quick" if args.quick else "default",
        "variants": variants,
        "mean_finetune_patch_ratio": _mean(variants, "finetune"),
        "goal": {
            "max_finetune_patch_ratio": GOAL_PATCH_RATIO,
            "over": {
                name: row["finetune"]["patch_ratio"]
                for name, row in variants.items()
                if row["finetune"]["patch_ratio"] > GOAL_PATCH_RATIO
            },
        },
        "mean_retrain_patch_ratio": _mean(variants, "retrain"),
        "build_seconds": round(build_seconds, 1),
        "environment": v1.environment,
    }
    json.dump(result, sys.stdout, indent=2)
    sys.stdout.write("\n")


def _mean(variants: dict, label: str) -> float:
    ratios = [row[label]["patch_ratio"] for row in variants.values()]
    return round(sum(ratios) / len(ratios), 4)


if __name__ == "__main__":
    main()
