"""The live canary and the canary judge: what they catch, how fast, and what they cost.

    python benchmarks/bench_canary.py [--seeds 5] [--devices 2000] [--skip-device]

Fleet part (`litefleet.sim.canary`: the product's own `canary_verdict`, `CanaryJudge` and
`due_stage` on a virtual clock): for a bad release whose live agreement with its
predecessor drops by 5, 10 and 30 % below what the golden set predicted (0.97), the hours
until the server pauses it and the device-hours the fleet spends on it; for a good release
(live agreement as predicted), how often it is paused by mistake and the hours to 100 %
with automatic stages (1, 10, 50, 100 %, 2 h bake) versus an operator's daily step.

Device part (real LiteRT, real `ModelRuntime`, a 28x28 CNN converted here): the app's
per-call latency (p50, p99) without and with the canary running the previous version in
its thread, measured in the same run and given as a ratio; the canary's CPU per live
prediction; the resident memory the second loaded version adds. JSON on stdout.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from litefleet.sim.canary import CanaryFleet, run

DROPS = (0.05, 0.10, 0.30)


def fleet_figures(seeds: int, devices: int) -> dict:
    fleet = CanaryFleet(devices=devices)
    out: dict = {"devices": devices, "seeds": seeds, "expected_agreement": fleet.expected}
    bad = {}
    for drop in DROPS:
        runs = [run(fleet, fleet.expected * (1 - drop), seed) for seed in range(seeds)]
        paused = [r.paused_at_h for r in runs if r.paused_at_h is not None]
        bad[f"drop_{int(drop * 100)}pct"] = {
            "paused_runs": f"{len(paused)}/{seeds}",
            "hours_to_pause_median": statistics.median(paused) if paused else None,
            "hours_to_pause_max": max(paused) if paused else None,
            "device_hours_median": round(statistics.median(r.device_hours for r in runs), 1),
            "devices_installed_median": statistics.median(r.devices_installed for r in runs),
            "devices_rolled_back_median": statistics.median(r.devices_rolled_back for r in runs),
        }
    out["bad"] = bad
    auto = [run(fleet, fleet.expected, seed) for seed in range(seeds)]
    manual = [run(fleet, fleet.expected, seed, automatic=False) for seed in range(seeds)]
    full_auto = [r.full_at_h for r in auto if r.full_at_h is not None]
    full_manual = [r.full_at_h for r in manual if r.full_at_h is not None]
    out["good"] = {
        "false_halts": f"{sum(r.paused_at_h is not None for r in auto)}/{seeds}",
        "hours_to_100pct_automatic_median": statistics.median(full_auto) if full_auto else None,
        "hours_to_100pct_manual_median": statistics.median(full_manual) if full_manual else None,
        "automatic_reached_100pct": f"{len(full_auto)}/{seeds}",
    }
    return out


def _cnn(seed: int) -> bytes:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import keras
    import tensorflow as tf

    keras.utils.set_random_seed(seed)
    model = keras.Sequential(
        [
            keras.Input((28, 28, 1)),
            keras.layers.Conv2D(16, 3, activation="relu"),
            keras.layers.MaxPooling2D(),
            keras.layers.Conv2D(32, 3, activation="relu"),
            keras.layers.MaxPooling2D(),
            keras.layers.Flatten(),
            keras.layers.Dense(64, activation="relu"),
            keras.layers.Dense(10, activation="softmax"),
        ]
    )
    with contextlib.redirect_stdout(sys.stderr):  # the converter prints its SavedModel
        return tf.lite.TFLiteConverter.from_keras_model(model).convert()


def _rss_bytes() -> int:
    return int(Path("/proc/self/statm").read_text().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def device_figures(calls: int, rounds: int) -> dict:
    from litefleet.device.probation import Probation
    from litefleet.device.runtime import ModelRuntime
    from litefleet.device.store import Manifest, ModelStore, sha256_file
    from litefleet.litert import LoadedModel

    models = {1: _cnn(1), 2: _cnn(2)}
    x = np.random.default_rng(0).random((calls, 28, 28, 1), dtype=np.float32)
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp)
        store = ModelStore(home)
        for v, data in models.items():
            with store.staging() as stage:
                (stage / "m.tflite").write_bytes(data)
                sig = LoadedModel(data).signature
                store.commit(
                    stage,
                    Manifest(
                        model="bench",
                        version=v,
                        variant="float32",
                        file="m.tflite",
                        precision="float32",
                        sha256=sha256_file(stage / "m.tflite"),
                        bytes=len(data),
                        signature=sig,
                        source="local",
                    ),
                )
        store.activate(1)
        store.activate(2)  # no probation: no canary

        def latencies(rt: ModelRuntime) -> list[float]:
            out = []
            for xi in x:
                t0 = time.perf_counter()
                rt.predict(xi[None])
                out.append((time.perf_counter() - t0) * 1e3)
            return out

        off: list[float] = []
        on: list[float] = []
        ratios: list[float] = []
        cpu, judged, rss_added = 0.0, 0, []
        for _ in range(rounds):  # alternate, so load on the machine hits both alike
            with ModelRuntime(home, feedback_every=3600) as rt:
                assert rt.canary is None
                round_off = latencies(rt)
                off += round_off
            p = Probation(version=2, since=time.time(), predictions=10**9, seconds=1e9, previous=1)
            store.activate(1)
            store.activate(2, p)
            before = _rss_bytes()
            with ModelRuntime(home, feedback_every=3600) as rt:
                canary = rt.canary
                assert canary is not None
                round_on = latencies(rt)
                on += round_on
                rss_added.append(_rss_bytes() - before)
            ratios.append(float(np.percentile(round_on, 99) / np.percentile(round_off, 99)))
            cpu += canary.cpu_s
            judged += canary.summary.samples
            dropped = canary.summary.dropped
            store.activate(1)
            store.activate(2)

    def pct(values: list[float], q: float) -> float:
        return round(float(np.percentile(values, q)), 4)

    return {
        "model_bytes": len(models[1]),
        "calls_per_mode": len(off),
        "latency_ms_p50_off": pct(off, 50),
        "latency_ms_p50_on": pct(on, 50),
        "latency_ms_p99_off": pct(off, 99),
        "latency_ms_p99_on": pct(on, 99),
        "p99_ratio_on_over_off": round(pct(on, 99) / pct(off, 99), 3),
        "p99_ratio_per_round_median": round(statistics.median(ratios), 3),
        "canary_cpu_ms_per_live_prediction": round(cpu / max(1, judged) * 1e3, 4),
        "canary_samples_judged": judged,
        "canary_samples_dropped_last_round": dropped,
        "rss_added_by_second_version_kb_median": round(statistics.median(rss_added) / 1024),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--devices", type=int, default=2000)
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--skip-device", action="store_true")
    parser.add_argument("--skip-fleet", action="store_true")
    args = parser.parse_args()
    out: dict = {}
    if not args.skip_fleet:
        out["fleet"] = fleet_figures(args.seeds, args.devices)
    if not args.skip_device:
        out["device"] = device_figures(args.calls, args.rounds)
    json.dump(out, sys.stdout, indent=1)
    print()


if __name__ == "__main__":
    main()
