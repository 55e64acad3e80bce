"""Models "from elsewhere", made with Keras 3 and converted to `.tflite` at test time: a
detector with several outputs, a segmenter with a dense (H, W, 1) output, a 224x224x3
MobileNetV2 classifier (weights=None: no download) and a two-input model.

Each comes as v1 and v2 (v2 = v1 with its last layer nudged, as a fine-tune would: a small
delta patch), plus the input samples a user would bring (`inputs.npz`: inputs only; labels
`y` for the two-input classifier only). Random weights: the tests check plumbing and
numbers against the plain interpreter, not what the models learned.

`make_all(folder)` writes everything once; `cached_models(cache_dir)` reuses a folder made
by the same source (a hash of this file names it), so later runs import no TensorFlow.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import numpy as np

KINDS = ("detector", "segmenter", "mobilenet", "two_input")
SAMPLES = {"detector": 24, "segmenter": 24, "mobilenet": 6, "two_input": 60}


def _keras():
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import keras

    return keras


def detector(keras):
    x = keras.Input((32, 32, 3), name="image")
    h = keras.layers.Conv2D(8, 3, strides=2, activation="relu")(x)
    h = keras.layers.Conv2D(8, 3, strides=2, activation="relu")(h)
    h = keras.layers.GlobalAveragePooling2D()(h)
    boxes = keras.layers.Reshape((10, 4), name="boxes")(
        keras.layers.Dense(40, activation="sigmoid")(h)
    )
    scores = keras.layers.Dense(10, activation="sigmoid", name="scores")(h)
    count = keras.layers.Dense(1, activation="relu", name="count")(h)
    return keras.Model(x, [boxes, scores, count])


def segmenter(keras):
    x = keras.Input((32, 32, 3), name="image")
    h = keras.layers.Conv2D(8, 3, padding="same", activation="relu")(x)
    h = keras.layers.Conv2D(8, 3, padding="same", activation="relu")(h)
    mask = keras.layers.Conv2D(1, 1, activation="sigmoid", name="mask")(h)
    return keras.Model(x, mask)


def mobilenet(keras):
    return keras.applications.MobileNetV2(
        weights=None, input_shape=(224, 224, 3), alpha=0.35, classes=5
    )


def two_input(keras):
    a = keras.Input((8,), name="features")
    b = keras.Input((4,), name="context")
    h = keras.layers.Concatenate()([a, b])
    h = keras.layers.Dense(16, activation="relu")(h)
    out = keras.layers.Dense(3, activation="softmax", name="probs")(h)
    return keras.Model([a, b], out)


def _convert(model) -> bytes:
    import tensorflow as tf

    return bytes(tf.lite.TFLiteConverter.from_keras_model(model).convert())


def _nudged(model, keras):
    """v2: the same model with its last weighted layer changed a little (a fine-tune)."""
    layer = [lyr for lyr in model.layers if lyr.get_weights()][-1]
    layer.set_weights([w * 1.05 + 0.01 for w in layer.get_weights()])
    return model


def _inputs(kind: str, rng: np.random.Generator) -> dict[str, np.ndarray]:
    n = SAMPLES[kind]
    if kind == "two_input":
        a = rng.normal(size=(n, 8)).astype(np.float32)
        b = rng.normal(size=(n, 4)).astype(np.float32)
        y = (a[:, 0] + b[:, 0] > 0).astype(np.int64) + (a[:, 1] > 1).astype(np.int64)
        return {"features": a, "context": b, "y": y}
    size = 224 if kind == "mobilenet" else 32
    return {"x": rng.uniform(0, 1, size=(n, size, size, 3)).astype(np.float32)}


def make_all(folder: Path) -> Path:
    keras = _keras()
    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    folder.mkdir(parents=True, exist_ok=True)
    for kind in KINDS:
        model = globals()[kind](keras)
        (folder / f"{kind}-v1.tflite").write_bytes(_convert(model))
        (folder / f"{kind}-v2.tflite").write_bytes(_convert(_nudged(model, keras)))
        np.savez(folder / f"{kind}-inputs.npz", **_inputs(kind, rng))
    (folder / "done").write_text("ok")
    return folder


def cached_models(cache_dir: Path) -> Path:
    """The models, made once per version of this file (later runs import no TensorFlow)."""
    digest = hashlib.sha256(Path(__file__).read_bytes()).hexdigest()[:12]
    folder = Path(cache_dir) / f"user-models-{digest}"
    if not (folder / "done").is_file():
        make_all(folder)
    return folder
