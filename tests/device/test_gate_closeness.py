"""The gate against the previous release for outputs that are not class scores.

The measure (`goldeneval.output_closeness`: the share of an output's elements within the
release's tolerance of the previous release's reference, `tolerance.close_share`), how the
signed record carries it without a field an older agent would refuse, and the device's
rule (`health.against_previous`): a variant whose closeness falls more than the band below
what the publisher measured is refused, with the output and both figures. The tiny
classifier's probabilities stand in for any non-class output here (judged as `close`);
tests/test_any_model.py runs a real detector through build, publish and an agent.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from litefleet.device.health import HealthReport, against_previous, within_band
from litefleet.golden import (
    GoldenSet,
    golden_file_bytes,
    inputs_bytes,
    load_golden_files,
    reference_bytes,
)
from litefleet.goldeneval import output_closeness, output_closeness_isolated
from litefleet.litert import LoadedModel
from litefleet.registry.quality import MAX_CLOSENESS_FIGURES
from litefleet.release import (
    GOLDEN_INPUTS,
    GOLDEN_REFERENCE,
    FileRef,
    GateSpec,
    OutputCheck,
    QualityRecord,
    Release,
    VariantEntry,
    closeness_key,
    closeness_keys_clash,
)
from litefleet.tolerance import close_share

BIAS_OFFSET = 348  # the tiny v1 float32 model's output biases (see tests/registry/test_quality)
CHECK = OutputCheck(name="Identity", kind="close", atol=0.01)


def _never_class_2(models_dir: Path) -> bytes:
    """v1 that never answers class 2: its probabilities move on a third of the inputs."""
    data = bytearray((models_dir / "v1-float32.tflite").read_bytes())
    data[BIAS_OFFSET : BIAS_OFFSET + 12] = np.asarray(
        [-6.897905, -20.18844, -1000.0], np.float32
    ).tobytes()
    return bytes(data)


@pytest.fixture
def previous(tmp_path, models_dir, data) -> Path:
    """An installed version 1's folder: its golden inputs and its reference (v1's outputs)."""
    x = data[0][:120]
    ref = LoadedModel.from_file(models_dir / "v1-float32.tflite").predict(x)
    folder = tmp_path / "versions" / "1"
    folder.mkdir(parents=True)
    golden = GoldenSet([x], None, [ref])
    (folder / GOLDEN_INPUTS).write_bytes(inputs_bytes(golden))
    (folder / GOLDEN_REFERENCE).write_bytes(reference_bytes(golden))
    return folder


def _combined(previous: Path, tmp_path: Path) -> Path:
    """The previous version's two golden files as one (what both sides hand the sandbox)."""
    inputs, labels, reference = load_golden_files(
        previous / GOLDEN_INPUTS, previous / GOLDEN_REFERENCE
    )
    path = tmp_path / "combined.npz"
    path.write_bytes(golden_file_bytes(GoldenSet(inputs, labels, reference)))
    return path


def _release(figures: dict[str, float], previous: int = 1) -> Release:
    ref = FileRef(path="m/2/golden-inputs.npz", bytes=1, sha256="0" * 64)
    entry = VariantEntry(
        path="m/2/float32.tflite",
        precision="float32",
        bytes=1,
        accuracy=0.0,
        latency_ms_p50=0.1,
        sha256="0" * 64,
    )
    return Release(
        version=2,
        created="2026-01-01T00:00:00+00:00",
        variants={"float32": entry},
        golden_inputs=ref,
        golden_reference=ref.model_copy(update={"path": "m/2/golden-reference.npz"}),
        gate=GateSpec(task="regression", class_output=None, outputs=[CHECK]),
        quality=QualityRecord(previous=previous, agreement_with_previous=figures),
    )


