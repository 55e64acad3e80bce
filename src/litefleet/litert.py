"""One `.tflite` file in a LiteRT interpreter: the app's arrays in, every output out by name.

Neutral: the device runs models through it and the build measures them with the same
quantize/dequantize, so a build measures what a device will compute.

    model = LoadedModel.from_file(Path("detector.tflite"))
    out = model.run(image)                 # {"boxes": ..., "scores": ..., "count": ...}
    out = model.run({"image": a, "mask": b})   # several inputs: by name, or a list in order
    probs = model.predict(x)               # the first output only (single-output convenience)

Inputs may come with or without the batch axis (decided by rank, per the model's input
shapes); the outputs keep the batch axis exactly when the inputs had it. Quantized int
tensors are fed and read as float32: `LoadedModel` quantizes each input and dequantizes
each output with the tensor's own (scale, zero_point), so an int8 variant and a float32
variant are interchangeable for the caller. A model that does not load says why in one
line, naming the custom ops LiteRT lacks. One `LoadedModel` is NOT thread-safe (neither
is the interpreter): the runtime keeps one per thread.
"""

from __future__ import annotations

import contextlib
import re
import threading
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from litefleet.errors import UserError
from litefleet.native_output import held_native_output
from litefleet.release import Signature, TensorSpec

_first_interpreter_lock = threading.Lock()
_first_interpreter_done = False

Inputs = np.ndarray | Sequence[np.ndarray] | Mapping[str, np.ndarray]
"""One array (single-input model), a list in the model's input order, or a dict by name."""

