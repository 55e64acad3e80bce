"""Each compression step really changes the model, and never the baseline it started from.

TensorFlow is imported inside the tests (`_tf_pipeline`), not at collection: every
pytest-xdist worker collects every file, and this import alone cost each one ~8 s."""

from __future__ import annotations

import numpy as np
import pytest

from litefleet.pipeline.data import load_dataset
from litefleet.pipeline.recipe import DistillOptions, PruneOptions, QatOptions, TrainOptions


def _tf_pipeline():
    from litefleet.pipeline import compress, models, train

    return compress, models, train


@pytest.fixture(scope="module")
def trained():
    _, models, train = _tf_pipeline()
    train.seed_everything(0)
    data = load_dataset(None)
    baseline = models.mlp(data.input_shape, data.num_classes, [64, 32])
    train.train_baseline(baseline, data, TrainOptions(epochs=15, patience=3))
    return data, baseline


def test_pruning_reaches_the_schedule_and_leaves_the_baseline_alone(trained):
    compress, _, _ = _tf_pipeline()
    data, baseline = trained
    before = [w.copy() for w in baseline.get_weights()]
    pruned = compress.prune(
        baseline, data, PruneOptions(final_sparsity=0.7, epochs=3), TrainOptions()
    )
    assert compress.weight_sparsity(pruned) == pytest.approx(0.7, abs=0.02)
    assert compress.weight_sparsity(baseline) < 0.01
    for old, new in zip(before, baseline.get_weights(), strict=True):
        np.testing.assert_array_equal(old, new)
    assert not any("prune" in layer.name for layer in pruned.layers)  # stripped


def test_qat_inserts_fake_quantization(trained):
    compress, _, train = _tf_pipeline()
    data, baseline = trained
    qat = compress.quantization_aware(baseline, data, QatOptions(epochs=1), TrainOptions())
    assert any("quant" in layer.name for layer in qat.layers)
    assert train.keras_accuracy(qat, data.x_test, data.y_test) > 0.8


def test_distilled_student_is_smaller_and_learns_from_the_teacher(trained):
    compress, models, train = _tf_pipeline()
    data, teacher = trained
    teacher_weights = [w.copy() for w in teacher.get_weights()]
    options = DistillOptions(student_hidden=[16, 8], epochs=30, patience=5)
    soft_targets = teacher.predict(data.x_train, verbose=0)
    student = compress.distill(soft_targets, data, options, TrainOptions())
    assert models.count_parameters(student) < models.count_parameters(teacher) / 3
    assert train.keras_accuracy(student, data.x_test, data.y_test) > 0.85
    for old, new in zip(teacher_weights, teacher.get_weights(), strict=True):
        np.testing.assert_array_equal(old, new)  # the teacher stays frozen


def test_same_seed_same_model():
    _, models, train = _tf_pipeline()
    data = load_dataset(None)
    weights = []
    for _ in range(2):
        train.seed_everything(7)
        model = models.mlp(data.input_shape, data.num_classes, [16])
        train.train_baseline(model, data, TrainOptions(epochs=3))
        weights.append(model.get_weights())
    for a, b in zip(*weights, strict=True):
        np.testing.assert_array_equal(a, b)


def test_fine_tune_keeps_the_pruning_mask(trained):
    """A pruned model fine-tuned again keeps its zeros: the next file differs only where
    training changed a weight (small delta patches)."""
    compress, models, train = _tf_pipeline()
    data, baseline = trained
    pruned = compress.prune(
        baseline, data, PruneOptions(final_sparsity=0.7, epochs=3), TrainOptions()
    )
    tuned = models.copy_model(pruned)
    train.train_baseline(tuned, data, TrainOptions(epochs=2, trainable="last"))
    compress.keep_zeros(tuned, pruned)
    for old, new in zip(pruned.get_weights(), tuned.get_weights(), strict=True):
        if old.ndim > 1:
            np.testing.assert_array_equal(old == 0, new == 0)
    changed = [
        not np.array_equal(a, b)
        for a, b in zip(pruned.get_weights(), tuned.get_weights(), strict=True)
    ]
    assert changed[:-2] == [False] * (len(changed) - 2) and any(changed[-2:])
