"""Release format 2 sizes and costs, input 8x8x1 to 256x256x3, 1 to 30 releases (JSON).

    python benchmarks/bench_release_size.py [--releases 30] [--sizes 8x8x1,64x64x3,...]

For each input size: a small conv net made here (tf_keras, no download), published
`--releases` times into a fresh repository through the real `publish`, served by the real
update server on 127.0.0.1, installed and checked by the real agent (python-tuf client).

Measured per size:
- `index_bytes` after 1, 8 and 30 releases (signed `<model>/releases.json`), the largest
  `index_entry_bytes`, `targets_json_bytes` after 8 and 30;
- `golden_bytes` of a release (inputs + reference; `golden_new_bytes_per_release`: what a
  release adds when the inputs did not change) against the budget;
- `install_check_bytes` (bytes_downloaded of the check that installs release 30 on a
  device that runs release 1) and `idle_check_bytes` (the next check, nothing new);
- `manifest_bytes` and `drift_json_bytes` on the device;
- `drift_us_per_sample` vs `inference_us` (one sample, same run) as `drift_share`.

`before` recomputes the first format on the same model and data, in the same run: its
index entry (per-element statistics inline: `Release.reference_stats`), its index after
N releases (never pruned) which every check downloaded again, its per-element monitor.

Goals: idle check <= 1 KB whatever the history; index entry <= 4 KB; golden <= budget;
drift <= 5 % of an inference.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from litefleet.device.agent import Agent
from litefleet.drift import DriftMonitor, reference_stats
from litefleet.litert import LoadedModel
from litefleet.registry.publish import read_index
from litefleet.release import DEFAULT_GOLDEN_BUDGET, LegacyFeatureStats, index_path
from litefleet.testing.image_builds import conv_tflite, image_build, images
from litefleet.testing.lab import Lab

SIZES = "8x8x1,32x32x3,64x64x3,128x128x3,224x224x3,256x256x3"
GOALS = {"idle_check_bytes": 1024, "index_entry_bytes": 4096, "drift_share": 0.05}
GOLDEN_SAMPLES = 64


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--releases", type=int, default=30)
    parser.add_argument("--sizes", default=SIZES)
    args = parser.parse_args()
    t0 = time.perf_counter()
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-release-size-") as tmp:
        for spec in args.sizes.split(","):
            side, _, ch = (int(v) for v in spec.split("x"))
            rows.append(measure(Path(tmp) / spec, side, ch, args.releases))
            print(json.dumps(rows[-1]), file=sys.stderr)
    out = {
        "releases": args.releases,
        "golden_budget": DEFAULT_GOLDEN_BUDGET,
        "goals": GOALS,
        "sizes": rows,
        "all_goals_met": all(r["goals_met"] for r in rows),
        "seconds": round(time.perf_counter() - t0, 1),
    }
    print(json.dumps(out, indent=1))


def measure(root: Path, side: int, channels: int, releases: int) -> dict:
    tflite = conv_tflite(side, channels)
    folder = image_build(
        root / "build", tflite, side=side, channels=channels, golden_samples=GOLDEN_SAMPLES
    )
    row: dict = {"input": f"{side}x{side}x{channels}", "model_bytes": len(tflite)}
    with Lab(root / "lab", model="cam") as lab:
        home = lab.device("d", direct=True)
        index_bytes, targets_bytes = {}, {}
        for v in range(1, releases + 1):
            lab.publish(folder, v, check_models=v == 1, min_accuracy=0.5)
            index_bytes[v] = len(lab.target_bytes(index_path(lab.model)))
            targets_bytes[v] = len(lab.repo.load("targets").to_bytes())
            if v == 1:
                first = Agent(home).check()
                assert first.action == "installed", first
        index = read_index(lab.repo, lab.model)
        last = index.releases[-1]
        install = Agent(home).check()
        assert install.action == "installed", install
        idle = Agent(home).check()
        assert idle.action == "none", idle
        vdir = home / "versions" / str(last.version)
        row |= {
            "index_bytes": {str(n): index_bytes[n] for n in (1, 8, releases) if n <= releases},
            "index_entry_bytes": max(len(r.model_dump_json()) for r in index.releases),
            "targets_json_bytes": {
                str(n): targets_bytes[n] for n in (8, releases) if n <= releases
            },
            "golden_samples": _samples(lab, last),
            "golden_bytes": last.golden_inputs.bytes + last.golden_reference.bytes,
            "golden_new_bytes_per_release": sum(
                f.bytes for f in last.files() if f.path.startswith(f"cam/{last.version}/")
            ),
            "first_install_bytes": first.bytes_downloaded,
            "install_check_bytes": install.bytes_downloaded,
            "idle_check_bytes": idle.bytes_downloaded,
            "manifest_bytes": (vdir / "manifest.json").stat().st_size,
            "drift_json_bytes": (vdir / "drift.json").stat().st_size,
        }
    row |= drift_cost(tflite, side, channels)
    row["before"] = before(folder, tflite, side, channels, releases, row)
    row["goals_met"] = (
        row["idle_check_bytes"] <= GOALS["idle_check_bytes"]
        and row["index_entry_bytes"] <= GOALS["index_entry_bytes"]
        and row["golden_bytes"] <= DEFAULT_GOLDEN_BUDGET
        and row["drift_share"] <= GOALS["drift_share"]
    )
    return row


def _samples(lab: Lab, release) -> int:
    from litefleet.golden import golden_from_bytes

    return len(golden_from_bytes(lab.target_bytes(release.golden_inputs.path)))


def drift_cost(tflite: bytes, side: int, channels: int) -> dict:
    """Median per-sample cost of the monitor and of one inference, interleaved (same load)."""
    train = images(4 * GOLDEN_SAMPLES, side, channels, seed=1)
    monitor = DriftMonitor(reference_stats(train))
    model = LoadedModel(tflite)
    sample = images(1, side, channels, seed=2)[0]
    probs = model.predict(sample)
    drift, infer = [], []
    for _ in range(7):
        drift.append(_per_call(lambda: monitor.observe(sample, probs), 400))
        infer.append(_per_call(lambda: model.predict(sample), 40))
    d, i = float(np.median(drift)), float(np.median(infer))
    return {"drift_us_per_sample": round(d, 2), "inference_us": round(i, 1), "drift_share": d / i}


def _per_call(fn, n: int) -> float:
    t = time.perf_counter()
    for _ in range(n):
        fn()
    return (time.perf_counter() - t) / n * 1e6


def before(folder: Path, tflite: bytes, side: int, channels: int, releases: int, row) -> dict:
    """The first format on the same model: per-element statistics in every index entry,
    an index never pruned and downloaded again by every check, a per-element monitor."""
    train = images(4 * GOLDEN_SAMPLES, side, channels, seed=1)
    flat = train.reshape(len(train), -1).astype(np.float64)
    qs = np.quantile(flat, np.linspace(0, 1, 11), axis=0).T  # (elements, 11): old bins
    edges = [np.unique(q).tolist() for q in qs]
    # shares of 256 training samples are multiples of 1/256 (e.g. 0.09765625): written as
    # the first format wrote them, so the JSON has their real length
    fractions = [[0.09765625] * (len(e) - 1) for e in edges]
    stats = LegacyFeatureStats(edges=edges, fractions=fractions)
    entry = len(stats.model_dump_json()) + 1000  # + the entry's other fields (~1 KB)
    golden = (folder / "golden.npz").stat().st_size
    old_monitor_us = _old_monitor_us(edges, train[0])
    return {
        "index_entry_bytes": entry,
        "index_bytes_after": {str(n): entry * n for n in (1, 8, releases)},
        "idle_check_bytes_after": {str(n): entry * n + 1000 for n in (1, 8, releases)},
        "golden_bytes_per_release": golden,
        "manifest_bytes": entry,
        "drift_us_per_sample": round(old_monitor_us, 1),
        "drift_share": old_monitor_us / row["inference_us"],
    }


def _old_monitor_us(edges: list[list[float]], sample: np.ndarray) -> float:
    """The first format's `DriftMonitor.observe`: one searchsorted per input element."""
    interior = [np.asarray(e[1:-1]) for e in edges]
    counts = np.zeros((len(interior), 11))
    flat = sample.astype(np.float64).reshape(-1)
    runs = max(1, 20000 // len(interior))
    t = time.perf_counter()
    for _ in range(runs):
        for i, e in enumerate(interior):
            counts[i, int(np.searchsorted(e, flat[i], side="right"))] += 1
    return (time.perf_counter() - t) / runs * 1e6


if __name__ == "__main__":
    main()
