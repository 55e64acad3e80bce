"""The Keras models of a build: the default MLP, the user's own model, the student.

Every model here is a tf_keras (Keras 2) model because tfmot rejects Keras 3 models.
Models end in a softmax over the classes; the student keeps its logits as a named layer so
distillation can soften them with a temperature.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from litefleet.errors import UserError
from litefleet.pipeline.data import plain
from litefleet.pipeline.tf import keras

LOGITS_LAYER = "logits"


def mlp(
    input_shape: tuple[int, ...], num_classes: int, hidden: list[int], name: str = "mlp"
) -> keras.Model:
    """Dense(relu) layers of the given widths, then a logits layer and a softmax."""
    inputs = keras.Input(shape=input_shape, name="features")
    x = keras.layers.Flatten()(inputs) if len(input_shape) > 1 else inputs
    for i, width in enumerate(hidden):
        x = keras.layers.Dense(width, activation="relu", name=f"dense_{i}")(x)
    logits = keras.layers.Dense(num_classes, name=LOGITS_LAYER)(x)
    outputs = keras.layers.Softmax(name="probabilities")(logits)
    return keras.Model(inputs, outputs, name=name)


def load_model(path: Path) -> keras.Model:
    """A user's tf_keras model from a `.keras`/`.h5` file or a SavedModel folder."""
    if not path.exists():
        raise UserError(f"model not found: {path}")
    try:
        model = keras.models.load_model(path, compile=False)
    except Exception as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise UserError(f"cannot load Keras model {path}: {first}") from None
    if not isinstance(model, keras.Model) or not hasattr(model, "layers"):
        raise UserError(f"{path} is not a Keras Sequential or Functional model")
    return model


def check_fits(model: keras.Model, input_shape: tuple[int, ...], num_classes: int) -> None:
    """Refuse a model whose input or output does not match the data, with both shapes named.

    Works for tf_keras and Keras 3 models; a subclassed model without known shapes is run
    on two zero samples instead."""
    try:
        single = not (isinstance(model.input, list) or isinstance(model.output, list))
        model_in = tuple(model.input_shape[1:])
        model_out_shape = tuple(model.output_shape)
    except (AttributeError, ValueError):  # a subclassed model knows no shapes until called
        _check_by_call(model, input_shape, num_classes)
        return
    if not single:
        raise UserError("the model must have exactly one input and one output")
    if len(model_in) != len(input_shape) or any(
        m is not None and m != d for m, d in zip(model_in, input_shape, strict=True)
    ):
        raise UserError(
            f"model input shape {plain(model_in)} does not match the data's sample shape "
            f"{plain(input_shape)}"
        )
    if len(model_out_shape) != 2 or model_out_shape[-1] != num_classes:
        raise UserError(
            f"model output shape {plain(model_out_shape[1:])} does not match the data's "
            f"{num_classes} classes"
        )


def _check_by_call(model, input_shape: tuple[int, ...], num_classes: int) -> None:
    try:
        out = np.asarray(model(np.zeros((2, *input_shape), np.float32)))
    except Exception as exc:
        first = " ".join(str(exc).split())[:160]
        raise UserError(
            f"the model cannot take the data's samples of shape {plain(input_shape)}: {first}"
        ) from None
    if out.shape != (2, num_classes):
        raise UserError(
            f"model output shape {plain(out.shape[1:])} does not match the data's "
            f"{num_classes} classes"
        )


def copy_model(model: keras.Model) -> keras.Model:
    """An independent copy with the same weights: tfmot wrappers mutate the layers they wrap."""
    clone = keras.models.clone_model(model)
    clone.set_weights(model.get_weights())
    return clone


def count_parameters(model: keras.Model) -> int:
    return int(sum(int(np.prod(w.shape)) for w in model.weights))
