"""Issue 19: an image-folder build's release carries its class names and preprocessing
(`card.json`); the device keeps the card beside the version, and `ModelRuntime` and
`agent predict IMAGE` answer with the class name the app gets by applying the recorded
preprocessing itself."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from litefleet.card import Preprocessing, read_card
from litefleet.device.agent import Agent
from litefleet.device.runtime import ModelRuntime
from litefleet.device.store import ModelStore
from litefleet.errors import UserError
from litefleet.litert import LoadedModel
from litefleet.release import CARD_FILE
from litefleet.testing.lab import Lab
from tests.pipeline.shapes import CLASSES, SIZE, draw

RUNNER = Path(__file__).with_name("cli_runner.py")


@pytest.fixture(scope="module")
def shapes_device(shapes_as_is, tmp_path_factory):
    """The as-is shapes build published as release 1 and installed on a device."""
    root = tmp_path_factory.mktemp("shapes-fleet")
    with Lab(root / "lab", model="shapes") as lab:
        lab.publish(shapes_as_is.out, 1, min_accuracy=None)
        home = lab.device("camera", direct=True)
        result = Agent(home).check()
        assert (result.action, result.active_version) == ("installed", 1), result
        yield home, lab


def raw_images(folder: Path) -> list[tuple[Path, str]]:
    """Files as an app meets them: the build's own PNGs, and new ones of another size and
    mode (RGBA 40x40, palette-free JPEG 24x24) that need the recorded resize and colour."""
    rng = np.random.default_rng(7)
    out = [
        (p, p.parent.name) for kind in CLASSES for p in sorted((folder / kind).glob("*.png"))[:3]
    ]
    extra = folder.parent / "raw"
    extra.mkdir(exist_ok=True)
    for kind in CLASSES:
        big = Image.fromarray(draw(kind, rng)).resize((40, 40), Image.Resampling.NEAREST)
        big.convert("RGBA").save(extra / f"{kind}-40.png")
        Image.fromarray(draw(kind, rng)).resize((24, 24)).save(extra / f"{kind}-24.jpg", quality=95)
        out += [(extra / f"{kind}-40.png", kind), (extra / f"{kind}-24.jpg", kind)]
    return out


def app_answer(model_file: Path, card, image: Path) -> str:
    """What an app computes with the card alone: Pillow, the recorded size/colour/scale."""
    pre = Preprocessing.model_validate(card.preprocessing)
    with Image.open(image) as im:
        pixels = im.convert({"rgb": "RGB", "grayscale": "L"}[pre.color])
    height, width = pre.size
    if pixels.size != (width, height):
        pixels = pixels.resize((width, height), Image.Resampling.BILINEAR)
    x = (np.asarray(pixels, np.float32) / pre.scale).reshape(pre.input_shape)
    return card.class_names[int(LoadedModel.from_file(model_file).predict(x).argmax())]


def test_the_release_and_the_device_carry_the_card(shapes_device, shapes_as_is):
    home, lab = shapes_device
    version_dir = ModelStore(home).model_path(1).parent
    card = read_card(version_dir / CARD_FILE)
    assert card is not None and card.class_names == list(CLASSES)
    pre = Preprocessing.model_validate(card.preprocessing)
    assert (pre.kind, pre.size, pre.color, pre.scale) == ("image", [SIZE, SIZE], "rgb", 255.0)
    signed = json.loads(lab.target_bytes("shapes/1/card.json"))
    assert signed["class_names"] == list(CLASSES)
    index = json.loads(lab.target_bytes("shapes/releases.json"))
    assert index["releases"][0]["accuracy_samples"] == len(shapes_as_is.data.y_test)


def test_runtime_and_agent_predict_name_the_class_the_app_would(shapes_device, shapes_as_is):
    home, _ = shapes_device
    model_file = ModelStore(home).model_path(1)
    runtime = ModelRuntime(home)
    assert runtime.classes == list(CLASSES)
    images = raw_images(shapes_as_is.folder)
    right = 0
    for image, truth in images:
        answer = runtime.classify_image(image)
        assert answer.label == app_answer(model_file, runtime.card, image), image
        assert answer.version == 1 and answer.label == CLASSES[answer.index]
        right += answer.label == truth
    assert right >= 0.7 * len(images)  # the model does know its shapes
    for image, _ in (images[0], images[-1]):
        args = ["agent", "predict", str(image), "--home", str(home)]
        done = subprocess.run(
            [sys.executable, str(RUNNER), "--block-tf", *args],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 0, done.stderr
        printed = json.loads(done.stdout)
        assert printed["label"] == app_answer(model_file, runtime.card, image)
        assert printed["version"] == 1 and printed["label"] == CLASSES[printed["index"]]


def test_an_unreadable_image_is_one_clear_error(shapes_device, tmp_path):
    home, _ = shapes_device
    bad = tmp_path / "broken.png"
    bad.write_bytes(b"not an image")
    with pytest.raises(UserError, match="cannot be read"):
        ModelRuntime(home).classify_image(bad)
