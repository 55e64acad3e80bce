"""An image folder as arrays: one sub-folder per class, PNG/JPEG/BMP/GIF files inside.

Two layouts are accepted: `DIR/<class>/*.png` (split here, seeded and stratified) and
`DIR/train/<class>/…` + `DIR/test/<class>/…` (the user's own split). Images are read with
Pillow, not TensorFlow, so a bad folder is reported before TensorFlow is imported; every
image becomes `image_size` (height, width) in grayscale (1 channel) or RGB (3 channels).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from litefleet.errors import UserError
from litefleet.pipeline.split import split

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif"}


def load_image_folder(
    root: Path,
    *,
    image_size: tuple[int, int] | None,
    color: str,
    test_size: float,
    seed: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(x_train, y_train, x_test, y_test) as uint8 images and int labels."""
    if (root / "train").is_dir() and (root / "test").is_dir():
        classes = _classes(root / "train")
        train_files = _files(root / "train", classes)
        test_files = _files(root / "test", classes)
        size, mode = _format(train_files[0][0], image_size, color)
        x_train, y_train = _read(train_files, size, mode)
        x_test, y_test = _read(test_files, size, mode)
        return x_train, y_train, x_test, y_test
    classes = _classes(root)
    files = _files(root, classes)
    size, mode = _format(files[0][0], image_size, color)
    x, y = _read(files, size, mode)
    return split(x, y, test_size, seed)


def folder_format(
    root: Path, *, image_size: tuple[int, int] | None, color: str
) -> tuple[list[str], tuple[int, int], str]:
    """(class names in label order, (height, width), "grayscale" or "rgb") of the folder,
    as `load_image_folder` reads it: what the model card records."""
    top = root / "train" if (root / "train").is_dir() and (root / "test").is_dir() else root
    classes = _classes(top)
    (width, height), mode = _format(_files(top, classes)[0][0], image_size, color)
    return classes, (height, width), "grayscale" if mode == "L" else "rgb"


def _classes(folder: Path) -> list[str]:
    classes = sorted(p.name for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))
    if len(classes) < 2:
        raise UserError(
            f"image folder {folder} needs one sub-folder per class (at least 2), "
            f"found {len(classes)}"
        )
    return classes


def _files(folder: Path, classes: list[str]) -> list[tuple[Path, int]]:
    files = []
    for label, name in enumerate(classes):
        sub = folder / name
        if not sub.is_dir():
            raise UserError(f"image folder {folder} lacks class sub-folder {name!r}")
        found = sorted(p for p in sub.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        if not found:
            raise UserError(f"class folder {sub} holds no PNG/JPEG/BMP/GIF images")
        files += [(p, label) for p in found]
    return files


def _format(
    first: Path, image_size: tuple[int, int] | None, color: str
) -> tuple[tuple[int, int], str]:
    """(width, height) for Pillow and its mode: the first image decides what was not given."""

    with _open(first) as image:
        size = (image_size[1], image_size[0]) if image_size else image.size
        if color == "auto":
            color = "grayscale" if image.mode in ("1", "L", "LA", "I", "I;16") else "rgb"
    return size, "L" if color == "grayscale" else "RGB"


def _read(files: list[tuple[Path, int]], size: tuple[int, int], mode: str):
    from PIL import Image

    images = np.empty((len(files), size[1], size[0], 1 if mode == "L" else 3), np.uint8)
    for i, (path, _) in enumerate(files):
        with _open(path) as image:
            converted = image.convert(mode)
            if converted.size != size:
                converted = converted.resize(size, Image.Resampling.BILINEAR)
            images[i] = np.asarray(converted).reshape(images.shape[1:])
    return images, np.array([label for _, label in files], np.int64)


def _open(path: Path):
    from PIL import Image, UnidentifiedImageError

    try:
        image = Image.open(path)
        image.load()
        return image
    except (UnidentifiedImageError, OSError) as exc:
        raise UserError(f"image {path} cannot be read: {exc}") from None
