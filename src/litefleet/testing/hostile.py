"""Hostile `.tflite` files, generated from a real tiny model, for tests and the selftest.

Each class is what a bad exporter or a holder of the targets key could sign; none may take
a device or the publisher down. Flatbuffer edits use the LiteRT schema bindings
(`ai_edge_litert.schema_py_generated`, no TensorFlow); the WHILE loop is built with
TensorFlow (`while_loop_model`, the build side) because the schema cannot invent a graph.

    base = Path("v1-float32.tflite").read_bytes()
    bad = relabel_ops(base)          # a valid flatbuffer whose kernels get the wrong tensors
    `python -m litefleet.testing.hostile OUT BASE.tflite` writes every class to OUT.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

RELABEL_TO = 49
"""BuiltinOperator code written over every operator: SPLIT on the tensors and options of a
FULLY_CONNECTED/SOFTMAX graph. A flatbuffer LiteRT accepts, and its kernel segfaults in
`allocate_tensors` every time, from a path or from bytes (ai-edge-litert 2.3; found by a
sweep of every code: 49, 65, 126 and 144 always crash, 45 only sometimes)."""


def _unpack(data: bytes):
    from ai_edge_litert import schema_py_generated as schema

    return schema.ModelT.InitFromPackedBuf(bytearray(data), 0)


def _pack(model) -> bytes:
    import flatbuffers

    builder = flatbuffers.Builder(1024)
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    return bytes(builder.Output())


def relabel_ops(data: bytes, code: int = RELABEL_TO) -> bytes:
    """Every operator code replaced by `code`: operator options no longer match the op."""
    model = _unpack(data)
    for oc in model.operatorCodes:
        oc.builtinCode = code
        oc.deprecatedBuiltinCode = min(code, 127)
    return _pack(model)


def custom_op(data: bytes, name: str = "LitefleetNoSuchOp") -> bytes:
    """The first operator becomes a custom op no LiteRT build has."""
    from ai_edge_litert import schema_py_generated as schema

    model = _unpack(data)
    oc = model.operatorCodes[0]
    oc.builtinCode = schema.BuiltinOperator.CUSTOM
    oc.deprecatedBuiltinCode = schema.BuiltinOperator.CUSTOM
    oc.customCode = name
    return _pack(model)


def huge_tensor(data: bytes, batch: int = 1 << 24) -> bytes:
    """The input's batch axis set to `batch` (2**24 rows): the tensors need about a gigabyte."""
    model = _unpack(data)
    graph = model.subgraphs[0]
    for i in list(graph.inputs):
        graph.tensors[i].shape[0] = batch
        if graph.tensors[i].shapeSignature is not None:
            graph.tensors[i].shapeSignature[0] = batch
    return _pack(model)


def truncated(data: bytes, keep: float = 0.5) -> bytes:
    return data[: max(8, int(len(data) * keep))]


def while_loop_model(steps: int = 2_000_000_000, features: int = 8, classes: int = 3) -> bytes:
    """A valid model whose WHILE loop runs `steps` times per call (needs TensorFlow)."""
    import os

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import numpy as np
    import tensorflow as tf

    w = tf.constant(np.ones((features, classes), np.float32))

    @tf.function(input_signature=[tf.TensorSpec([1, features], tf.float32)])
    def f(x):
        def body(i, acc):
            return i + 1, acc * 0.999999 + 1e-6

        _, acc = tf.while_loop(lambda i, _: i < steps, body, [tf.constant(0), x])
        return tf.nn.softmax(tf.matmul(acc, w))

    conv = tf.lite.TFLiteConverter.from_concrete_functions([f.get_concrete_function()], f)
    return conv.convert()


EDITS: dict[str, Callable[[bytes], bytes]] = {
    "relabelled-ops": relabel_ops,
    "custom-op": custom_op,
    "huge-tensor": huge_tensor,
    "truncated": truncated,
}
"""Hostile classes made by editing a real model (no TensorFlow needed)."""


def write_all(out: Path, base: bytes, with_tf: bool = True) -> dict[str, Path]:
    """Write `<class>.tflite` for every class to `out`; the WHILE loop only `with_tf`."""
    out.mkdir(parents=True, exist_ok=True)
    files = {}
    for name, edit in EDITS.items():
        files[name] = out / f"{name}.tflite"
        files[name].write_bytes(edit(base))
    if with_tf:
        files["huge-loop"] = out / "huge-loop.tflite"
        files["huge-loop"].write_bytes(while_loop_model())
    return files


if __name__ == "__main__":
    write_all(Path(sys.argv[1]), Path(sys.argv[2]).read_bytes())
