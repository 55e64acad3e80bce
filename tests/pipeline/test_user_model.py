"""A user's own data and model: a Conv2D network on 8x8x1 images stored as uint8 in an .npz."""

from __future__ import annotations

import numpy as np
import pytest

from .. import conftest
from . import kinds


@pytest.fixture(scope="module")
def image_npz(tmp_path_factory) -> str:
    """Digits as uint8 images 0..255 shaped (N, 8, 8, 1), like MNIST saved with np.savez."""
    return str(kinds.image_npz(tmp_path_factory.mktemp("data") / "images.npz"))


def conv_net():
    """TensorFlow is imported here, not when pytest collects this file (every worker does)."""
    from litefleet.pipeline.tf import keras

    return keras.Sequential(
        [
            keras.Input((8, 8, 1)),
            keras.layers.Conv2D(8, 3, activation="relu"),
            keras.layers.MaxPooling2D(),
            keras.layers.Flatten(),
            keras.layers.Dense(10, activation="softmax"),
        ]
    )


@pytest.mark.parametrize("form", ["model.keras", "saved_model"])
def test_build_a_users_conv_model_on_npz_images(tmp_path, image_npz, form):
    from litefleet.pipeline.build import build

    model_path = tmp_path / form
    conv_net().save(model_path)  # a folder without suffix is a SavedModel
    recipe = conftest.quick_recipe(**{"data.path": image_npz, "model.path": str(model_path)})
    report = build(recipe, tmp_path / "out")
    assert report.input_shape == [8, 8, 1] and report.num_classes == 10
    assert report.dataset == "images"
    names = {c.name for c in report.candidates}
    assert {"baseline-int8", "pruned-int8", "qat-int8"} <= names
    skipped = {s.name: s.reason for s in report.skipped}
    assert "distilled-int8" in names or skipped["distilled"]  # a student that fits, or why not
    best = max(report.candidates, key=lambda c: c.accuracy)
    assert best.accuracy > 0.8
    assert report.candidates[0].signature.inputs[0].shape == [1, 8, 8, 1]
    with np.load(tmp_path / "out" / "golden.npz") as golden:
        assert golden["x"].shape[1:] == (8, 8, 1)
        assert golden["x"].max() <= 1.0  # uint8 images were scaled like the training data
