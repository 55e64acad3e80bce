"""Build folders of small image classifiers at any input size, for the release-size tests
and `benchmarks/bench_release_size.py`: a tiny conv net made here (tf_keras, no download),
converted once, and a build folder in the `BuildReport` format around it.

TensorFlow is imported only by `conv_tflite` (the build side of a test); writing a build
folder around existing `.tflite` bytes needs LiteRT and numpy only.

    tflite = conv_tflite(64)                          # (1, 64, 64, 3) -> (1, 10)
    folder = image_build(tmp / "v1", tflite, side=64, seed=1)
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np

from litefleet.drift import reference_stats
from litefleet.golden import GoldenSet, golden_file_bytes
from litefleet.litert import LoadedModel
from litefleet.release import BuildReport, CandidateReport

CLASSES = 10


def conv_tflite(side: int, channels: int = 3, classes: int = CLASSES, seed: int = 0) -> bytes:
    """A float32 `.tflite` of a small conv net on `side` x `side` x `channels` images (two
    3x3 convs, stride 2 from 32x32 up: ~1 ms per 128x128x3 frame on a laptop core, the
    order of the camera models of issue 18)."""
    import os

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import tensorflow as tf
    import tf_keras as keras

    keras.utils.set_random_seed(seed)
    stride = 2 if side >= 32 else 1  # a camera-style stem: halve, halve again
    layers = [
        keras.layers.Input((side, side, channels)),
        keras.layers.Conv2D(16, 3, strides=stride, activation="relu", padding="same"),
        keras.layers.Conv2D(32, 3, strides=stride, activation="relu", padding="same"),
        keras.layers.GlobalAveragePooling2D(),
        keras.layers.Dense(classes, activation="softmax"),
    ]
    model = keras.Sequential(layers)
    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    return converter.convert()


def images(n: int, side: int, channels: int = 3, seed: int = 0) -> np.ndarray:
    """`n` images in [0, 1] that are exact multiples of 1/255 (as decoded camera frames)."""
    rng = np.random.default_rng(seed)
    raw = rng.integers(0, 256, (n, side, side, channels), dtype=np.uint8)
    return raw.astype(np.float32) / np.float32(255)


def image_build(
    out: Path,
    tflite: bytes,
    *,
    side: int,
    channels: int = 3,
    golden_samples: int = 64,
    seed: int = 0,
    labels: bool = True,
) -> Path:
    """A build folder around `tflite`: `float32.tflite`, `golden.npz` (new keys, the model's
    own outputs as reference, labels = its top class), `report.json` with bounded drift
    statistics of `4 * golden_samples` training-like images."""
    out.mkdir(parents=True, exist_ok=True)
    (out / "float32.tflite").write_bytes(tflite)
    model = LoadedModel(tflite)
    x = images(golden_samples, side, channels, seed=seed)
    reference = model.predict(x)
    y = reference.argmax(axis=1) if labels else None
    (out / "golden.npz").write_bytes(golden_file_bytes(GoldenSet([x], y, [reference])))
    train = images(4 * golden_samples, side, channels, seed=seed + 1)
    report = BuildReport(
        dataset=f"random-{side}x{side}x{channels}",
        num_classes=CLASSES,
        input_shape=[side, side, channels],
        keras_accuracy=1.0,
        candidates=[
            CandidateReport(
                name="float32",
                file="float32.tflite",
                source="baseline",
                precision="float32",
                signature=model.signature,
                accuracy=1.0,
                agreement=1.0,
                latency_ms_p50=1.0,
                latency_ms_p95=1.0,
                throughput_per_s=1000.0,
                raw_bytes=len(tflite),
                zstd_bytes=len(tflite),
                sparsity=0.0,
                parameters=0,
                sha256=hashlib.sha256(tflite).hexdigest(),
            )
        ],
        model_kind="tflite",
        task="classification" if labels else "other",
        reference_stats=reference_stats(train),
    )
    (out / "report.json").write_text(report.model_dump_json(indent=1))
    return out
