"""Model kinds and data formats are read from content, without TensorFlow (fast tests)."""

from __future__ import annotations

import json
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest

from litefleet.errors import UserError
from litefleet.pipeline.data import load_dataset
from litefleet.pipeline.detect import detect_model


def keras_zip(path: Path, version: str) -> Path:
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("metadata.json", json.dumps({"keras_version": version}))
        z.writestr("config.json", "{}")
    return path


def test_kinds_come_from_content_not_names(tmp_path):
    import h5py

    assert detect_model(keras_zip(tmp_path / "a.keras", "3.15.1")).kind == "keras3"
    assert detect_model(keras_zip(tmp_path / "b.zip", "2.21.0")).kind == "tf_keras"
    with h5py.File(tmp_path / "m.weights", "w") as f:
        f.attrs["keras_version"] = "3.15.1"
        f.attrs["model_config"] = "{}"
    assert detect_model(tmp_path / "m.weights").kind == "keras3"
    flat = tmp_path / "model.keras"  # a flatbuffer wearing a Keras name
    flat.write_bytes(b"\x1c\x00\x00\x00TFL3" + bytes(40))
    found = detect_model(flat)
    assert found.kind == "tflite" and "TFL3" in found.describe()
    saved = tmp_path / "exported"
    saved.mkdir()
    (saved / "saved_model.pb").write_bytes(b"")
    assert detect_model(saved).kind == "saved_model"
    (saved / "keras_metadata.pb").write_bytes(b"")
    assert detect_model(saved).kind == "tf_keras"


def test_unknown_files_are_named(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(UserError, match=r"folder without saved_model\.pb"):
        detect_model(tmp_path / "empty")
    import h5py

    with h5py.File(tmp_path / "w.h5", "w") as f:
        f.attrs["keras_version"] = "3.1"
    with pytest.raises(UserError, match="weights only"):
        detect_model(tmp_path / "w.h5")
    with pytest.raises(UserError, match="model not found"):
        detect_model(tmp_path / "nope.keras")


def test_detection_and_data_loading_import_no_tensorflow(tmp_path):
    """What runs before the build starts must not pay for TensorFlow's import."""
    code = (
        "import sys; from litefleet.pipeline import detect, data, images, tabular; "
        "from litefleet.cli import build; "
        "assert 'tensorflow' not in sys.modules, 'tensorflow imported'; print('ok')"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.stdout.strip() == "ok", result.stderr


def write_png(path: Path, value: int, mode: str = "L", size=(6, 4)) -> None:
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new(mode, size, value if mode == "L" else (value, 0, 0)).save(path)


def test_image_folder_with_its_own_split_and_auto_color(tmp_path):
    for split, count in (("train", 6), ("test", 2)):
        for label, value in (("cat", 10), ("dog", 200)):
            for i in range(count):
                write_png(tmp_path / split / label / f"{i}.png", value, mode="RGB")
    data = load_dataset(tmp_path)
    assert data.input_shape == (4, 6, 3)  # height, width from the first image; RGB kept
    assert (len(data.x_train), len(data.x_test)) == (12, 4)
    assert data.num_classes == 2 and set(data.y_test) == {0, 1}
    assert data.x_train.max() == pytest.approx(200 / 255)
    gray = load_dataset(tmp_path, color="grayscale", image_size=(3, 3))
    assert gray.input_shape == (3, 3, 1)


def test_broken_image_is_named(tmp_path):
    for label in ("a", "b"):
        for i in range(3):
            write_png(tmp_path / label / f"{i}.png", 50)
    (tmp_path / "b" / "9.png").write_bytes(b"not a png")
    with pytest.raises(UserError, match=r"9\.png cannot be read"):
        load_dataset(tmp_path)


def test_csv_label_names_and_default_label_column(tmp_path):
    rows = ["x1,x2,label"] + [f"{i},{i * 2},{'yes' if i % 2 else 'no'}" for i in range(20)]
    (tmp_path / "d.csv").write_text("\n".join(rows) + "\n")
    data = load_dataset(tmp_path / "d.csv", test_size=0.3)
    assert data.input_shape == (2,) and data.num_classes == 2
    assert len(data.x_test) == 6 and len(data.x_train) == 14  # stratified: 3 of each class
    assert sorted(np.bincount(data.y_test)) == [3, 3]


def test_a_file_that_is_neither_npz_nor_text(tmp_path):
    (tmp_path / "d.bin").write_bytes(bytes(range(256)) * 4)
    with pytest.raises(UserError, match="neither an npz archive nor a CSV"):
        load_dataset(tmp_path / "d.bin")
