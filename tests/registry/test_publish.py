"""Publishing real builds, and refusing bad input with the repository left unchanged."""

from __future__ import annotations

import io
import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from litefleet.errors import UserError
from litefleet.golden import load_golden_file
from litefleet.registry.keys import PASSPHRASE_ENV
from litefleet.registry.publish import publish, read_index
from litefleet.registry.repository import Repository
from litefleet.registry.rollout import change_rollout, read_rollout
from litefleet.release import BUILD_REPORT, VariantInfo, in_rollout

from .conftest import MODEL, tree


def _copy(build: Path, dest: Path) -> Path:
    shutil.copytree(build, dest, ignore=shutil.ignore_patterns("*.keras", "*.png"))
    return dest


def test_publish_signs_every_variant_with_its_facts(published: Repository, builds):
    report = json.loads((builds["v2"] / BUILD_REPORT).read_text())
    index = read_index(published, MODEL)
    assert [r.version for r in index.releases] == [1, 2]
    release = index.release(2)
    assert set(release.variants) == {c["name"] for c in report["candidates"]}
    gate = release.gate
    assert 0 < gate.min_accuracy < min(c["accuracy"] for c in report["candidates"])
    assert (gate.task, gate.class_output) == ("classification", 0)
    for cand in report["candidates"]:
        info = published.target_info(f"{MODEL}/2/{cand['name']}.tflite")
        variant = VariantInfo.model_validate(info.custom["litefleet"])
        assert variant.accuracy == cand["accuracy"]  # exact, through the float-as-string encoding
        assert variant.sha256 == info.hashes["sha256"] == cand["sha256"]
        assert variant.signature.model_dump() == cand["signature"]
    # the build's golden set split into per-release files, read back as the build wrote it
    built = load_golden_file(builds["v2"] / "golden.npz")
    inputs = np.load(io.BytesIO(published.read_target(release.golden_inputs.path)))
    reference = np.load(io.BytesIO(published.read_target(release.golden_reference.path)))
    assert np.array_equal(inputs["y"], built.labels)
    assert np.array_equal(reference["out0"], built.reference[0])
    # the build's test inputs did not change from v1: v2 names v1's signed file
    assert release.golden_inputs == index.release(1).golden_inputs
    assert release.golden_inputs.path == f"{MODEL}/1/golden-inputs.npz"
    assert release.golden_reference.path == f"{MODEL}/2/golden-reference.npz"
    assert release.drift is not None and release.card is not None
    assert len(published.read_target(release.drift.path)) < 64 * 1024
    # every kept patch is smaller than its file and signed
    for entry in release.variants.values():
        for p in entry.patches:
            assert p.bytes < entry.bytes and published.target_info(p.path).length == p.bytes


def test_next_version_and_patch_from_two_back(published: Repository, builds):
    # v1 again after its fine-tune v2: publish measures it against v2 (a regression)
    done = publish(
        published, builds["v1"], MODEL, channel="beta", rollout_percent=10, allow_regression=True
    )
    assert done.version == 3
    release = read_index(published, MODEL).release(3)
    assert release.channel == "beta"
    froms = {p.from_version for e in release.variants.values() for p in e.patches}
    assert froms <= {1, 2} and 1 in froms  # v3 has v1's bytes: a tiny patch from 1
    assert read_rollout(published, MODEL).rollouts[3].percent == 10


def _corrupt(folder: Path) -> None:
    f = folder / "baseline-int8.tflite"
    f.write_bytes(f.read_bytes()[:-200] + b"\0" * 200)


def _not_tflite(folder: Path) -> None:
    f = folder / "baseline-int8.tflite"
    f.write_bytes(b"PK\x03\x04" + b"\0" * 100)


def _truncated_but_rehashed(folder: Path) -> None:
    """A damaged file whose report was updated to match: only loading it catches it."""
    import hashlib

    f = folder / "baseline-int8.tflite"
    data = f.read_bytes()[:4096]
    f.write_bytes(data)
    report = json.loads((folder / BUILD_REPORT).read_text())
    for c in report["candidates"]:
        if c["name"] == "baseline-int8":
            c["sha256"], c["raw_bytes"] = hashlib.sha256(data).hexdigest(), len(data)
    (folder / BUILD_REPORT).write_text(json.dumps(report))


def _no_report(folder: Path) -> None:
    (folder / BUILD_REPORT).unlink()


