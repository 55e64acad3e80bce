"""A user's own image task: 16x16 RGB shapes in a class-per-folder tree, and a Keras 3 CNN
the test trains on it itself (the model a team brings finished, issue 19)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

CLASSES = ("circle", "cross", "square")
SIZE = 16


def draw(kind: str, rng: np.random.Generator) -> np.ndarray:
    """One shape at a random place, colour and size on a noisy background (uint8 RGB)."""
    image = rng.integers(0, 60, (SIZE, SIZE, 3)).astype(np.uint8)
    colour = rng.integers(140, 256, 3).astype(np.uint8)
    r = int(rng.integers(3, 6))
    cy, cx = (int(v) for v in rng.integers(r, SIZE - r, 2))
    yy, xx = np.mgrid[:SIZE, :SIZE]
    if kind == "circle":
        mask = (yy - cy) ** 2 + (xx - cx) ** 2 <= r * r
    elif kind == "square":
        mask = (abs(yy - cy) <= r) & (abs(xx - cx) <= r)
    else:
        mask = ((abs(yy - cy) <= 1) & (abs(xx - cx) <= r)) | (
            (abs(xx - cx) <= 1) & (abs(yy - cy) <= r)
        )
    image[mask] = colour
    return image


def shapes_folder(root: Path, per_class: int = 70, seed: int = 0) -> Path:
    """`root/<class>/*.png`, `per_class` PNG files per class."""
    from PIL import Image

    rng = np.random.default_rng(seed)
    for kind in CLASSES:
        (root / kind).mkdir(parents=True)
        for i in range(per_class):
            Image.fromarray(draw(kind, rng)).save(root / kind / f"{i:03d}.png")
    return root


def train_keras3_cnn(data, path: Path, epochs: int = 8) -> Path:
    """The user's Keras 3 CNN, trained by their own loop (Adam, their epochs), saved."""
    from tests.pipeline.kinds import keras3

    k = keras3()
    k.utils.set_random_seed(1)
    inputs = k.Input((SIZE, SIZE, 3))
    x = k.layers.Conv2D(16, 3, padding="same", activation="relu")(inputs)
    x = k.layers.MaxPooling2D()(x)
    x = k.layers.Conv2D(32, 3, padding="same", activation="relu")(x)
    x = k.layers.MaxPooling2D()(x)
    x = k.layers.Flatten()(x)
    x = k.layers.Dense(32, activation="relu")(x)
    outputs = k.layers.Dense(len(CLASSES), activation="softmax")(x)
    model = k.Model(inputs, outputs, name="shapes_cnn")
    model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(data.x_train, data.y_train, epochs=epochs, batch_size=16, verbose=0)
    model.save(path)
    return path