DELEGATE_ONLY_HINT = (
    "runs only through LiteRT's XNNPACK delegate (it is no built-in op): devices must keep "
    "the default delegates"
)


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
    """A `.tflite` model in a LiteRT interpreter (one per thread).

    Args:
        content: the flatbuffer bytes.
        num_threads: LiteRT CPU threads (at least 1).

    Raises:
        UserError: LiteRT cannot load the model; the line names missing custom ops.
    """

    def __init__(self, content: bytes, num_threads: int = 1) -> None:
        from ai_edge_litert.interpreter import Interpreter

        try:
            with _quiet_first_interpreter():
                self._interp = Interpreter(model_content=content, num_threads=max(1, num_threads))
                self._interp.allocate_tensors()
        except (ValueError, RuntimeError) as exc:
            raise UserError(
                f"model does not load in LiteRT: {load_failure(content, exc)}"
            ) from None
        self._inputs = self._interp.get_input_details()
        self._outputs = self._interp.get_output_details()
        self.signature = signature_of(self._interp)
        self.input_names = [t.name for t in self.signature.inputs]
        self.output_names = unique_names([t.name for t in self.signature.outputs], "output")
        self.input_aliases = input_aliases(self._interp, self._inputs)
        self._sample_shapes = [tuple(int(d) for d in s["shape"][1:]) for s in self._inputs]
        self._flexible = [_flexible_dims(s) for s in self._inputs]
        # an output whose leading dim is 1 carries the batch axis; others are per sample as-is
        self._strip = [len(o["shape"]) > 0 and int(o["shape"][0]) == 1 for o in self._outputs]

    @classmethod
    def from_file(cls, path: Path, num_threads: int = 1) -> LoadedModel:
        return cls(Path(path).read_bytes(), num_threads)

    # ------------------------------------------------------------------ the app's calls

    def run(self, inputs: Inputs) -> dict[str, np.ndarray]:
        """Every output by tensor name, for one sample or a batch (see the module text)."""
        arrays, batched = self.arrange(inputs)
        if not batched:
            return dict(zip(self.output_names, self.run_sample(arrays), strict=True))
        n = len(arrays[0])
        rows = [self.run_sample([a[i] for a in arrays]) for i in range(n)]
        return {
            name: np.stack([r[k] for r in rows]) if rows else np.empty((0,), np.float32)
            for k, name in enumerate(self.output_names)
        }

    def predict(self, x: Inputs) -> np.ndarray:
        """The first output only, for one sample or a batch (the single-output convenience)."""
        return self.run(x)[self.output_names[0]]

    def run_sample(self, sample: Sequence[np.ndarray]) -> list[np.ndarray]:
        """One sample (inputs in model order, no batch axis): outputs in model order, float32
        for quantized tensors. The hot path: no checks beyond LiteRT's own."""
        interp = self._interp
        for spec, x in zip(self._inputs, sample, strict=True):
            interp.set_tensor(spec["index"], quantize(np.asarray(x)[None], spec))
        interp.invoke()
        # get_tensor copies: no view survives the next invoke()
        return [
            dequantize(
                interp.get_tensor(o["index"])[0] if strip else interp.get_tensor(o["index"]), o
            )
            for o, strip in zip(self._outputs, self._strip, strict=True)
        ]

    # ------------------------------------------------------------------ input checks

    def arrange(self, inputs: Inputs) -> tuple[list[np.ndarray], bool]:
        """`inputs` as arrays in the model's input order, and whether they carry a batch
        axis (all of them, with one batch size), or a `UserError` saying what was expected."""
        arrays = self._in_order(inputs)
        batched_flags = []
        for name, shape, flex, a in zip(
            self.input_names, self._sample_shapes, self._flexible, arrays, strict=True
        ):
            if _fits(a.shape, shape, flex):
                batched_flags.append(False)
            elif a.ndim == len(shape) + 1 and _fits(a.shape[1:], shape, flex):
                batched_flags.append(True)
            else:
                raise UserError(
                    f"input {name!r} of shape {tuple(a.shape)} does not match the model's "
                    f"{shape} per sample (or a batch of them)"
                )
        if len(set(batched_flags)) > 1:
            raise UserError("give every input with a batch axis, or none of them")
        batched = batched_flags[0]
        if batched and len({len(a) for a in arrays}) > 1:
            sizes = {n: len(a) for n, a in zip(self.input_names, arrays, strict=True)}
            raise UserError(f"inputs have different batch sizes: {sizes}")
        return arrays, batched

    def _in_order(self, inputs: Inputs) -> list[np.ndarray]:
        names = self.input_names
        if isinstance(inputs, Mapping):
            inputs = {self.input_aliases.get(k, k): v for k, v in inputs.items()}
            missing = [n for n in names if n not in inputs]
            unknown = sorted(set(inputs) - set(names))
            if missing or unknown:
                raise UserError(
                    f"inputs by name: missing {missing}, unknown {unknown}; the model takes {names}"
                )
            given = [inputs[n] for n in names]
        elif isinstance(inputs, np.ndarray) or (len(names) == 1 and not _one_array_list(inputs)):
            if len(names) != 1:
                raise UserError(
                    f"the model takes {len(names)} inputs {names}: give a list or a dict by name"
                )
            given = [inputs]
        else:
            given = list(inputs)
            if len(given) != len(names):
                raise UserError(f"{len(given)} inputs given; the model takes {len(names)}: {names}")
        out = []
        for name, x in zip(names, given, strict=True):
            try:
                out.append(np.asarray(x))
            except (ValueError, TypeError):
                raise UserError(f"input {name!r} is not a regular array of numbers") from None
            if out[-1].dtype.kind not in "biuf":
                raise UserError(f"input {name!r} holds {out[-1].dtype}, not numbers")
        return out


def _one_array_list(inputs: object) -> bool:
    """`[array]` for a one-input model is the list of inputs; a nested list of numbers is
    the input itself (a JSON sample)."""
    return (
        isinstance(inputs, list | tuple) and len(inputs) == 1 and isinstance(inputs[0], np.ndarray)
    )


def _flexible_dims(spec: dict) -> tuple[bool, ...]:
    sig = spec.get("shape_signature")
    if sig is None or len(sig) != len(spec["shape"]):
        return tuple(False for _ in spec["shape"][1:])
    return tuple(int(d) == -1 for d in sig[1:])


def _fits(shape: tuple, sample: tuple, flexible: tuple[bool, ...]) -> bool:
    return len(shape) == len(sample) and all(
        f or int(a) == b for a, b, f in zip(shape, sample, flexible, strict=True)
    )