def _bad_report(folder: Path) -> None:
    report = json.loads((folder / BUILD_REPORT).read_text())
    report["candidates"][0]["precision"] = "float64"
    (folder / BUILD_REPORT).write_text(json.dumps(report))


def _missing_file(folder: Path) -> None:
    (folder / "qat-int8.tflite").unlink()


def _missing_golden(folder: Path) -> None:
    (folder / "golden.npz").unlink()


def _escaping_path(folder: Path) -> None:
    report = json.loads((folder / BUILD_REPORT).read_text())
    report["candidates"][0]["file"] = "../../etc/passwd"
    (folder / BUILD_REPORT).write_text(json.dumps(report))


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (_corrupt, "sha256"),
        (_not_tflite, "not a TFLite model"),
        (_truncated_but_rehashed, "does not load"),
        (_no_report, "not a build folder"),
        (_bad_report, "not a valid build report"),
        (_missing_file, "missing"),
        (_missing_golden, "missing"),
        (_escaping_path, "not a valid build report: candidates.0.file"),  # parse time
    ],
)
def test_bad_build_is_refused_and_repo_unchanged(published, builds, tmp_path, damage, message):
    folder = _copy(builds["v2"], tmp_path / "build")
    damage(folder)
    before = tree(published.path)
    with pytest.raises(UserError, match=message):
        publish(published, folder, MODEL)
    assert tree(published.path) == before


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"version": 2}, "not above the latest"),
        ({"version": 1}, "not above the latest"),
        ({"model": "../evil"}, "invalid model name"),
        ({"channel": "a b"}, "invalid channel"),
        ({"rollout_percent": 101}, "0..100"),
        ({"min_accuracy": 2.0}, "0..1"),
    ],
)
def test_bad_options_are_refused_and_repo_unchanged(published, builds, kwargs, message):
    before = tree(published.path)
    with pytest.raises(UserError, match=message):
        publish(published, builds["v2"], **{"model": MODEL, **kwargs})
    assert tree(published.path) == before


def test_wrong_or_missing_passphrase(tmp_path, builds, monkeypatch):
    monkeypatch.setenv(PASSPHRASE_ENV, "correct horse")
    repo = Repository.init(tmp_path / "enc")
    pem = next(repo.keys.role_dir("targets").glob("*.pem"))
    assert b"ENCRYPTED" in pem.read_bytes() and pem.stat().st_mode & 0o777 == 0o600
    publish(repo, builds["v1"], MODEL)
    before = tree(repo.path)
    monkeypatch.setenv(PASSPHRASE_ENV, "wrong")
    with pytest.raises(UserError, match="wrong"):
        publish(repo, builds["v2"], MODEL)
    monkeypatch.delenv(PASSPHRASE_ENV)
    with pytest.raises(UserError, match="encrypted"):
        change_rollout(repo, MODEL, 1, "pause")
    assert tree(repo.path) == before


def test_rollout_actions_and_rules(published):
    change_rollout(published, MODEL, 2, "percent", 5)
    before = {f"d{i}" for i in range(400) if in_rollout(f"d{i}", MODEL, 2, 5)}
    change_rollout(published, MODEL, 2, "percent", 50)
    after = {f"d{i}" for i in range(400) if in_rollout(f"d{i}", MODEL, 2, 50)}
    assert before < after  # raising the percentage only adds devices
    assert change_rollout(published, MODEL, 2, "pause").rollouts[2].status == "paused"
    assert change_rollout(published, MODEL, 2, "resume").rollouts[2].status == "active"
    state = change_rollout(published, MODEL, 2, "abort", reason="bad accuracy in the field")
    assert state.rollouts[2].status == "aborted" and state.rollouts[1].status == "active"
    before_tree = tree(published.path)
    for action, message in (("resume", "aborted"), ("percent", "aborted")):
        with pytest.raises(UserError, match=message):
            change_rollout(published, MODEL, 2, action, 10)
    with pytest.raises(UserError, match="unknown model"):
        change_rollout(published, "nope", 1, "pause")
    with pytest.raises(UserError, match="no release 9"):
        change_rollout(published, MODEL, 9, "pause")
    with pytest.raises(UserError, match="not paused"):
        change_rollout(published, MODEL, 1, "resume")
    assert tree(published.path) == before_tree
