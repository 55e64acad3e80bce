"""Keras 3 models as users have them, and their transfer into tf_keras for tfmot.

TF 2.21's `tf.keras` is Keras 3, whose `.keras`/`.h5` files tf_keras cannot read; tfmot
(pruning, QAT) works only on tf_keras. A Keras 3 model made of standard layers in a chain
(Sequential, or a Functional model whose layers follow one another) is rebuilt layer by
layer in tf_keras from each layer's config, its weights copied, and accepted only when both
models give the same outputs on the user's data. Anything else (a residual graph, a custom
or subclassed layer) stays a Keras 3 model: it is trained, distilled and converted as it is,
and the tfmot candidates are skipped with the reason.
"""

from __future__ import annotations

import importlib.util
import inspect
from pathlib import Path

import numpy as np

from litefleet.errors import UserError
from litefleet.pipeline.tf import keras, keras3

TRANSFER_TOLERANCE = 1e-4
"""Largest output difference (probabilities) accepted between the two models."""


class NotTransferable(Exception):
    """The Keras 3 model has no equivalent tf_keras model; the message says why."""


def load_keras3(path: Path, custom_objects: Path | None = None):
    """A Keras 3 model; a layer Keras does not know gets a line naming it and the remedy."""
    k3 = keras3()
    objects = _custom_objects(custom_objects) if custom_objects else {}
    try:
        model = k3.saving.load_model(path, compile=False, custom_objects=objects)
    except Exception as exc:
        text = " ".join(str(exc).split())
        unknown = _unknown_class(text)
        if unknown:
            raise UserError(
                f"{path} is a Keras 3 model with a custom layer or object {unknown}: register "
                "it with --custom-objects module.py (a Python file defining it)"
            ) from None
        raise UserError(f"cannot load Keras 3 model {path}: {text[:240]}") from None
    return model


def _unknown_class(text: str) -> str | None:
    import re

    for pattern in (
        r"Could not locate class '([^']+)'",
        r"Unknown layer: '?([A-Za-z0-9_.>]+)'?",
        r"class_name='?([A-Za-z0-9_]+)'? .*not found",
    ):
        match = re.search(pattern, text)
        if match:
            return match.group(1)
    return None


def _custom_objects(path: Path) -> dict[str, object]:
    """Every class and function a user's Python file defines, by name."""
    if not Path(path).is_file():
        raise UserError(f"custom objects file not found: {path}")
    spec = importlib.util.spec_from_file_location("litefleet_custom_objects", path)
    module = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(module)
    except Exception as exc:
        raise UserError(f"custom objects file {path} fails to import: {exc}") from None
    return {
        name: obj
        for name, obj in vars(module).items()
        if (inspect.isclass(obj) or inspect.isfunction(obj)) and not name.startswith("_")
    }


def with_graph(model, input_shape: tuple[int, ...]):
    """A subclassed model inside a Functional one, so it has inputs and outputs: the
    converter's `from_keras_model` (and its int8 calibration) needs them."""
    try:
        if model.inputs:
            return model
    except (AttributeError, ValueError):
        pass
    k3 = keras3()
    inputs = k3.Input(shape=input_shape, name="features")
    return k3.Model(inputs, model(inputs), name=model.name)


def to_tf_keras(model, x_check: np.ndarray) -> keras.Model:
    """An equivalent tf_keras model, proven equal on `x_check`, or `NotTransferable`."""
    layers = _chain(model)
    rebuilt = [keras.Input(shape=tuple(model.input_shape[1:]), name="features")]
    for layer in layers:
        rebuilt.append(_layer_copy(layer))
    try:
        clone = keras.Sequential(rebuilt, name=model.name)
        for old, new in zip(layers, clone.layers, strict=True):
            new.set_weights(old.get_weights())
    except Exception as exc:
        raise NotTransferable(f"weights do not fit the rebuilt tf_keras layers ({exc})") from None
    sample = x_check[:256].astype(np.float32)
    gap = float(np.max(np.abs(np.asarray(model(sample)) - clone(sample).numpy())))
    if not gap <= TRANSFER_TOLERANCE:
        raise NotTransferable(f"the tf_keras copy's outputs differ by {gap:.2g}")
    return clone


def _chain(model) -> list:
    """The model's layers when each one feeds only the next (no branches)."""
    if not hasattr(model, "layers") or not hasattr(model, "inputs") or model.inputs is None:
        raise NotTransferable("a subclassed model has no layer graph to rebuild")
    layers = [layer for layer in model.layers if type(layer).__name__ != "InputLayer"]
    if len(model.inputs) != 1 or len(model.outputs) != 1:
        raise NotTransferable("the model has more than one input or output")
    previous = _producer(model.inputs[0])
    for layer in layers:
        for node in layer._inbound_nodes:
            sources = [_producer(t) for t in node.input_tensors]
            if sources != [previous]:
                raise NotTransferable(f"layer {layer.name} is not in a single chain (branches)")
        previous = layer.name
    return layers


def _producer(tensor) -> str:
    """The name of the layer whose output `tensor` is (Keras 3 keeps it as history)."""
    return tensor._keras_history.operation.name


def _layer_copy(layer) -> keras.layers.Layer:
    name = type(layer).__name__
    if not type(layer).__module__.startswith("keras.src.layers"):
        raise NotTransferable(f"layer {layer.name} is a custom layer ({name})")
    cls = getattr(keras.layers, name, None)
    if cls is None:
        raise NotTransferable(f"tf_keras has no {name} layer")
    config = _portable_config(layer.get_config(), cls)
    try:
        return cls.from_config(config)
    except Exception as exc:
        raise NotTransferable(f"layer {layer.name} ({name}): {exc}") from None


def _portable_config(config: dict, cls: type) -> dict:
    """Keras 3 config keys tf_keras understands; initializers dropped (weights are copied)."""
    accepted = set(inspect.signature(cls.__init__).parameters) | {"name", "trainable", "dtype"}
    out = {}
    for key, value in config.items():
        if key not in accepted or key.endswith("_initializer"):
            continue
        if key == "dtype" and isinstance(value, dict):  # a DTypePolicy config
            value = value.get("config", {}).get("name", "float32")
        if isinstance(value, dict) and "class_name" in value:
            if value.get("config") is None and value["class_name"] is None:
                continue
            raise NotTransferable(f"option {key} ({value['class_name']}) has no portable form")
        out[key] = value
    return out


def fit_keras3(model, data, options, *, epochs: int, patience: int | None) -> None:
    """Train a Keras 3 model with Keras 3's own loop (tf_keras callbacks do not apply)."""
    k3 = keras3()
    if options.trainable == "last":
        weighted = [layer for layer in model.layers if layer.trainable_weights]
        for layer in weighted[:-1]:
            layer.trainable = False
    model.compile(
        optimizer=k3.optimizers.Adam(options.learning_rate),
        loss=k3.losses.SparseCategoricalCrossentropy(),
        metrics=["accuracy"],
    )
    callbacks = []
    if patience is not None:
        callbacks.append(
            k3.callbacks.EarlyStopping(
                monitor="val_loss", patience=patience, restore_best_weights=True
            )
        )
    model.fit(
        data.x_train,
        data.y_train,
        epochs=epochs,
        batch_size=options.batch_size,
        validation_split=options.validation_split,
        shuffle=True,
        callbacks=callbacks,
        verbose=0,
    )
    for layer in model.layers:
        layer.trainable = True
