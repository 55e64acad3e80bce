"""What kind of model a file holds, read from its content, never from its name alone.

This module imports no TensorFlow, so a wrong file is refused in well under a second:

- `tflite`: a flatbuffer whose file identifier (bytes 4–8) is `TFL3`;
- `keras3` / `tf_keras`: a `.keras` zip whose `metadata.json` names `keras_version` 3.x or
  2.x, or an HDF5 file whose root attribute `keras_version` does;
- `saved_model`: a folder with `saved_model.pb` (from `model.export()` or
  `tf.saved_model.save`); with `keras_metadata.pb` beside it, it is a tf_keras
  `model.save(dir)` and counts as `tf_keras`.

Example::

    detect_model(Path("model.keras")).kind   # "keras3"
"""

from __future__ import annotations

import json
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from litefleet.errors import UserError

ModelKind = Literal["keras3", "tf_keras", "saved_model", "tflite"]

HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"
TFLITE_IDENTIFIER = b"TFL3"


@dataclass(frozen=True)
class DetectedModel:
    path: Path
    kind: ModelKind
    detail: str
    """What was read to decide, shown to the user: e.g. `keras_version 3.15.1`."""

    def describe(self) -> str:
        names = {
            "keras3": "a Keras 3 model",
            "tf_keras": "a tf_keras (Keras 2) model",
            "saved_model": "a TensorFlow SavedModel",
            "tflite": "a LiteRT (.tflite) flatbuffer",
        }
        return f"{self.path.name}: {names[self.kind]} ({self.detail})"


def detect_model(path: Path) -> DetectedModel:
    """The kind of model at `path`, or a `UserError` saying what the file is instead."""
    path = Path(path)
    if not path.exists():
        raise UserError(f"model not found: {path}")
    if path.is_dir():
        return _folder(path)
    with path.open("rb") as f:
        head = f.read(8)
    if head[4:8] == TFLITE_IDENTIFIER:
        return DetectedModel(path, "tflite", "flatbuffer identifier TFL3")
    if head == HDF5_MAGIC:
        return _hdf5(path)
    if zipfile.is_zipfile(path):
        return _keras_zip(path)
    raise UserError(
        f"{path} is not a model litefleet can read: expected a Keras .keras/.h5 file, a "
        f"SavedModel folder or a .tflite flatbuffer (it starts with {_printable(head)})"
    )


def _folder(path: Path) -> DetectedModel:
    if (path / "saved_model.pb").is_file():
        if (path / "keras_metadata.pb").is_file():
            return DetectedModel(path, "tf_keras", "SavedModel with keras_metadata.pb")
        return DetectedModel(path, "saved_model", "saved_model.pb without Keras metadata")
    raise UserError(
        f"{path} is a folder without saved_model.pb: give a SavedModel folder, or the model "
        "file inside the folder"
    )


def _hdf5(path: Path) -> DetectedModel:
    import h5py  # small and fast to import (no TensorFlow)

    try:
        with h5py.File(path, "r") as f:
            version = f.attrs.get("keras_version")
            has_config = "model_config" in f.attrs
    except OSError as exc:
        raise UserError(f"{path} is a damaged HDF5 file: {exc}") from None
    if isinstance(version, bytes):
        version = version.decode()
    if not has_config:
        raise UserError(
            f"{path} is an HDF5 file without a model config (weights only?): save the whole "
            "model with model.save('model.keras')"
        )
    return _by_version(path, str(version or ""), f"HDF5, keras_version {version}")


def _keras_zip(path: Path) -> DetectedModel:
    try:
        with zipfile.ZipFile(path) as z:
            names = set(z.namelist())
            if "metadata.json" not in names or "config.json" not in names:
                what = "an npz archive" if any(n.endswith(".npy") for n in names) else "a zip"
                raise UserError(
                    f"{path} is {what}, not a Keras model (a .keras file holds metadata.json "
                    "and config.json)"
                )
            meta = json.loads(z.read("metadata.json"))
    except (zipfile.BadZipFile, json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise UserError(f"{path} is a damaged Keras archive: {exc}") from None
    version = str(meta.get("keras_version", ""))
    return _by_version(path, version, f".keras zip, keras_version {version}")


def _by_version(path: Path, version: str, detail: str) -> DetectedModel:
    if version.startswith("3."):
        return DetectedModel(path, "keras3", detail)
    if version.startswith("2."):
        return DetectedModel(path, "tf_keras", detail)
    raise UserError(f"{path}: unknown keras_version {version!r} ({detail})")


def _printable(head: bytes) -> str:
    return repr(head[:8])[1:]
