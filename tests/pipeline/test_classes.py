"""Class names and the preprocessing record come from the data (no TensorFlow here)."""

from __future__ import annotations

import numpy as np
import pytest

from litefleet.card import Preprocessing
from litefleet.errors import UserError
from litefleet.pipeline.data import dataset_of, load_dataset, preprocessing_of
from litefleet.pipeline.recipe import Recipe
from tests.pipeline.shapes import shapes_folder


def test_csv_label_names_are_the_classes_in_label_order(tmp_path):
    rows = ["a,b,label"] + [f"{i},{i % 3},{['dog', 'cat', 'emu'][i % 3]}" for i in range(30)]
    path = tmp_path / "pets.csv"
    path.write_text("\n".join(rows))
    data = load_dataset(path)
    assert data.classes == ("cat", "dog", "emu")
    pre = Preprocessing.model_validate(preprocessing_of(data))
    assert (pre.kind, pre.input_shape, pre.scale) == ("features", [2], data.input_scale)


def test_image_folders_name_the_classes_and_the_format(tmp_path):
    folder = shapes_folder(tmp_path / "shapes", per_class=5)
    data = load_dataset(folder, image_size=(8, 12), color="grayscale")
    assert data.classes == ("circle", "cross", "square")
    pre = Preprocessing.model_validate(preprocessing_of(data))
    assert (pre.size, pre.color, pre.input_shape, pre.scale) == (
        [8, 12],
        "grayscale",
        [8, 12, 1],
        255.0,
    )


def test_given_classes_must_name_every_class(tmp_path):
    folder = shapes_folder(tmp_path / "shapes", per_class=5)
    recipe = Recipe(data={"path": folder, "classes": ["o", "+", "#"]})
    assert dataset_of(recipe).classes == ("o", "+", "#")
    with pytest.raises(UserError, match=r"2 class names given .* 3 classes"):
        dataset_of(Recipe(data={"path": folder, "classes": ["o", "+"]}))


def test_npz_data_has_no_names_unless_given(tmp_path):
    path = tmp_path / "d.npz"
    rng = np.random.default_rng(0)
    np.savez(
        path,
        x_train=rng.random((20, 4)),
        y_train=np.arange(20) % 2,
        x_test=rng.random((6, 4)),
        y_test=np.arange(6) % 2,
    )
    assert load_dataset(path).classes is None
