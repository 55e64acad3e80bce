"""The build pipeline end to end on digits: every candidate converted and measured in LiteRT."""

from __future__ import annotations

import json

import numpy as np
import pytest
from ai_edge_litert.interpreter import Interpreter

from litefleet.pipeline.data import load_dataset
from litefleet.pipeline.evaluate import predict_batch
from litefleet.release import BuildReport

EXPECTED = {
    "baseline-float32",
    "baseline-float16",
    "baseline-dynamic",
    "baseline-int8",
    "pruned-float32",
    "pruned-int8",
    "qat-int8",
    "distilled-float32",
    "distilled-int8",
    "baseline-int4",
    "baseline-weight-int4",
    "pruned-int4",
    "distilled-int4",
    "distilled-pruned-float32",
    "distilled-pruned-int8",
    "distilled-pruned-int4",
}


@pytest.fixture(scope="module")
def v1(build_factory):
    folder = build_factory("v1")
    return folder, BuildReport.model_validate_json((folder / "report.json").read_text())


def candidate(report: BuildReport, name: str):
    return next(c for c in report.candidates if c.name == name)


def tensor_dtypes(path) -> set[str]:
    interpreter = Interpreter(model_path=str(path))
    return {np.dtype(d["dtype"]).name for d in interpreter.get_tensor_details()}


def test_every_candidate_is_written_and_reported(v1):
    folder, report = v1
    assert {c.name for c in report.candidates} == EXPECTED
    for c in report.candidates:
        assert (folder / c.file).stat().st_size == c.raw_bytes
        assert c.zstd_bytes < c.raw_bytes
        assert c.latency_ms_p95 >= c.latency_ms_p50 > 0
        assert c.throughput_per_s > 0
    for extra in (
        "golden.npz",
        "report.png",
        "recipe.toml",
        "baseline.keras",
        "pruned.keras",
        "distilled.keras",
        "distilled-pruned.keras",
        "qat.weights.h5",
    ):
        assert (folder / extra).stat().st_size > 0
    assert report.environment["tensorflow"].startswith("2.21")
    assert report.input_shape == [64] and report.num_classes == 10


def test_accuracy_in_report_is_what_litert_gives(v1):
    """Recompute two variants' accuracy on the test split through the interpreter."""
    folder, report = v1
    data = load_dataset(None, test_size=0.2, seed=0)
    for name in ("baseline-float32", "pruned-int8"):
        interpreter = Interpreter(model_path=str(folder / f"{name}.tflite"))
        predicted = predict_batch(interpreter, data.x_test).argmax(axis=1)
        assert float((predicted == data.y_test).mean()) == candidate(report, name).accuracy
    for c in report.candidates:
        assert c.accuracy > 0.85, c.name


def test_pruning_leaves_the_requested_sparsity(v1):
    _, report = v1
    assert candidate(report, "baseline-float32").sparsity < 0.05
    assert candidate(report, "pruned-float32").sparsity == pytest.approx(0.5, abs=0.03)
    # Zeros compress: the pruned file downloads smaller than the dense one of the same size.
    pruned, dense = candidate(report, "pruned-float32"), candidate(report, "baseline-float32")
    assert pruned.zstd_bytes < 0.8 * dense.zstd_bytes


def test_int8_variants_hold_int8_tensors_and_int8_io(v1):
    folder, report = v1
    for name in ("baseline-int8", "pruned-int8", "qat-int8", "distilled-int8"):
        c = candidate(report, name)
        assert "int8" in tensor_dtypes(folder / c.file)
        assert c.signature.inputs[0].dtype == "int8" and c.signature.inputs[0].scale > 0
        assert c.signature.outputs[0].dtype == "int8"
    assert "int8" not in tensor_dtypes(folder / "baseline-float32.tflite")
    assert "float16" in tensor_dtypes(folder / "baseline-float16.tflite")


def test_int4_variants_run_in_litert_with_int4_weights(v1):
    """The AI Edge quantizer's int4 files run in LiteRT's CPU path (the device's): their
    accuracy was measured there. LiteRT's Python API reports int4 tensors as int8, so the
    packing shows in the size: half a byte per weight."""
    folder, report = v1
    for name in ("baseline-int4", "pruned-int4", "distilled-int4", "distilled-pruned-int4"):
        c = candidate(report, name)
        assert "int8" in tensor_dtypes(folder / c.file), name
        assert c.signature.inputs[0].dtype == "float32"  # weights only: the app feeds floats
        assert c.raw_bytes < 0.75 * candidate(report, name.replace("int4", "int8")).raw_bytes
        assert c.accuracy > 0.85


def test_student_is_smaller_than_teacher(v1):
    _, report = v1
    student, teacher = candidate(report, "distilled-float32"), candidate(report, "baseline-float32")
    assert student.parameters < teacher.parameters / 4
    assert student.raw_bytes < teacher.raw_bytes / 4


def test_golden_set_holds_inputs_labels_and_reference_outputs(v1):
    folder, report = v1
    with np.load(folder / "golden.npz") as golden:
        x, y, ref = golden["x"], golden["y"], golden["reference"]
    assert x.shape == (200, 64) and x.dtype == np.float32
    assert y.shape == (200,) and ref.shape == (200, 10)
    np.testing.assert_allclose(ref.sum(axis=1), 1.0, atol=1e-4)
    assert (ref.argmax(axis=1) == y).mean() > 0.85
    assert report.reference_stats is not None
    assert len(report.reference_stats.edges) == 64


def test_report_json_round_trips(v1):
    folder, report = v1
    raw = json.loads((folder / "report.json").read_text())
    assert BuildReport.model_validate(raw) == report