def test_the_measure_is_the_gates_share_of_elements_within_tolerance(
    tmp_path, models_dir, data, previous
):
    golden = _combined(previous, tmp_path)
    v1, v2 = models_dir / "v1-float32.tflite", models_dir / "v2-float32.tflite"
    far = tmp_path / "far.tflite"
    far.write_bytes(_never_class_2(models_dir))
    shares = output_closeness([str(v1), str(v2), str(far)], str(golden), {"0": CHECK.model_dump()})
    x = data[0][:120]
    ref = LoadedModel.from_file(v1).predict(x)
    assert shares[0] == {"0": 1.0}  # the previous release itself
    for path, got in zip((v2, far), shares[1:], strict=True):
        want = close_share(LoadedModel.from_file(path).predict(x), ref, CHECK)
        assert got == {"0": pytest.approx(want)}
    assert shares[1]["0"] > 0.98 > 0.9 > shares[2]["0"], shares  # a fine-tune vs a far model
    isolated = output_closeness_isolated([far], golden, {0: CHECK})
    assert isolated.ok and isolated.value == [shares[2]]  # the sandbox answers the same
    missing = output_closeness([str(v1)], str(golden), {"1": CHECK.model_dump()})
    assert missing == [{}]  # an output the reference lacks has no figure


def test_closeness_rides_in_the_record_beside_class_agreement():
    record = QualityRecord(
        previous=1,
        agreement_with_previous={
            "a": 0.97,
            closeness_key("a", 1): 0.5,
            closeness_key("a", 2): 1.0,
            closeness_key("ab", 1): 0.3,
            "a.outx": 0.1,
        },
    )
    assert closeness_key("a", 1) == "a.out1"
    assert record.closeness_to_previous("a") == {1: 0.5, 2: 1.0}
    assert record.closeness_to_previous("ab") == {1: 0.3}
    assert record.agreement_with_previous["a"] == 0.97  # the class figure, as before
    assert closeness_keys_clash(["a", "a.out1"])
    assert not closeness_keys_clash(["a", "ab", "float32"])


def test_the_record_has_no_field_an_agent_of_before_would_refuse():
    """Every reader forbids unknown fields: a new field in the signed record would make
    every agent of before refuse the whole index. The closeness figures add none."""
    assert set(QualityRecord.model_fields) == {
        "golden_accuracy",
        "floor",
        "tolerance",
        "chance_bound",
        "previous",
        "previous_accuracy",
        "accuracy_on_previous",
        "agreement_with_previous",
        "band",
        "allowed_regression",
        "refusals",
    }


def test_the_band_rule():
    assert within_band(0.98, 1.0, 0.02) and not within_band(0.97, 1.0, 0.02)
    assert within_band(0.0, 0.0, 0.02)  # a figure the publisher measured low holds low


def test_the_device_refuses_an_output_clearly_below_the_measured_band(
    tmp_path, models_dir, previous
):
    ok = HealthReport(True, checks={"close:Identity": True})
    work = tmp_path / "stage"
    work.mkdir()
    v2 = models_dir / "v2-float32.tflite"
    far = work / "far.tflite"
    far.write_bytes(_never_class_2(models_dir))
    measured = _release({"float32.out0": 0.99})

    close = against_previous(v2, previous, work, measured, "float32", 1, ok)
    assert close.ok and close.checks["previous"], close
    assert close.previous_closeness["Identity"] > 0.98

    refused = against_previous(far, previous, work, measured, "float32", 1, ok)
    assert not refused.ok and refused.checks["previous"] is False
    share = refused.previous_closeness["Identity"]
    assert refused.reason == (
        f"output 'Identity': closeness to version 1 on its golden inputs {share:.4f} <"
        " 0.9900 - 0.02 measured by the publisher (share of elements within 0.01 x range)"
    )
    honest = _release({"float32.out0": round(share, 4)})  # what the publisher measured for it
    assert against_previous(far, previous, work, honest, "float32", 1, ok).ok
    # measured against another version, or not at all: this rule does not apply
    assert against_previous(far, previous, work, _release({}), "float32", 1, ok) is ok
    other = _release({"float32.out0": 0.99}, previous=3)
    assert against_previous(far, previous, work, other, "float32", 1, ok) is ok
    assert against_previous(far, previous, work, measured, "int8", 1, ok) is ok


def test_the_most_figures_a_release_signs_keep_its_index_entry_small():
    """The signed index grows by a few KB per release at most (format rule): publish signs
    at most `MAX_CLOSENESS_FIGURES`, under 1 KB however long the variant names."""
    names = ["baseline-weight-int8", "distilled-dynamic", "baseline-float32", "qat-int8"]
    per_variant = MAX_CLOSENESS_FIGURES // len(names)
    record = QualityRecord(
        previous=2**31 - 1,
        agreement_with_previous={
            closeness_key(n, k): 0.9876 for n in names for k in range(per_variant)
        },
    )
    assert len(record.model_dump_json()) <= 1024
