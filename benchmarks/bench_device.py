"""Device-side figures, each against a baseline measured in the same run; prints JSON.

- agent process: peak RSS and wall time of a process that imports the device agent and
  answers one prediction, against `python -c "import tensorflow"` (ratios < 1: lighter);
- single-sample predict latency of the int8 and float32 `.tflite` variants in the LiteRT
  runtime, against the Keras model's own `predict` on the same sample (and its direct call);
- hot swap: p99 latency of predict calls while the active model is switched every 20 ms,
  against the steady-state p99.

    .venv/bin/python benchmarks/bench_device.py [--quick]
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

DEVICE_SNIPPET = """
import sys, time, numpy as np
t = time.perf_counter()
from litefleet.device.agent import Agent  # the whole agent, TUF client included
from litefleet.device.runtime import ModelRuntime
y = ModelRuntime(sys.argv[1]).predict(np.zeros({shape}, np.float32))
hwm = [ln for ln in open("/proc/self/status") if ln.startswith("VmHWM")][0].split()[1]
print(hwm, time.perf_counter() - t)
"""
TF_SNIPPET = """
import time
t = time.perf_counter()
import tensorflow
hwm = [ln for ln in open("/proc/self/status") if ln.startswith("VmHWM")][0].split()[1]
print(hwm, time.perf_counter() - t)
"""


def run_process(code: str, *args: str, repeats: int) -> tuple[float, float]:
    """Median (peak RSS MiB from VmHWM, wall seconds of the process) over `repeats` runs.

    VmHWM, not ru_maxrss: the latter survives fork+exec and would report this process's RSS.
    """
    rss, wall = [], []
    for _ in range(repeats):
        t = time.perf_counter()
        out = subprocess.run(
            [sys.executable, "-c", code, *args], capture_output=True, text=True, check=True
        )
        wall.append(time.perf_counter() - t)
        rss.append(int(out.stdout.split()[0]) / 1024)
    return float(np.median(rss)), float(np.median(wall))


def make_models(tmp: Path):
    import tensorflow as tf

    try:
        import tf_keras as keras
    except ImportError:  # pragma: no cover
        keras = tf.keras
    rng = np.random.default_rng(0)
    x = rng.normal(size=(512, 64)).astype(np.float32)
    y = (x[:, :10].argmax(1)).astype(np.int64)
    model = keras.Sequential(
        [
            keras.layers.Input((64,)),
            keras.layers.Dense(128, activation="relu"),
            keras.layers.Dense(64, activation="relu"),
            keras.layers.Dense(10, activation="softmax"),
        ]
    )
    model.compile("adam", "sparse_categorical_crossentropy")
    model.fit(x, y, epochs=3, verbose=0)
    files = {}
    for precision in ("float32", "int8"):
        conv = tf.lite.TFLiteConverter.from_keras_model(model)
        if precision == "int8":
            conv.optimizations = [tf.lite.Optimize.DEFAULT]
            conv.representative_dataset = lambda: ([row[None]] for row in x[:200])
            conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
            conv.inference_input_type = tf.int8
            conv.inference_output_type = tf.int8
        files[precision] = tmp / f"{precision}.tflite"
        files[precision].write_bytes(conv.convert())
    return model, files, x


def install(home: Path, version: int, path: Path) -> None:
    from litefleet.device.store import Manifest, ModelStore, sha256_file
    from litefleet.litert import LoadedModel

    store = ModelStore(home, keep=10)
    with store.staging() as stage:
        (stage / path.name).write_bytes(path.read_bytes())
        store.commit(
            stage,
            Manifest(
                model="bench",
                version=version,
                variant=path.stem,
                file=path.name,
                precision=path.stem,
                sha256=sha256_file(path),
                bytes=path.stat().st_size,
                signature=LoadedModel.from_file(path).signature,
                source="local",
            ),
        )
    store.activate(version)


def latency_ms(fn, sample, runs: int) -> float:
    for _ in range(10):
        fn(sample)
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        fn(sample)
        times.append(time.perf_counter() - t)
    return float(np.median(times) * 1000)


def p99_under_load(runtime, x, seconds: float, swap=None) -> tuple[float, int, int]:
    stop = threading.Event()
    lat: list[float] = []
    failures = [0]

    def worker() -> None:
        local = []
        while not stop.is_set():
            t = time.perf_counter()
            try:
                runtime.predict(x[len(local) % len(x)])
            except Exception:
                failures[0] += 1
            local.append(time.perf_counter() - t)
        lat.extend(local)

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for t in threads:
        t.start()
    end = time.perf_counter() + seconds
    swaps = 0
    while time.perf_counter() < end:
        if swap:
            swap(swaps)
            swaps += 1
        time.sleep(0.02)
    stop.set()
    for t in threads:
        t.join()
    return float(np.percentile(lat, 99) * 1000), failures[0], swaps


def main() -> None:
    quick = "--quick" in sys.argv
    repeats, runs, seconds = (2, 200, 1.0) if quick else (5, 1000, 3.0)
    from litefleet.device.runtime import ModelRuntime
    from litefleet.device.store import ModelStore

    result: dict = {"quick": quick}
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        model, files, x = make_models(tmp)
        homes = {}
        for precision, path in files.items():
            homes[precision] = tmp / f"home-{precision}"
            install(homes[precision], 1, path)

        dev_rss, dev_wall = run_process(
            DEVICE_SNIPPET.format(shape="(1, 64)"), str(homes["int8"]), repeats=repeats
        )
        tf_rss, tf_wall = run_process(TF_SNIPPET, repeats=repeats)
        result["agent_process"] = {
            "peak_rss_mib": round(dev_rss, 1),
            "start_and_first_predict_s": round(dev_wall, 3),
            "baseline_import_tensorflow_rss_mib": round(tf_rss, 1),
            "baseline_import_tensorflow_s": round(tf_wall, 3),
            "rss_ratio": round(dev_rss / tf_rss, 3),
            "start_ratio": round(dev_wall / tf_wall, 3),
        }

        sample = x[:1]
        keras_predict = latency_ms(lambda s: model.predict(s, verbose=0), sample, runs // 5)
        keras_call = latency_ms(lambda s: model(s, training=False).numpy(), sample, runs)
        lat = {"keras_predict_ms": round(keras_predict, 4), "keras_call_ms": round(keras_call, 4)}
        for precision, home in homes.items():
            rt = ModelRuntime(home)
            ms = latency_ms(rt.predict, x[0], runs)
            lat[f"{precision}_ms"] = round(ms, 4)
            lat[f"{precision}_vs_keras_predict"] = round(ms / keras_predict, 4)
            lat[f"{precision}_vs_keras_call"] = round(ms / keras_call, 4)
        result["single_sample_latency"] = lat

        home = homes["float32"]
        install(home, 2, files["int8"])
        store = ModelStore(home, keep=10, recover=False)
        rt = ModelRuntime(home)
        steady, fail0, _ = p99_under_load(rt, x, seconds)
        swapping, fail1, swaps = p99_under_load(
            rt, x, seconds, swap=lambda i: store.activate(1 if i % 2 else 2)
        )
        result["hot_swap"] = {
            "steady_p99_ms": round(steady, 4),
            "swapping_p99_ms": round(swapping, 4),
            "p99_ratio": round(swapping / steady, 3),
            "activations": swaps,
            "failed_calls": fail0 + fail1,
        }
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
