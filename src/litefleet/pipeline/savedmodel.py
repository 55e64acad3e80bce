"""A SavedModel without Keras metadata (`model.export()`, `tf.saved_model.save`).

Such a folder is a frozen graph with a `serving_default` signature: litefleet runs it for
the reference outputs (and as a distillation teacher) and converts it with
`TFLiteConverter.from_saved_model` in every precision. It holds no Keras layers, so
fine-tuning, pruning and quantization-aware training do not apply to it.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from litefleet.errors import UserError
from litefleet.pipeline.data import plain
from litefleet.pipeline.tf import tf


class SavedModelClassifier:
    """The `serving_default` function of a SavedModel: one input, one output."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        try:
            self._loaded = tf.saved_model.load(str(path))
        except Exception as exc:
            first = " ".join(str(exc).split())[:240]
            raise UserError(f"cannot load SavedModel {path}: {first}") from None
        signature = self._loaded.signatures.get("serving_default")
        if signature is None:
            raise UserError(f"SavedModel {path} has no serving_default signature")
        args, kwargs = signature.structured_input_signature
        specs = list(args) + list(kwargs.values())
        outputs = signature.structured_outputs
        if len(specs) != 1 or len(outputs) != 1:
            raise UserError(
                f"SavedModel {path} must have exactly one input and one output "
                f"(it has {len(specs)} and {len(outputs)})"
            )
        self._signature = signature
        self._input_name = next(iter(kwargs)) if kwargs else None
        self._output_name = next(iter(outputs))
        self.input_shape = tuple(specs[0].shape.as_list()[1:])
        self.output_shape = tuple(outputs[self._output_name].shape.as_list()[1:])
        self.name = self.path.name

    def check_fits(self, input_shape: tuple[int, ...], num_classes: int) -> None:
        model_in = self.input_shape
        if len(model_in) != len(input_shape) or any(
            m is not None and m != d for m, d in zip(model_in, input_shape, strict=True)
        ):
            raise UserError(
                f"model input shape {plain(model_in)} does not match the data's sample shape "
                f"{plain(input_shape)}"
            )
        if self.output_shape != (num_classes,):
            raise UserError(
                f"model output shape {plain(self.output_shape)} does not match the data's "
                f"{num_classes} classes"
            )

    def predict(self, x: np.ndarray, batch_size: int = 256) -> np.ndarray:
        parts = []
        for start in range(0, len(x), batch_size):
            batch = tf.constant(x[start : start + batch_size].astype(np.float32))
            out = self._signature(**{self._input_name: batch})
            parts.append(out[self._output_name].numpy())
        return np.concatenate(parts)
