"""Datasets for a build: the embedded digits set, or the user's `.npz`, CSV or image folder.

Shapes and the number of classes always come from the data. Inputs become float32 in [0, 1]
(integer images are divided by their training maximum) so that the golden set, the
representative dataset for int8 and the device all see the same preprocessing.

The format is read from the content (a zip is an npz, a folder of class sub-folders is an
image set, text with a header row is a CSV), and nothing here imports TensorFlow: every data
error reaches the user before the slow import starts.
"""

from __future__ import annotations

import zipfile
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Literal

import numpy as np

from litefleet.errors import UserError
from litefleet.pipeline.split import split

NPZ_KEYS = ("x_train", "y_train", "x_test", "y_test")

Color = Literal["auto", "grayscale", "rgb"]


@dataclass(frozen=True)
class Dataset:
    name: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    input_scale: float
    """The inputs were divided by this; the app must do the same before `predict`."""
    classes: tuple[str, ...] | None = None
    """Class names in label order (image folder names, CSV label values), when known."""
    image_size: tuple[int, int] | None = None
    """Image folders: (height, width) every image was resized to."""
    color: str | None = None
    """Image folders: "grayscale" or "rgb"."""

    @property
    def input_shape(self) -> tuple[int, ...]:
        return tuple(int(d) for d in self.x_train.shape[1:])

    @property
    def num_classes(self) -> int:
        return int(max(self.y_train.max(), self.y_test.max())) + 1


def dataset_of(recipe) -> Dataset:
    """The dataset a `Recipe` names (imports no TensorFlow: data errors come first, fast)."""
    options = recipe.data
    data = load_dataset(
        options.path,
        test_size=options.test_size,
        seed=recipe.seed,
        image_size=tuple(options.image_size) if options.image_size else None,
        color=options.color,
        label_column=options.label_column,
    )
    if options.classes is None:
        return data
    if len(options.classes) != data.num_classes:
        raise UserError(
            f"{len(options.classes)} class names given ({', '.join(options.classes)}) but the "
            f"data has {data.num_classes} classes"
        )
    return replace(data, classes=tuple(options.classes))


def load_dataset(
    path: Path | None = None,
    *,
    test_size: float = 0.2,
    seed: int = 0,
    image_size: tuple[int, int] | None = None,
    color: Color = "auto",
    label_column: str | None = None,
) -> Dataset:
    """Digits from scikit-learn when `path` is None, else the user's data, by its content."""
    if path is None:
        return _digits(test_size, seed)
    path = Path(path)
    if path.is_dir():
        from litefleet.pipeline.images import folder_format, load_image_folder

        x_train, y_train, x_test, y_test = load_image_folder(
            path, image_size=image_size, color=color, test_size=test_size, seed=seed
        )
        classes, size, mode = folder_format(path, image_size=image_size, color=color)
        data = _normalized(path.name, x_train, y_train, x_test, y_test, scale=255.0)
        return replace(data, classes=tuple(classes), image_size=size, color=mode)
    if not path.is_file():
        raise UserError(f"data file not found: {path}")
    if zipfile.is_zipfile(path):
        return _npz(path)
    if path.suffix.lower() == ".npz":
        raise UserError(f"data file {path} is not an npz archive (not a zip file)")
    from litefleet.pipeline.tabular import load_csv

    x, y, names = load_csv(path, label_column)
    x_train, y_train, x_test, y_test = split(x, y, test_size, seed)
    data = _normalized(path.stem, x_train, y_train, x_test, y_test)
    return replace(data, classes=tuple(names))


def _digits(test_size: float, seed: int) -> Dataset:
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    bunch = load_digits()
    x = bunch.data.astype(np.float32)
    y = bunch.target.astype(np.int64)
    x_train, x_test, y_train, y_test = train_test_split(
        x, y, test_size=test_size, random_state=seed, stratify=y
    )
    data = _normalized("digits", x_train, y_train, x_test, y_test)
    return replace(data, classes=tuple(str(name) for name in bunch.target_names))


def _npz(path: Path) -> Dataset:
    if not path.is_file():
        raise UserError(f"data file not found: {path}")
    try:
        with np.load(path, allow_pickle=False) as archive:
            missing = [k for k in NPZ_KEYS if k not in archive.files]
            if missing:
                raise UserError(
                    f"data file {path} lacks arrays {', '.join(missing)} "
                    f"(needs {', '.join(NPZ_KEYS)})"
                )
            arrays = {k: archive[k] for k in NPZ_KEYS}
    except UserError:
        raise
    except ValueError as exc:  # numpy's text is advice about allow_pickle
        if "pickle" in str(exc):
            raise UserError(
                f"data file {path} holds Python objects, not plain arrays: save numeric "
                "arrays with np.savez"
            ) from None
        raise UserError(f"data file {path} is not a readable npz archive: {exc}") from None
    except Exception as exc:  # zipfile.BadZipFile, OSError …
        raise UserError(f"data file {path} is not a readable npz archive: {exc}") from None
    x_train, y_train, x_test, y_test = (arrays[k] for k in NPZ_KEYS)
    _check(path, x_train, y_train, "train")
    _check(path, x_test, y_test, "test")
    if x_train.shape[1:] != x_test.shape[1:]:
        raise UserError(
            f"data file {path}: x_train samples have shape {plain(x_train.shape[1:])} "
            f"but x_test samples have {plain(x_test.shape[1:])}"
        )
    return _normalized(path.stem, x_train, y_train.ravel(), x_test, y_test.ravel())


def _check(path: Path, x: np.ndarray, y: np.ndarray, split: str) -> None:
    if x.ndim < 2 or len(x) == 0:
        raise UserError(f"data file {path}: x_{split} must be a non-empty batch of samples")
    if not (np.issubdtype(x.dtype, np.number) and np.issubdtype(y.dtype, np.integer)):
        raise UserError(f"data file {path}: x_{split} must be numeric and y_{split} integer labels")
    if y.ravel().shape[0] != x.shape[0]:
        raise UserError(
            f"data file {path}: x_{split} has {x.shape[0]} samples but y_{split} has {y.size}"
        )
    if y.min() < 0:
        raise UserError(f"data file {path}: y_{split} has negative labels")
    if not np.isfinite(x).all():
        raise UserError(f"data file {path}: x_{split} contains NaN or infinite values")


def plain(shape: tuple) -> tuple[int | None, ...]:
    """A shape as the user wrote it: `(8, 8, 1)`, not `(np.int64(8), …)`."""
    return tuple(None if d is None else int(d) for d in shape)


def _normalized(name: str, x_train, y_train, x_test, y_test, scale: float | None = None) -> Dataset:
    if scale is None:
        peak = float(np.abs(x_train).max())
        scale = peak if peak > 1.0 else 1.0
    return Dataset(
        name=name,
        x_train=(x_train.astype(np.float32) / scale),
        y_train=y_train.astype(np.int64),
        x_test=(x_test.astype(np.float32) / scale),
        y_test=y_test.astype(np.int64),
        input_scale=scale,
    )


def preprocessing_of(data: Dataset) -> dict:
    """What the build did to raw samples (`litefleet.card.Preprocessing`, as a dict for
    report.json and the release's card.json)."""
    from litefleet.card import Preprocessing

    if data.image_size is not None:
        pre = Preprocessing(
            kind="image",
            input_shape=list(data.input_shape),
            size=list(data.image_size),
            color=data.color,
            resample="bilinear",
            scale=data.input_scale,
        )
    else:
        pre = Preprocessing(
            kind="features", input_shape=list(data.input_shape), scale=data.input_scale
        )
    return pre.model_dump(mode="json", exclude_none=True)
