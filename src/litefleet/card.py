"""The model card: class names and the preprocessing a build applied, for the app.

A build records how it turned raw data into the model's inputs (image size, colour,
division by a scale) and what each output index means; the card travels with every
release as `<model>/<v>/card.json` and sits beside each installed version on the device,
so an app never hard-codes the label order or the scaling, and a mismatch cannot be silent.

`to_input` applies the recorded preprocessing to a raw image with Pillow, the same way
the build read its image folder (Pillow's `convert` to the colour mode, then a bilinear
resize when the size differs, then float32 / scale). Pillow is optional on a device: when
it is missing, `to_input` says so and `preprocess_array` takes pixels the app decoded.

The card itself is `litefleet.release.ModelCard` (publish writes it from report.json's
`class_names` and `preprocessing`); this module gives the `preprocessing` record its
schema. Neutral module (no TensorFlow, no package imports): the pipeline writes it, the
device reads it.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Literal

from pydantic import BaseModel, ConfigDict

from litefleet.errors import UserError
from litefleet.release import ModelCard

if TYPE_CHECKING:  # numpy is imported where used: a card is read without it
    import numpy as np

CARD_FILE = "card.json"

Color = Literal["grayscale", "rgb"]

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif")
"""Files `agent predict` treats as raw images (the suffixes a build's image folder reads)."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Preprocessing(_Strict):
    """What the build did to a raw sample before the model saw it (in this order)."""

    kind: Literal["image", "features"]
    input_shape: list[int]
    """The model's sample shape (no batch axis): (height, width, channels) for images."""
    size: list[int] | None = None
    """Images: [height, width] each image was resized to (Pillow, `resample`)."""
    color: Color | None = None
    """Images: grayscale = Pillow mode L (1 channel), rgb = mode RGB (3 channels)."""
    resample: Literal["bilinear"] | None = None
    scale: float = 1.0
    """Raw values (pixels 0..255, CSV numbers) are divided by this; the result is float32."""

    def describe(self) -> str:
        if self.kind == "image":
            h, w = self.size or self.input_shape[:2]
            return f"{h}x{w} {self.color}, float32 / {self.scale:g}"
        return f"{self.input_shape} features, float32 / {self.scale:g}"


def preprocessing_of(card: ModelCard) -> Preprocessing | None:
    """The card's `preprocessing` record, typed; None when the build recorded none."""
    if not card.preprocessing:
        return None
    try:
        return Preprocessing.model_validate(card.preprocessing)
    except ValueError as exc:
        first = str(exc).splitlines()[0]
        raise UserError(f"the model card's preprocessing is not readable: {first}") from None


def class_name(card: ModelCard | None, index: int) -> str:
    """The name of output index `index` (its number as text when no names are known)."""
    if card is not None and 0 <= index < len(card.class_names):
        return card.class_names[index]
    return str(index)


def read_card(path: Path) -> ModelCard | None:
    """The `card.json` at `path`, None when absent; a corrupt card is a one-line error."""
    if not path.is_file():
        return None
    try:
        return ModelCard.model_validate_json(path.read_bytes())
    except ValueError as exc:
        first = str(exc).splitlines()[0]
        raise UserError(f"{path} is not a valid model card: {first}") from None


def preprocess_array(card: ModelCard, pixels: np.ndarray) -> np.ndarray:
    """Values an app read itself (image pixels H×W×C uint8 at the recorded size and colour,
    or raw features) as the model's input: float32 / scale, the model's sample shape."""
    import numpy as np

    pre = _required(card)
    x = np.asarray(pixels, np.float32) / np.float32(pre.scale)
    want = tuple(pre.input_shape)
    if x.size != int(np.prod(want)):
        raise UserError(
            f"input of shape {tuple(np.shape(pixels))} does not fit the model's {want} "
            f"({pre.describe()})"
        )
    return x.reshape(want)


def to_input(card: ModelCard, image_path: Path) -> np.ndarray:
    """A raw image file as the model's input, exactly as the build prepared its images."""
    pre = _required(card)
    if pre.kind != "image":
        raise UserError(f"this model takes {pre.describe()}, not images")
    try:
        from PIL import Image, UnidentifiedImageError
    except ImportError:
        raise UserError(
            "reading an image file needs Pillow (pip install pillow); without it, decode "
            f"the image yourself to {pre.describe()} and pass the array"
        ) from None
    try:
        with Image.open(image_path) as image:
            image.load()
            converted = image.convert("L" if pre.color == "grayscale" else "RGB")
    except (UnidentifiedImageError, OSError) as exc:
        raise UserError(f"image {image_path} cannot be read: {exc}") from None
    height, width = pre.size or pre.input_shape[:2]
    if converted.size != (width, height):
        converted = converted.resize((width, height), Image.Resampling.BILINEAR)
    import numpy as np

    return preprocess_array(card, np.asarray(converted))


def _required(card: ModelCard) -> Preprocessing:
    pre = preprocessing_of(card)
    if pre is None:
        raise UserError(
            "this release's card records no preprocessing (built before litefleet recorded "
            "it): prepare the input yourself and pass the array"
        )
    return pre
