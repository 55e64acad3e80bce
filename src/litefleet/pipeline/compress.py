"""Compression of a trained baseline: magnitude pruning, quantization-aware training and
knowledge distillation. Each returns a new model; the baseline is never mutated.

- Pruning: tfmot `prune_low_magnitude` with a `PolynomialDecay` schedule, fine-tuned with
  `UpdatePruningStep`, then `strip_pruning` (the exported model is an ordinary Keras model
  whose pruned weights are exact zeros).
- QAT: tfmot `quantize_model` (fake-quant nodes learn int8 ranges), fine-tuned; the
  converter turns it into a real int8 model.
- Distillation: there is no `tfmot.distillation`; `Distiller` trains a smaller student on
  a·CE(labels) + (1−a)·T²·KL(softmax(teacher/T) ‖ softmax(student/T)).
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from litefleet.pipeline.data import Dataset
from litefleet.pipeline.models import LOGITS_LAYER, copy_model, mlp
from litefleet.pipeline.recipe import DistillOptions, PruneOptions, QatOptions, TrainOptions
from litefleet.pipeline.tf import keras, tf, tfmot
from litefleet.pipeline.train import EpochHook, compile_classifier, fit, freeze_all_but_last


def prune(
    baseline: keras.Model,
    data: Dataset,
    options: PruneOptions,
    train: TrainOptions,
    hook: EpochHook | None = None,
) -> keras.Model:
    """Magnitude-prune a copy of `baseline` to `final_sparsity` on a polynomial schedule."""
    train_samples = int(len(data.x_train) * (1 - train.validation_split))
    steps_per_epoch = math.ceil(train_samples / train.batch_size)
    end_step = steps_per_epoch * max(options.epochs - 1, 1)
    sparsity = tfmot().sparsity.keras
    schedule = sparsity.PolynomialDecay(
        initial_sparsity=options.initial_sparsity,
        final_sparsity=options.final_sparsity,
        begin_step=steps_per_epoch * options.begin_epoch,
        end_step=end_step,
        power=options.power,
        frequency=options.frequency,
    )
    wrapped = sparsity.prune_low_magnitude(copy_model(baseline), pruning_schedule=schedule)
    compile_classifier(wrapped, train.learning_rate)
    fit(
        wrapped,
        data,
        train,
        epochs=options.epochs,
        patience=None,  # early stopping would cut the schedule short of its final sparsity
        callbacks=[sparsity.UpdatePruningStep()],
        hook=hook,
    )
    stripped = sparsity.strip_pruning(wrapped)
    stripped._name = "pruned"
    return stripped


def quantization_aware(
    model: keras.Model,
    data: Dataset,
    options: QatOptions,
    train: TrainOptions,
    hook: EpochHook | None = None,
) -> keras.Model:
    """Fine-tune a copy of `model` with fake-quantization so int8 conversion loses little."""
    qat = tfmot().quantization.keras.quantize_model(copy_model(model))
    compile_classifier(qat, options.learning_rate)
    fit(
        qat,
        data,
        train,
        epochs=options.epochs,
        patience=None,
        hook=hook,
    )
    return qat


def fine_tune_qat(
    model: keras.Model,
    previous_weights: Path,
    data: Dataset,
    options: QatOptions,
    train: TrainOptions,
    hook: EpochHook | None = None,
) -> keras.Model:
    """The previous build's QAT model (same architecture, its saved weights and quantizer
    ranges) with only its last layer trained again: a small delta to the previous file."""
    qat = tfmot().quantization.keras.quantize_model(copy_model(model))
    qat.load_weights(previous_weights)
    freeze_all_but_last(qat)
    frozen = {layer.name: layer.get_weights() for layer in qat.layers if not layer.trainable}
    compile_classifier(qat, options.learning_rate)
    fit(qat, data, train, epochs=options.epochs, patience=None, hook=hook)
    # A frozen layer's fake-quant ranges are moving averages that training still updates;
    # they set the int8 scales of every layer, so they are put back: only the last layer's
    # bytes may change.
    for layer in qat.layers:
        if layer.name in frozen:
            layer.set_weights(frozen[layer.name])
        layer.trainable = True
    return qat


class Distiller(keras.Model):
    """Trains `student` from a teacher's softened outputs and the true labels.

    The teacher is frozen, so its outputs are computed once before training and packed
    beside the labels (`y = [label, p_1 … p_k]`): any teacher works — a tf_keras or Keras 3
    model, a SavedModel. Teacher probabilities stand in for logits: their logarithms differ
    from the logits by a per-sample constant, which a softmax ignores.
    """

    def __init__(self, student: keras.Model, temperature: float, alpha: float) -> None:
        super().__init__()
        self.student = student
        self.student_logits = keras.Model(student.input, student.get_layer(LOGITS_LAYER).output)
        self.temperature = temperature
        self.alpha = alpha
        self.hard_loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
        self.soft_loss = keras.losses.KLDivergence()
        self.accuracy = keras.metrics.SparseCategoricalAccuracy(name="accuracy")
        self.loss_tracker = keras.metrics.Mean(name="loss")

    @property
    def metrics(self) -> list:
        return [self.loss_tracker, self.accuracy]

    def _distillation_loss(self, x, packed, training: bool):
        y = tf.cast(packed[:, 0], tf.int32)
        teacher_log_p = tf.math.log(tf.clip_by_value(packed[:, 1:], 1e-7, 1.0))
        logits = self.student_logits(x, training=training)
        t = self.temperature
        soft = self.soft_loss(
            tf.nn.softmax(teacher_log_p / t, axis=1), tf.nn.softmax(logits / t, axis=1)
        )
        hard = self.hard_loss(y, logits)
        return self.alpha * hard + (1 - self.alpha) * t * t * soft, y, logits

    def train_step(self, data):
        x, packed = data
        with tf.GradientTape() as tape:
            loss, y, logits = self._distillation_loss(x, packed, training=True)
        variables = self.student_logits.trainable_variables
        self.optimizer.apply_gradients(zip(tape.gradient(loss, variables), variables, strict=True))
        return self._track(loss, y, logits)

    def test_step(self, data):
        x, packed = data
        loss, y, logits = self._distillation_loss(x, packed, training=False)
        return self._track(loss, y, logits)

    def _track(self, loss, y, logits) -> dict:
        self.loss_tracker.update_state(loss)
        self.accuracy.update_state(y, logits)
        return {m.name: m.result() for m in self.metrics}

    def call(self, x, training: bool = False):
        return self.student(x, training=training)


def distill(
    teacher_probabilities: np.ndarray,
    data: Dataset,
    options: DistillOptions,
    train: TrainOptions,
    hook: EpochHook | None = None,
    student: keras.Model | None = None,
) -> keras.Model:
    """`student` (default: an MLP of `student_hidden` widths; it must name its logits layer
    `logits`) trained to imitate the teacher, whose outputs on `data.x_train` are
    `teacher_probabilities`."""
    if student is None:
        student = mlp(data.input_shape, data.num_classes, options.student_hidden, name="student")
    distiller = Distiller(student, options.temperature, options.alpha)
    distiller.compile(optimizer=keras.optimizers.Adam(train.learning_rate))
    packed = np.concatenate(
        [data.y_train[:, np.newaxis].astype(np.float32), teacher_probabilities.astype(np.float32)],
        axis=1,
    )
    fit(
        distiller,
        data,
        train,
        epochs=options.epochs,
        patience=options.patience,
        hook=hook,
        y=packed,
    )
    return student


def keep_zeros(model: keras.Model, pruned: keras.Model) -> keras.Model:
    """Put back the exact zeros of `pruned` into `model` (same architecture) — a fine-tune
    of a pruned model keeps its mask, so the files of two versions differ only where the
    training changed a weight."""
    weights = [
        np.where(old == 0, 0, new) if old.ndim > 1 else new
        for new, old in zip(model.get_weights(), pruned.get_weights(), strict=True)
    ]
    model.set_weights(weights)
    return model


def weight_sparsity(model: keras.Model) -> float:
    """Share of exact zeros among kernel weights (biases and quantizer state excluded)."""
    kernels = [w.numpy() for w in model.weights if "kernel" in w.name and "quantize" not in w.name]
    if not kernels:
        return 0.0
    total = sum(k.size for k in kernels)
    return float(sum(int(np.count_nonzero(k == 0)) for k in kernels) / total)
