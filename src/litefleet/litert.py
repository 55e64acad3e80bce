"""One `.tflite` file in a LiteRT interpreter: the app's float arrays in, float arrays out.

Neutral: the device runs models through it and the build measures them with the same
quantize/dequantize, so a build measures what a device will compute.

Full-int8 models take and return int8 tensors; `LoadedModel` quantizes inputs and
dequantizes outputs with each tensor's own (scale, zero_point), so the caller never sees
the difference. One `LoadedModel` is NOT thread-safe (neither is the interpreter): the
runtime keeps one per thread.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from litefleet.errors import UserError
from litefleet.native_output import held_native_output
from litefleet.release import Signature, TensorSpec

_first_interpreter_lock = threading.Lock()
_first_interpreter_done = False


@contextlib.contextmanager
def _quiet_first_interpreter() -> Iterator[None]:
    """LiteRT prints "Created TensorFlow Lite XNNPACK delegate" from C++ once per process, on
    the first interpreter, past `TF_CPP_MIN_LOG_LEVEL`. Hold native output back around that
    first creation only: later ones print nothing, so the descriptors are swapped once, at
    start-up, not on every hot swap (`LITEFLEET_VERBOSE=1` lets the line through)."""
    global _first_interpreter_done
    if _first_interpreter_done:
        yield
        return
    with _first_interpreter_lock:
        if _first_interpreter_done:
            yield
            return
        with held_native_output():
            yield
        _first_interpreter_done = True


class LoadedModel:
    def __init__(self, content: bytes, num_threads: int = 1) -> None:
        from ai_edge_litert.interpreter import Interpreter

        try:
            with _quiet_first_interpreter():
                self._interp = Interpreter(model_content=content, num_threads=max(1, num_threads))
                self._interp.allocate_tensors()
        except (ValueError, RuntimeError) as exc:
            raise UserError(f"model does not load in LiteRT: {exc}") from None
        self._inputs = self._interp.get_input_details()
        self._outputs = self._interp.get_output_details()
        self.signature = signature_of(self._interp)

    @classmethod
    def from_file(cls, path: Path, num_threads: int = 1) -> LoadedModel:
        return cls(Path(path).read_bytes(), num_threads)

    def predict(self, x: np.ndarray) -> np.ndarray:
        """Run a batch (or one sample without the batch axis) through the first output."""
        x = np.asarray(x)
        spec = self._inputs[0]
        sample_shape = tuple(spec["shape"][1:])
        single = x.shape == sample_shape
        batch = x[None] if single else x
        if batch.shape[1:] != sample_shape:
            raise UserError(f"input shape {x.shape} does not match model input {sample_shape}")
        out = np.stack([self._invoke_one(sample) for sample in batch])
        return out[0] if single else out

    def _invoke_one(self, sample: np.ndarray) -> np.ndarray:
        spec = self._inputs[0]
        self._interp.set_tensor(spec["index"], quantize(sample[None], spec))
        self._interp.invoke()
        out = self._outputs[0]
        # get_tensor copies: no view survives the next invoke()
        return dequantize(self._interp.get_tensor(out["index"])[0], out)


def app_view(sig: Signature) -> Signature:
    """The signature as the app sees it: quantized int tensors are fed and read as float32
    (LoadedModel converts), so an int8 variant and a float32 variant are interchangeable."""

    def one(t: TensorSpec) -> TensorSpec:
        if t.scale and t.dtype in ("int8", "uint8", "int16"):
            return TensorSpec(name=t.name, shape=t.shape, dtype="float32")
        return t

    return Signature(inputs=[one(t) for t in sig.inputs], outputs=[one(t) for t in sig.outputs])


def signature_of(interpreter: Any) -> Signature:
    """The input and output tensors of an allocated LiteRT interpreter."""
    return Signature(
        inputs=[tensor_spec(d) for d in interpreter.get_input_details()],
        outputs=[tensor_spec(d) for d in interpreter.get_output_details()],
    )


def tensor_spec(d: dict) -> TensorSpec:
    scale, zero = d.get("quantization", (0.0, 0))
    return TensorSpec(
        name=str(d["name"]),
        shape=[int(s) for s in d["shape"]],
        dtype=np.dtype(d["dtype"]).name,
        scale=float(scale),
        zero_point=int(zero),
    )


def quantize(x: np.ndarray, spec: dict) -> np.ndarray:
    dtype = np.dtype(spec["dtype"])
    scale, zero = spec.get("quantization", (0.0, 0))
    if dtype.kind in "iu" and scale:
        info = np.iinfo(dtype)
        q = np.round(x.astype(np.float32) / scale + zero)
        return np.clip(q, info.min, info.max).astype(dtype)
    return x.astype(dtype, copy=False)


def dequantize(y: np.ndarray, spec: dict) -> np.ndarray:
    scale, zero = spec.get("quantization", (0.0, 0))
    if np.dtype(spec["dtype"]).kind in "iu" and scale:
        return (y.astype(np.float32) - zero) * scale
    return y.astype(np.float32, copy=False)
