"""Training with early stopping on a validation split, seeded for repeatable builds."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from litefleet.pipeline.data import Dataset
from litefleet.pipeline.recipe import TrainOptions
from litefleet.pipeline.tf import keras, tf

EpochHook = Callable[[int, int, dict], None]
"""Called after each epoch with (epoch, planned epochs, logs): drives progress bars."""


def seed_everything(seed: int) -> None:
    """Same seed, same data order, same initial weights, same ops: the same model."""
    keras.utils.set_random_seed(seed)
    tf.config.experimental.enable_op_determinism()


class _Progress(keras.callbacks.Callback):
    def __init__(self, hook: EpochHook | None, planned: int) -> None:
        super().__init__()
        self.hook = hook
        self.planned = planned

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        if self.hook:
            self.hook(epoch + 1, self.planned, dict(logs or {}))


def compile_classifier(model: keras.Model, learning_rate: float) -> None:
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate),
        loss=keras.losses.SparseCategoricalCrossentropy(),
        metrics=["accuracy"],
    )


def fit(
    model: keras.Model,
    data: Dataset,
    train: TrainOptions,
    *,
    epochs: int,
    patience: int | None,
    callbacks: list[keras.callbacks.Callback] | None = None,
    hook: EpochHook | None = None,
    y: np.ndarray | None = None,
) -> keras.callbacks.History:
    """`model.fit` on the training split with the recipe's batch size and validation split;
    early stopping (when `patience` is set) restores the best weights."""
    all_callbacks = list(callbacks or [])
    if patience is not None:
        all_callbacks.append(
            keras.callbacks.EarlyStopping(
                monitor="val_loss", patience=patience, restore_best_weights=True
            )
        )
    all_callbacks.append(_Progress(hook, epochs))
    return model.fit(
        data.x_train,
        data.y_train if y is None else y,
        epochs=epochs,
        batch_size=train.batch_size,
        validation_split=train.validation_split,
        shuffle=True,
        callbacks=all_callbacks,
        verbose=0,
    )


def train_baseline(
    model: keras.Model, data: Dataset, options: TrainOptions, hook: EpochHook | None = None
) -> keras.Model:
    """Train in place; with `trainable="last"` only the last layer with weights learns."""
    if options.trainable == "last":
        freeze_all_but_last(model)
    compile_classifier(model, options.learning_rate)
    fit(model, data, options, epochs=options.epochs, patience=options.patience, hook=hook)
    for layer in model.layers:
        layer.trainable = True
    return model


def freeze_all_but_last(model: keras.Model) -> None:
    """Only the last layer with trainable weights learns (a QAT wrapper around a softmax
    has quantizer state but nothing to train, so it does not count)."""
    weighted = [layer for layer in model.layers if layer.trainable_weights]
    for layer in weighted[:-1]:
        layer.trainable = False


def keras_accuracy(model: keras.Model, x: np.ndarray, y: np.ndarray) -> float:
    probabilities = model.predict(x, verbose=0, batch_size=256)
    return float((probabilities.argmax(axis=1) == y).mean())