def short_name(tensor_name: str) -> str:
    """`serving_default_image:0` -> `image`: the name a converter gave a Keras input."""
    name = tensor_name.removeprefix("serving_default_")
    return re.sub(r":\d+$", "", name)


def input_aliases(interpreter: Any, details: list[dict]) -> dict[str, str]:
    """Other names an input may be given by: its SignatureDef name and its short name."""
    by_index = {d["index"]: str(d["name"]) for d in details}
    aliases = {short_name(n): n for n in by_index.values()}
    try:
        signatures = interpreter._get_full_signature_list() or {}
    except Exception:  # no SignatureDefs in the file (many real models)
        signatures = {}
    for sig in signatures.values():
        for alias, index in sig.get("inputs", {}).items():
            if index in by_index:
                aliases.setdefault(alias, by_index[index])
    return {a: n for a, n in aliases.items() if a not in by_index}


def unique_names(names: list[str], prefix: str) -> list[str]:
    """Tensor names as keys: an empty or repeated name becomes `<prefix><i>`."""
    seen: set[str] = set()
    out = []
    for i, name in enumerate(names):
        key = name if name and name not in seen else f"{prefix}{i}"
        seen.add(key)
        out.append(key)
    return out


# --------------------------------------------------------------------------- load failures


def custom_ops(content: bytes) -> list[str]:
    """The custom op names a `.tflite` flatbuffer uses (empty when unreadable)."""
    try:
        from ai_edge_litert import schema_py_generated as schema

        model = schema.Model.GetRootAsModel(bytearray(content), 0)
        names = []
        for i in range(model.OperatorCodesLength()):
            code = model.OperatorCodes(i).CustomCode()
            if code:
                names.append(code.decode("utf-8", "replace"))
        return sorted(set(names))
    except Exception:  # a damaged flatbuffer: the load error says enough
        return []


def load_failure(content: bytes, exc: BaseException) -> str:
    """LiteRT's refusal in one line; when custom ops are to blame, name them."""
    text = " ".join(str(exc).split())
    unresolved = sorted(set(re.findall(r"unresolved custom op: ([^\s.]+)", text)))
    if unresolved:
        return (
            f"custom op{'s' if len(unresolved) > 1 else ''} {', '.join(unresolved)} "
            "not built into LiteRT (register it in the runtime or export without it)"
        )
    return text[:300] or type(exc).__name__


def delegate_only_ops(content: bytes) -> list[str]:
    """Custom ops of a model that loads only because a default delegate (XNNPACK) takes
    them: empty when the model runs on built-in kernels alone (or has no custom op)."""
    ops = custom_ops(content)
    if not ops:
        return []
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    try:
        with held_native_output():
            plain = Interpreter(
                model_content=content,
                experimental_op_resolver_type=OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES,
            )
            plain.allocate_tensors()
    except (ValueError, RuntimeError) as exc:
        text = str(exc)
        return [op for op in ops if op in text] or ops
    return []


# --------------------------------------------------------------------------- signatures


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
    """Float input -> the tensor's type, with its per-tensor (scale, zero_point) if any."""
    dtype = np.dtype(spec["dtype"])
    scale, zero = spec.get("quantization", (0.0, 0))
    if dtype.kind in "iu" and scale:
        info = np.iinfo(dtype)
        q = np.round(x.astype(np.float32) / scale + zero)
        return np.clip(q, info.min, info.max).astype(dtype)
    return x.astype(dtype, copy=False)


def dequantize(y: np.ndarray, spec: dict) -> np.ndarray:
    """A quantized output back to float32; a float output as float32; other types as-is
    (an int32 count or class id stays an integer)."""
    dtype = np.dtype(spec["dtype"])
    scale, zero = spec.get("quantization", (0.0, 0))
    if dtype.kind in "iu" and scale:
        return (y.astype(np.float32) - zero) * scale
    if dtype.kind == "f":
        return y.astype(np.float32, copy=False)
    return y
