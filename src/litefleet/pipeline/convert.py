"""Conversion of Keras candidates to `.tflite` with the TF2 converter.

The four recipes: float32 (no optimization), float16 weights, dynamic-range (int8 weights,
float activations) and full int8 (int8 weights and activations, int8 input and output,
ranges calibrated on a representative dataset of real training samples).
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import numpy as np

from litefleet.errors import UserError
from litefleet.pipeline.quiet import held_native_output
from litefleet.pipeline.savedmodel import SavedModelClassifier
from litefleet.pipeline.tf import tf
from litefleet.release import Precision


def representative_samples(x: np.ndarray, count: int, seed: int) -> np.ndarray:
    """A seeded random subset of training inputs, for int8 calibration."""
    rng = np.random.default_rng(seed)
    picked = rng.choice(len(x), size=min(count, len(x)), replace=False)
    return x[np.sort(picked)].astype(np.float32)


def to_tflite(model: object, precision: Precision, calibration: np.ndarray) -> bytes:
    """The model as a `.tflite` flatbuffer in the given precision.

    `model` is a tf_keras or Keras 3 model, or a `SavedModelClassifier` (converted from its
    folder). A model the converter cannot handle raises `UserError` naming the model and
    precision.
    """
    if isinstance(model, SavedModelClassifier):
        converter = tf.lite.TFLiteConverter.from_saved_model(str(model.path))
    else:
        converter = tf.lite.TFLiteConverter.from_keras_model(model)
    if precision == "float16":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.target_spec.supported_types = [tf.float16]
    elif precision == "dynamic":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
    elif precision == "int8":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.representative_dataset = lambda: _one_at_a_time(calibration)
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        converter.inference_input_type = tf.int8
        converter.inference_output_type = tf.int8
    try:
        with held_native_output() as captured:
            return bytes(converter.convert())
    except Exception as exc:
        message = _first_error(str(exc) + "\n" + captured.get("text", ""))
        name = getattr(model, "name", "model")
        raise UserError(
            f"the TFLite converter cannot handle model '{name}' as {precision}: {message}"
        ) from None


def _first_error(text: str) -> str:
    """The converter's first `error:` line (its messages run to pages), else its first line."""
    match = re.search(r"error: (.+)", text)
    line = match.group(1) if match else (text.strip().splitlines() or ["unknown error"])[0]
    return " ".join(line.split())[:240]


def _one_at_a_time(samples: np.ndarray) -> Iterator[list[np.ndarray]]:
    for sample in samples:
        yield [sample[np.newaxis, ...]]
