"""Issue 19: a finished Keras 3 CNN compressed as it is; the student suits the teacher; the
class names and preprocessing are recorded; recipe.toml shows only what applied."""

from __future__ import annotations

import numpy as np
import pytest

from litefleet.card import Preprocessing
from litefleet.pipeline.recipe import load_recipe
from tests.pipeline.kinds import keras3
from tests.pipeline.shapes import CLASSES, SIZE

pytestmark = pytest.mark.filterwarnings("ignore")


def _user_model(path):
    return keras3().saving.load_model(path, compile=False)


def _baseline(out):
    from litefleet.pipeline.tf import keras

    return keras.models.load_model(out / "baseline.keras", compile=False)


def _kernels(model) -> list[np.ndarray]:
    return [w for w in model.get_weights() if w.ndim > 1]


def test_as_is_keeps_the_weights_bit_identical_and_the_accuracy(shapes_as_is):
    user = _user_model(shapes_as_is.model)
    baseline = _baseline(shapes_as_is.out)
    mine, kept = user.get_weights(), baseline.get_weights()
    assert len(mine) == len(kept)
    for a, b in zip(mine, kept, strict=True):
        assert a.dtype == b.dtype and a.tobytes() == b.tobytes()
    data = shapes_as_is.data
    accuracy = float(
        (np.asarray(user.predict(data.x_test, verbose=0)).argmax(1) == data.y_test).mean()
    )
    report = shapes_as_is.report
    assert report.keras_accuracy == accuracy
    float32 = next(c for c in report.candidates if c.name == "baseline-float32")
    assert abs(float32.accuracy - accuracy) <= 1 / len(data.y_test)


def _correlation(a: np.ndarray, b: np.ndarray) -> float:
    keep = a != 0
    return float(np.corrcoef(a[keep].ravel(), b[keep].ravel())[0, 1])


def test_pruning_and_qat_start_from_the_users_weights(shapes_as_is):
    from litefleet.pipeline.models import copy_model
    from litefleet.pipeline.tf import keras, tfmot

    baseline = _baseline(shapes_as_is.out)
    pruned = keras.models.load_model(shapes_as_is.out / "pruned.keras", compile=False)
    fresh = copy_model(baseline)
    fresh.set_weights([np.random.default_rng(0).normal(size=w.shape) for w in fresh.get_weights()])
    for p, b, f in zip(_kernels(pruned), _kernels(baseline), _kernels(fresh), strict=True):
        assert _correlation(p, b) > 0.9  # fine-tuned from the user's kernel ...
        assert abs(_correlation(f, b)) < 0.5  # ... which an unrelated kernel is not
    assert (np.concatenate([k.ravel() for k in _kernels(pruned)]) == 0).mean() > 0.3
    with tfmot().quantization.keras.quantize_scope():
        qat = tfmot().quantization.keras.quantize_model(copy_model(baseline))
    qat.load_weights(shapes_as_is.out / "qat.weights.h5")
    qat_kernels = [
        w.numpy() for w in qat.weights if w.name.endswith("kernel") or "kernel:" in w.name
    ]
    assert len(qat_kernels) == len(_kernels(baseline))
    for q, b in zip(qat_kernels, _kernels(baseline), strict=True):
        assert _correlation(q, b) > 0.95
    names = {c.name for c in shapes_as_is.report.candidates}
    assert {"pruned-int8", "qat-int8"} <= names


def test_the_student_is_convolutional_and_close_or_reported_with_figures(shapes_as_is):
    report = shapes_as_is.report
    skipped = {s.name: s.reason for s in report.skipped}
    if "distilled" in skipped:
        reason = skipped["distilled"]
        assert reason.startswith("rejected: the conv ") and "%" in reason and " pp" in reason
        assert not any(c.source.startswith("distilled") for c in report.candidates)
        assert not (shapes_as_is.out / "distilled.keras").exists()
        return
    from litefleet.pipeline.tf import keras

    student = keras.models.load_model(shapes_as_is.out / "distilled.keras", compile=False)
    assert any(type(layer).__name__ == "Conv2D" for layer in student.layers)
    float32 = next(c for c in report.candidates if c.name == "distilled-float32")
    assert float32.accuracy >= report.keras_accuracy - 0.02 - 1 / len(shapes_as_is.data.y_test)


def test_class_names_and_preprocessing_are_recorded(shapes_as_is):
    report = shapes_as_is.report
    assert report.class_names == list(CLASSES)
    pre = Preprocessing.model_validate(report.preprocessing)
    assert (pre.kind, pre.size, pre.color, pre.scale) == ("image", [SIZE, SIZE], "rgb", 255.0)
    assert pre.input_shape == [SIZE, SIZE, 3]
    assert report.test_samples == len(shapes_as_is.data.y_test)


def test_the_effective_recipe_shows_only_what_applied(shapes_as_is):
    text = (shapes_as_is.out / "recipe.toml").read_text()
    assert "hidden" not in text  # the default MLP's widths: not this model
    assert "student_hidden" not in text  # the student is convolutional
    assert "as_is = true" in text and "epochs = 0" not in text
    recipe = load_recipe(shapes_as_is.out / "recipe.toml")
    assert recipe.model.as_is and recipe.model.path == shapes_as_is.model
