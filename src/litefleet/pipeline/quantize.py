"""Smaller variants of any float `.tflite` file with Google's AI Edge quantizer.

`ai-edge-quantizer` rewrites a converted flatbuffer, so it needs no Keras model and works on
`.tflite` files from any framework. The recipes used here all run in LiteRT's CPU path
(checked by evaluating every file in the interpreter, as for every other candidate):

- `int4`: int4 weights per channel, activations quantized on the fly (dynamic range);
- `weight-int8` / `weight-int4`: weights stored in int8/int4, dequantized to float32 at
  load, float compute (the accuracy of float32 for a quarter/eighth of the weight bytes);
- `dynamic`: int8 weights with dynamic-range activations (the converter's `dynamic`).

Example::

    small = quantize_tflite(Path("baseline-float32.tflite").read_bytes(), "int4")
"""

from __future__ import annotations

from litefleet.errors import UserError
from litefleet.pipeline.quiet import held_native_output
from litefleet.release import Precision

RECIPES: dict[str, str] = {
    "int4": "dynamic_wi4_afp32",
    "weight-int8": "weight_only_wi8_afp32",
    "weight-int4": "weight_only_wi4_afp32",
    "dynamic": "dynamic_wi8_afp32",
}
"""Our precision name -> the quantizer's recipe function in `ai_edge_quantizer.recipe`."""


class QuantizerCannot(UserError):
    """The quantizer refused this model or is not installed: the candidate is skipped."""


def quantize_tflite(float_model: bytes, precision: Precision) -> bytes:
    """`float_model` with its weights quantized as `precision` says (a key of RECIPES)."""
    try:
        from ai_edge_quantizer import quantizer, recipe
    except ImportError:
        raise QuantizerCannot(
            "ai-edge-quantizer is not installed (pip install ai-edge-quantizer)"
        ) from None
    try:
        with held_native_output():
            q = quantizer.Quantizer(bytes(float_model))
            q.load_quantization_recipe(getattr(recipe, RECIPES[precision])())
            result = q.quantize(enable_progress_bar=False, enable_progress_report=False)
    except Exception as exc:
        message = " ".join(str(exc).split())[:200] or type(exc).__name__
        raise QuantizerCannot(f"the AI Edge quantizer cannot make {precision}: {message}") from None
    return bytes(result.quantized_model)
