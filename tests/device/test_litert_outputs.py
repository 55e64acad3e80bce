"""`LoadedModel.run`: inputs as one array, a list or a dict (tensor, short or signature
name), with or without the batch axis; every output by name; a model with a custom op
LiteRT lacks is refused in one line naming the op; `agent predict` reads .npz inputs and
answers bad input with one line, no traceback."""

from __future__ import annotations

import flatbuffers
import numpy as np
import pytest

from litefleet.errors import UserError
from litefleet.litert import LoadedModel, custom_ops, delegate_only_ops
from litefleet.testing import tiny_models

from .test_e2e import cli


def with_custom_op(content: bytes, op: str) -> bytes:
    """The model with its first operator turned into custom op `op` (a file from a
    framework with its own kernels)."""
    from ai_edge_litert import schema_py_generated as schema

    model = schema.ModelT.InitFromObj(schema.Model.GetRootAsModel(bytearray(content), 0))
    code = model.operatorCodes[model.subgraphs[0].operators[0].opcodeIndex]
    code.builtinCode = code.deprecatedBuiltinCode = schema.BuiltinOperator.CUSTOM
    code.customCode = op
    builder = flatbuffers.Builder(1024)
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    return bytes(builder.Output())


def test_inputs_with_or_without_batch_axis_and_by_any_name():
    model = LoadedModel(tiny_models.model("v1-int8"))
    x = np.random.default_rng(0).normal(size=(5, 8)).astype(np.float32)
    name = model.output_names[0]
    batch = model.run(x)[name]
    assert batch.shape == (5, 3) and batch.dtype == np.float32  # dequantized
    assert model.run(x[0])[name].shape == (3,)
    assert np.array_equal(model.run([x])[name], batch)
    assert np.array_equal(model.run({model.input_names[0]: x})[name], batch)
    assert np.array_equal(model.predict(x[1]), batch[1])
    with pytest.raises(UserError, match="does not match the model's"):
        model.run(x[:, :3])
    with pytest.raises(UserError, match="unknown"):
        model.run({"nope": x})


def test_a_custom_op_litert_lacks_is_named_in_one_line():
    content = with_custom_op(tiny_models.model("v1-float32"), "MyFancyOp")
    assert custom_ops(content) == ["MyFancyOp"]
    with pytest.raises(UserError) as err:
        LoadedModel(content)
    message = str(err.value)
    assert "custom op MyFancyOp not built into LiteRT" in message and "\n" not in message
    assert delegate_only_ops(tiny_models.model("v1-float32")) == []


def test_agent_predict_reads_npz_inputs_and_refuses_bad_ones_in_one_line(
    tmp_path, registry, device, build, data
):
    from litefleet.device.agent import Agent

    x, _ = data
    registry.publish(build("v1"), 1)
    home = device("p1")
    Agent(home).check()
    np.savez(tmp_path / "in.npz", in0=x[:2])
    ok = cli("predict", tmp_path / "in.npz", "--home", home)
    assert ok.returncode == 0, ok.stderr
    np.save(tmp_path / "bad.npy", np.zeros((2, 5), np.float32))
    bad = cli("predict", tmp_path / "bad.npy", "--home", home)
    assert bad.returncode == 2 and "Traceback" not in bad.stderr
    assert "does not match" in bad.stderr and len(bad.stderr.strip().splitlines()) == 1
