"""Any model, any number of inputs and outputs, end to end: a prebuilt `.tflite` and an
inputs-only `.npz` go through `litefleet build` (no TensorFlow), `publish` into a real
signed repository, a real agent installs the release over HTTP, `agent predict` answers
every output by name, and a v2 arrives as a patch. Every output equals the plain LiteRT
interpreter's on the same file.

The models (`tests/user_models.py`: a detector with boxes/scores/count, a segmenter with a
dense (32, 32, 1) output, a 224x224x3 MobileNetV2 classifier, a two-input classifier) are
made once with Keras 3 and cached in pytest's cache folder by the generator's hash.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from litefleet.release import BuildReport

from .user_models import cached_models

RUNNER = Path(__file__).parent / "device" / "cli_runner.py"

pytestmark = pytest.mark.slow


@pytest.fixture(scope="session")
def user_models(request) -> Path:
    return cached_models(request.config.cache.mkdir("litefleet-user-models"))


def plain_interpreter(path: Path, inputs: list[np.ndarray]) -> list[np.ndarray]:
    """Every output of every sample by LiteRT alone, in output order (float files only)."""
    from ai_edge_litert.interpreter import Interpreter

    interp = Interpreter(model_path=str(path), num_threads=1)
    interp.allocate_tensors()
    ins, outs = interp.get_input_details(), interp.get_output_details()
    rows = []
    for i in range(len(inputs[0])):
        for d, a in zip(ins, inputs, strict=True):
            interp.set_tensor(d["index"], a[i : i + 1].astype(d["dtype"]))
        interp.invoke()
        rows.append([interp.get_tensor(o["index"]) for o in outs])
    return [np.concatenate([r[k] for r in rows]) for k in range(len(outs))]


QUICK = "[evaluate]\nlatency_runs = 10\n"
"""Latency needs no precision here: 10 timed runs per variant, not 300."""


def build(folder: Path, model: Path, data: Path, *, block_tf: bool = False) -> BuildReport:
    recipe = folder.parent / "quick.toml"
    recipe.write_text(QUICK)
    args = ["build", "--model", str(model), "--data", str(data), "--out", str(folder)]
    args += ["--recipe", str(recipe)]
    if block_tf:  # the real command line in a fresh process where TensorFlow cannot import
        out = subprocess.run(
            [sys.executable, str(RUNNER), "--block-tf", *args], capture_output=True, text=True
        )
        assert out.returncode == 0, out.stderr + out.stdout
    else:
        from litefleet.cli import app

        result = CliRunner().invoke(app, args, catch_exceptions=False)
        assert result.exit_code == 0, result.output
    return BuildReport.model_validate_json((folder / "report.json").read_text())


def model_inputs(data: Path, input_names: list[str]) -> list[np.ndarray]:
    from litefleet.litert import short_name

    with np.load(data) as z:
        arrays = {k: z[k] for k in z.files if k != "y"}
    if "x" in arrays:
        return [arrays["x"]]
    return [arrays[short_name(n)] for n in input_names]


def predict_cli(home: Path, inputs: list[np.ndarray], tmp: Path) -> dict:
    """`agent predict` in a fresh TensorFlow-free process, inputs as an .npz (in0, in1...)."""
    path = tmp / "request.npz"
    np.savez(path, **{f"in{i}": a for i, a in enumerate(inputs)})
    args = ["agent", "predict", str(path), "--home", str(home), "--out", str(tmp / "outputs.npz")]
    out = subprocess.run(
        [sys.executable, str(RUNNER), "--block-tf", *args],
        capture_output=True,
        text=True,
    )
    assert out.returncode == 0, out.stderr
    body = json.loads(out.stdout)
    with np.load(tmp / "outputs.npz") as z:
        body["arrays"] = {k: z[k] for k in z.files}
    return body


def check_outputs(got: dict[str, np.ndarray], model_file: Path, inputs: list[np.ndarray]):
    from litefleet.litert import LoadedModel

    names = LoadedModel.from_file(model_file).output_names
    expected = plain_interpreter(model_file, inputs)
    assert list(got) == names  # every output, by tensor name, in the model's order
    for name, want in zip(names, expected, strict=True):
        assert got[name].shape == want.shape, name
        np.testing.assert_array_equal(got[name], want.astype(np.float32), err_msg=name)


def end_to_end(
    tmp_path: Path, models: Path, kind: str, task: str, *, block_tf: bool = False, quantized=""
):
    """build -> publish -> install -> predict -> v2 as a patch; with `quantized`, a second
    device installs that quantized variant of v1 (the gate's tolerances let it through)."""
    from litefleet.device.agent import Agent
    from litefleet.device.runtime import ModelRuntime
    from litefleet.testing.lab import Lab

    data = models / f"{kind}-inputs.npz"
    v1 = build(tmp_path / "v1", models / f"{kind}-v1.tflite", data, block_tf=block_tf)
    assert v1.task == task and v1.model_kind == "tflite"
    with Lab(tmp_path / "lab", model=kind.replace("_", "-")) as lab:
        lab.publish(tmp_path / "v1", 1, min_accuracy=None)
        home = lab.device("d1", precisions=["float32"])  # the same variant for v1 and v2
        first = Agent(home).check()
        assert (first.action, first.active_version) == ("installed", 1), first.reason
        model_file = tmp_path / "v1" / f"{first.variant}.tflite"
        names = [t.name for t in v1.candidates[0].signature.inputs]
        inputs = [a[:3] for a in model_inputs(data, names)]
        answer = predict_cli(home, inputs, tmp_path)
        assert answer["version"] == 1
        assert list(answer["outputs"]) == list(answer["arrays"])
        check_outputs(answer["arrays"], model_file, inputs)
        # one sample without its batch axis: the outputs come back without it too
        one = ModelRuntime(home).run([a[0] for a in inputs])
        full = answer["arrays"]
        assert all(np.array_equal(one[k], full[k][0]) for k in full)
        if quantized:
            other = lab.device("d2", precisions=[quantized])
            got = Agent(other).check()
            assert (got.action, got.variant) == ("installed", f"baseline-{quantized}"), got.reason
            with ModelRuntime(other) as rt:
                check_outputs(rt.run(inputs), tmp_path / "v1" / f"{got.variant}.tflite", inputs)

        build(tmp_path / "v2", models / f"{kind}-v2.tflite", data)
        lab.publish(tmp_path / "v2", 2, min_accuracy=None)
        second = Agent(home).check()
        assert (second.action, second.active_version) == ("installed", 2), second.reason
        assert second.source == "patch", (first.variant, second.variant, second.reason)
        with ModelRuntime(home) as rt:
            outputs, version = rt.run_with_version(inputs)
        assert version == 2
        check_outputs(outputs, tmp_path / "v2" / f"{second.variant}.tflite", inputs)
    return v1


def test_detector_with_boxes_scores_and_count(tmp_path, user_models):
    report = end_to_end(
        tmp_path, user_models, "detector", "detection", block_tf=True, quantized="dynamic"
    )
    assert len(report.candidates[0].signature.outputs) == 3
    assert not (
        report.candidates[0].output_errors and max(report.candidates[0].output_errors.values())
    )  # the original file is its own reference


def test_segmenter_with_a_dense_output(tmp_path, user_models):
    report = end_to_end(tmp_path, user_models, "segmenter", "segmentation")
    assert report.candidates[0].signature.outputs[0].shape == [1, 32, 32, 1]


def test_mobilenet_224_classifier_without_labels(tmp_path, user_models):
    report = end_to_end(tmp_path, user_models, "mobilenet", "classification")
    assert report.input_shape == [224, 224, 3]


def test_two_input_classifier_with_labels(tmp_path, user_models):
    report = end_to_end(tmp_path, user_models, "two_input", "classification")
    assert len(report.candidates[0].signature.inputs) == 2
