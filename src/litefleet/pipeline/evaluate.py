"""Evaluation of a `.tflite` file in the LiteRT interpreter: what a device will really run.

Accuracy and agreement are measured on the whole test split through the interpreter, int8
models fed quantized inputs and read back dequantized by the device runtime's own
functions (`litefleet.litert`), so a build measures what a device will compute.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import zstandard
from ai_edge_litert.interpreter import Interpreter

from litefleet.errors import UserError
from litefleet.litert import dequantize, quantize, signature_of
from litefleet.pipeline.quiet import held_native_output
from litefleet.release import Precision, Signature


@dataclass(frozen=True)
class Measurement:
    accuracy: float
    agreement: float
    latency_ms_p50: float
    latency_ms_p95: float
    throughput_per_s: float
    raw_bytes: int
    zstd_bytes: int
    sha256: str
    signature: Signature


def predict_batch(interpreter: Interpreter, x: np.ndarray) -> np.ndarray:
    """Outputs for a whole batch, resizing the input once (fast evaluation of thousands)."""
    inp = interpreter.get_input_details()[0]
    interpreter.resize_tensor_input(inp["index"], [len(x), *inp["shape"][1:]])
    interpreter.allocate_tensors()
    inp = interpreter.get_input_details()[0]
    out = interpreter.get_output_details()[0]
    interpreter.set_tensor(inp["index"], quantize(x, inp))
    interpreter.invoke()
    return dequantize(interpreter.get_tensor(out["index"]), out)


def measure(
    path: Path,
    x_test: np.ndarray,
    y_test: np.ndarray,
    reference_classes: np.ndarray,
    *,
    latency_runs: int,
    throughput_batch: int,
    throughput_seconds: float,
    zstd_level: int,
) -> Measurement:
    raw = path.read_bytes()
    with held_native_output():  # LiteRT's "Created TensorFlow Lite XNNPACK delegate" line
        interpreter = Interpreter(model_path=str(path), num_threads=1)
        interpreter.allocate_tensors()
    signature = signature_of(interpreter)

    predicted = predict_batch(interpreter, x_test).argmax(axis=1)
    p50, p95 = _single_sample_latency(interpreter, x_test, latency_runs)
    throughput = _throughput(interpreter, x_test, throughput_batch, throughput_seconds)
    return Measurement(
        accuracy=float((predicted == y_test).mean()),
        agreement=float((predicted == reference_classes).mean()),
        latency_ms_p50=p50,
        latency_ms_p95=p95,
        throughput_per_s=throughput,
        raw_bytes=len(raw),
        zstd_bytes=len(zstandard.ZstdCompressor(level=zstd_level).compress(raw)),
        sha256=hashlib.sha256(raw).hexdigest(),
        signature=signature,
    )


def inspect_tflite(model: bytes, data) -> tuple[Precision, np.ndarray]:
    """A user's `.tflite` file: its precision (read from its tensors) and its outputs on the
    test split; a file whose input does not fit the data is refused with both shapes."""
    with held_native_output():
        try:
            interpreter = Interpreter(model_content=model, num_threads=1)
            interpreter.allocate_tensors()
        except Exception as exc:
            first = " ".join(str(exc).split())[:200]
            raise UserError(f"LiteRT cannot load this .tflite file: {first}") from None
    inputs, outputs = interpreter.get_input_details(), interpreter.get_output_details()
    if len(inputs) != 1 or len(outputs) != 1:
        raise UserError(
            f"the .tflite model must have one input and one output "
            f"(it has {len(inputs)} and {len(outputs)})"
        )
    model_in = tuple(int(d) for d in inputs[0]["shape"][1:])
    if model_in != data.input_shape:
        raise UserError(
            f"model input shape {model_in} does not match the data's sample shape "
            f"{data.input_shape}"
        )
    out_shape = tuple(int(d) for d in outputs[0]["shape"][1:])
    if out_shape != (data.num_classes,):
        raise UserError(
            f"model output shape {out_shape} does not match the data's {data.num_classes} classes"
        )
    return _precision_of(interpreter), predict_batch(interpreter, data.x_test)


def _precision_of(interpreter: Interpreter) -> Precision:
    """int8 when the input is int8; else by the widest weight type (constant tensors)."""
    if interpreter.get_input_details()[0]["dtype"] == np.int8:
        return "int8"
    kinds = {np.dtype(t["dtype"]).name for t in interpreter.get_tensor_details()}
    if "int8" in kinds:
        return "dynamic"
    if "float16" in kinds:
        return "float16"
    return "float32"


def _single_sample_latency(
    interpreter: Interpreter, x: np.ndarray, runs: int
) -> tuple[float, float]:
    inp = interpreter.get_input_details()[0]
    interpreter.resize_tensor_input(inp["index"], [1, *inp["shape"][1:]])
    interpreter.allocate_tensors()
    inp = interpreter.get_input_details()[0]
    out = interpreter.get_output_details()[0]
    samples = [quantize(x[i % len(x)][np.newaxis, ...], inp) for i in range(runs)]
    for sample in samples[:10]:  # warm-up: first invokes allocate and page in
        interpreter.set_tensor(inp["index"], sample)
        interpreter.invoke()
    timings = np.empty(runs)
    for i, sample in enumerate(samples):
        start = time.perf_counter()
        interpreter.set_tensor(inp["index"], sample)
        interpreter.invoke()
        interpreter.get_tensor(out["index"])
        timings[i] = time.perf_counter() - start
    return float(np.median(timings) * 1e3), float(np.percentile(timings, 95) * 1e3)


def _throughput(interpreter: Interpreter, x: np.ndarray, batch: int, seconds: float) -> float:
    """Samples per second of batched invokes (the input resized once, as a server would)."""
    repeats = int(np.ceil(batch / len(x)))
    batch_x = np.concatenate([x] * repeats)[:batch]
    predict_batch(interpreter, batch_x)  # resizes to this batch and warms up
    inp = interpreter.get_input_details()[0]
    quantized = quantize(batch_x, inp)
    rounds, start = 0, time.perf_counter()
    while rounds < 10 or time.perf_counter() - start < seconds:  # long enough to time reliably
        interpreter.set_tensor(inp["index"], quantized)
        interpreter.invoke()
        rounds += 1
    return rounds * batch / (time.perf_counter() - start)
