"""Makers of the models and data a new user brings, each as its own tool saves them.

Keras 3 models come from the `keras` package (TF 2.21's default `tf.keras`), tf_keras
models from `tf_keras`; the `.tflite` file is converted from a briefly trained tf_keras
model, as a user's file from any framework would arrive. Everything is tiny: 8x8 digits.
"""

from __future__ import annotations

import functools
import os
from pathlib import Path

import numpy as np

TINY_RECIPE = """
[train]
epochs = 15
patience = 3
[prune]
epochs = 2
[qat]
epochs = 1
[distill]
epochs = 15
patience = 3
[convert]
representative_samples = 30
[evaluate]
latency_runs = 10
throughput_batch = 8
throughput_seconds = 0.01
[data]
golden_size = 50
"""


def keras3():
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    import keras

    import litefleet.pipeline.tf  # noqa: F401 — quiet TensorFlow import first

    return keras


def keras3_mlp(path: Path) -> Path:
    k = keras3()
    model = k.Sequential(
        [
            k.Input((64,)),
            k.layers.Dense(32, activation="relu"),
            k.layers.Dense(10, activation="softmax"),
        ]
    )
    model.save(path)
    return path


def keras3_cnn(path: Path) -> Path:
    """A Functional Conv2D network on 8x8x1 images, with BatchNormalization and Dropout."""
    k = keras3()
    inputs = k.Input((8, 8, 1))
    x = k.layers.Conv2D(8, 3, activation="relu")(inputs)
    x = k.layers.BatchNormalization()(x)
    x = k.layers.MaxPooling2D()(x)
    x = k.layers.Flatten()(x)
    x = k.layers.Dropout(0.1)(x)
    outputs = k.layers.Dense(10, activation="softmax")(x)
    k.Model(inputs, outputs).save(path)
    return path


def keras3_residual(path: Path) -> Path:
    """A branching graph (a skip connection): no tf_keras chain equals it."""
    k = keras3()
    inputs = k.Input((64,))
    hidden = k.layers.Dense(64, activation="relu")(inputs)
    added = k.layers.Add()([inputs, hidden])
    outputs = k.layers.Dense(10, activation="softmax")(added)
    k.Model(inputs, outputs).save(path)
    return path


def keras3_export(path: Path) -> Path:
    """`model.export()`: a SavedModel with a serving signature and no Keras metadata."""
    k = keras3()
    model = k.Sequential(
        [
            k.Input((64,)),
            k.layers.Dense(32, activation="relu"),
            k.layers.Dense(10, activation="softmax"),
        ]
    )
    x, y = digits_arrays()
    model.compile("adam", "sparse_categorical_crossentropy")
    model.fit(x / 16.0, y, epochs=5, verbose=0)
    model.export(str(path), verbose=False)
    return path


def tflite_file(path: Path) -> Path:
    """A float `.tflite` converted from a trained tf_keras MLP (a file from elsewhere)."""
    from litefleet.pipeline.tf import keras, tf

    x, y = digits_arrays()
    model = keras.Sequential(
        [
            keras.Input((64,)),
            keras.layers.Dense(32, activation="relu"),
            keras.layers.Dense(10, activation="softmax"),
        ]
    )
    model.compile("adam", "sparse_categorical_crossentropy")
    model.fit(x / 16.0, y, epochs=10, verbose=0)
    path.write_bytes(tf.lite.TFLiteConverter.from_keras_model(model).convert())
    return path


@functools.cache
def _digits():
    """scikit-learn's bundled digits, read once (imported here: collection stays light)."""
    from sklearn.datasets import load_digits

    return load_digits()


def digits_arrays() -> tuple[np.ndarray, np.ndarray]:
    digits = _digits()
    return digits.data.astype(np.float32), digits.target.astype(np.int64)


def image_npz(path: Path) -> Path:
    """Digits as uint8 8x8x1 images in an npz (for the CNN)."""
    digits = _digits()
    images = (digits.images * 255 / 16).astype(np.uint8)[..., np.newaxis]
    np.savez(
        path,
        x_train=images[:1400],
        y_train=digits.target[:1400],
        x_test=images[1400:],
        y_test=digits.target[1400:],
    )
    return path


def image_folder(root: Path) -> Path:
    """Digits as PNG files, one sub-folder per class (`root/<digit>/<i>.png`)."""
    from PIL import Image

    digits = _digits()
    for i, (image, label) in enumerate(zip(digits.images, digits.target, strict=True)):
        folder = root / f"digit-{label}"
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray((image * 255 / 16).astype(np.uint8), mode="L").save(folder / f"{i}.png")
    return root


def csv_file(path: Path) -> Path:
    """Digits as a CSV: 64 pixel columns and a `digit` column of class names."""
    x, y = digits_arrays()
    header = ",".join([f"p{i}" for i in range(64)] + ["digit"])
    names = [f"d{label}" for label in y]
    lines = [header] + [
        ",".join(str(int(v)) for v in row) + f",{name}" for row, name in zip(x, names, strict=True)
    ]
    path.write_text("\n".join(lines) + "\n")
    return path
