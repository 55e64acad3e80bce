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
    tmp_path: Path,
    models: Path,
    kind: str,
    task: str,
    *,
    block_tf: bool = False,
    quantized="",
    builds: tuple[Path, Path] | None = None,
):
    """build -> publish -> install -> predict -> v2 as a patch; with `quantized`, a second
    device installs that quantized variant of v1 (the gate's tolerances let it through).
    `builds`: the v1 and v2 build folders, built already (shared with another test)."""
    from litefleet.device.agent import Agent
    from litefleet.device.runtime import ModelRuntime
    from litefleet.testing.lab import Lab

    data = models / f"{kind}-inputs.npz"
    v1_dir, v2_dir = builds or (tmp_path / "v1", tmp_path / "v2")
    if builds is None:
        build(v1_dir, models / f"{kind}-v1.tflite", data, block_tf=block_tf)
    v1 = BuildReport.model_validate_json((v1_dir / "report.json").read_text())
    assert v1.task == task and v1.model_kind == "tflite"
    with Lab(tmp_path / "lab", model=kind.replace("_", "-")) as lab:
        lab.publish(v1_dir, 1, min_accuracy=None)
        home = lab.device("d1", precisions=["float32"])  # the same variant for v1 and v2
        first = Agent(home).check()
        assert (first.action, first.active_version) == ("installed", 1), first.reason
        model_file = v1_dir / f"{first.variant}.tflite"
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
                check_outputs(rt.run(inputs), v1_dir / f"{got.variant}.tflite", inputs)

        if builds is None:
            build(v2_dir, models / f"{kind}-v2.tflite", data)
        lab.publish(v2_dir, 2, min_accuracy=None)
        second = Agent(home).check()
        assert (second.action, second.active_version) == ("installed", 2), second.reason
        assert second.source == "patch", (first.variant, second.variant, second.reason)
        with ModelRuntime(home) as rt:
            outputs, version = rt.run_with_version(inputs)
        assert version == 2
        check_outputs(outputs, v2_dir / f"{second.variant}.tflite", inputs)
    return v1


@pytest.fixture(scope="module")
def detector_builds(tmp_path_factory, user_models) -> tuple[Path, Path]:
    """The detector's v1 (built where TensorFlow cannot import) and v2 build folders,
    shared by the tests of this file that need them."""
    folder = tmp_path_factory.mktemp("detector-builds")
    data = user_models / "detector-inputs.npz"
    build(folder / "v1", user_models / "detector-v1.tflite", data, block_tf=True)
    build(folder / "v2", user_models / "detector-v2.tflite", data)
    return folder / "v1", folder / "v2"


def test_detector_with_boxes_scores_and_count(tmp_path, user_models, detector_builds):
    report = end_to_end(
        tmp_path,
        user_models,
        "detector",
        "detection",
        quantized="dynamic",
        builds=detector_builds,
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


def far_from(model: Path) -> bytes:
    """`model` with every float weight tensor negated: the same signature, answers unrelated
    to the original's (LiteRT alone finds the weights' bytes in the file)."""
    from ai_edge_litert.interpreter import Interpreter

    data = bytearray(model.read_bytes())
    interp = Interpreter(model_path=str(model))
    interp.allocate_tensors()
    changed = 0
    for detail in interp.get_tensor_details():
        try:
            weights = interp.get_tensor(detail["index"])
        except ValueError:
            continue
        raw = weights.tobytes()
        at = data.find(raw)
        if weights.dtype != np.float32 or weights.size < 8 or not weights.any() or at < 0:
            continue
        if data.find(raw, at + 1) < 0:  # exactly one place: the constant's buffer
            data[at : at + len(raw)] = (-weights).tobytes()
            changed += 1
    assert changed
    return bytes(data)


def test_the_gate_judges_a_detector_against_the_previous_release(
    tmp_path, user_models, detector_builds
):
    """Outputs without labels are judged against the last good release: publish measures,
    per variant and output, the closeness to release 1 on its golden inputs (the share of
    elements within the release's tolerance) and signs it; a device re-measures it before
    it installs. A fine-tune installs. A far model, exact on its own golden set (made from
    itself), measured honestly shows how far it is; signed with the fine-tune's figures (a
    publisher whose figures do not hold for the models it signs), it is refused by the
    device, naming the output and both figures."""
    from litefleet.device.agent import Agent
    from litefleet.registry.halt import expected_agreement
    from litefleet.registry.publish import read_index
    from litefleet.release import index_path
    from litefleet.testing.lab import Lab

    v1, fine_tune = detector_builds
    far_model = tmp_path / "far.tflite"
    far_model.write_bytes(far_from(user_models / "detector-v1.tflite"))
    far = tmp_path / "far"
    build(far, far_model, user_models / "detector-inputs.npz")
    with Lab(tmp_path / "lab", model="detector") as lab:
        lab.publish(v1, 1, min_accuracy=None)
        assert read_index(lab.repo, "detector").release(1).quality is None  # no previous
        near, other = (lab.device(name, precisions=["float32"]) for name in ("near", "other"))
        for home in (near, other):
            assert Agent(home).check().active_version == 1

        lab.publish(fine_tune, 2, min_accuracy=None)
        release = read_index(lab.repo, "detector").release(2)
        measured = release.quality
        figures = measured.closeness_to_previous("baseline-float32")
        assert measured.previous == 1 and sorted(figures) == [0, 1, 2], measured
        exact = [k for k, share in figures.items() if share == 1.0]
        assert exact, figures  # the fine-tune moved its last layer's output only
        assert expected_agreement(lab.repo, "detector", 2) is None  # no class figure
        installed = Agent(near).check()
        assert (installed.action, installed.active_version) == ("installed", 2), installed
        assert "previous_closeness" in installed.details  # measured on the device too

        lab.rollout(2, "abort")  # release 1 is the last good release again
        lab.publish(far, 3, min_accuracy=None)
        index = read_index(lab.repo, "detector")
        honest = index.release(3).quality
        assert honest.previous == 1
        assert max(honest.closeness_to_previous("baseline-float32").values()) < 0.05, honest
        forged = index.model_copy(
            update={
                "releases": [
                    r.model_copy(update={"quality": measured}) if r.version == 3 else r
                    for r in index.releases
                ]
            }
        )
        with lab.repo.transaction(roles=("targets",)) as tx:
            tx.add_target(index_path("detector"), forged.model_dump_json(indent=1).encode())
        refused = Agent(other).check()
        assert (refused.action, refused.version, refused.active_version) == ("rejected", 3, 1)
        name = release.gate.outputs[exact[0]].name
        assert f"output {name!r}: closeness to version 1 on its golden inputs" in refused.reason
        assert "< 1.0000 - 0.02 measured by the publisher" in refused.reason, refused.reason

        fresh = Agent(lab.device("fresh", precisions=["float32"])).check()
        assert (fresh.action, fresh.active_version) == ("installed", 3), fresh.reason  # own set
