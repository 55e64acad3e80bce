"""Release format 2 at publish: a compacted index whose targets leave with it, golden files
within their budget and reused when unchanged, sizes a device would refuse refused before
signing, old build folders and old repositories (`repo migrate`).

Uses the lab's tiny models (no TensorFlow): a publish takes well under a second."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from litefleet.device.agent import Agent
from litefleet.errors import UserError
from litefleet.registry.compaction import INDEX_KEEP
from litefleet.registry.publish import read_index
from litefleet.release import (
    BuildReport,
    FeatureStats,
    LegacyFeatureStats,
    ReleaseIndex,
    index_path,
)
from litefleet.testing.lab import Lab

from .conftest import tree


@pytest.fixture
def lab(tmp_path: Path) -> Iterator[Lab]:
    with Lab(tmp_path / "lab") as lab:
        yield lab


def signed_targets(lab: Lab) -> set[str]:
    return set(lab.repo.load("targets").signed.targets)


def test_index_keeps_the_newest_and_live_rollouts_and_targets_follow(lab):
    builds = [lab.build("v1"), lab.build("v2")]
    lab.publish(builds[0], 1, channel="edge")  # the only release of its channel: stays
    sizes = []
    for v in range(2, 15):
        lab.publish(builds[v % 2], v, check_models=False)  # loads checked elsewhere: fast
        sizes.append(len(lab.target_bytes(index_path(lab.model))))
    index = read_index(lab.repo, lab.model)
    stable = [r.version for r in index.releases if r.channel == "stable"]
    assert stable == list(range(15 - INDEX_KEEP, 15))
    assert index.release(1) is not None  # live on its channel, never replaced there
    assert max(sizes[INDEX_KEEP:]) <= max(sizes[:INDEX_KEEP]) * 1.1  # bounded, not growing
    # targets the dropped releases used left the signed metadata; every kept one is signed
    targets = signed_targets(lab)
    assert index.target_paths() | {index_path(lab.model)} <= targets
    assert not any(t.startswith(f"{lab.model}/2/") for t in targets)
    assert all(len(r.model_dump_json()) <= 4096 for r in index.releases)
    # the golden inputs never changed: every release names release 1's file
    assert {r.golden_inputs.path for r in index.releases} == {f"{lab.model}/1/golden-inputs.npz"}
    rollout = json.loads(lab.target_bytes(f"{lab.model}/rollout.json"))
    assert {int(v) for v in rollout["rollouts"]} == {r.version for r in index.releases}


def test_a_device_installs_from_a_compacted_index_and_idles_cheaply(lab):
    folder = lab.build("v1")
    for v in range(1, INDEX_KEEP + 3):
        lab.publish(folder, v, check_models=v == 1)
    home = lab.device("d")
    r = Agent(home).check()
    assert (r.action, r.version) == ("installed", INDEX_KEEP + 2), r
    version_dir = home / "versions" / str(INDEX_KEEP + 2)
    names = {p.name for p in version_dir.iterdir()}
    assert {"golden-inputs.npz", "golden-reference.npz", "drift.json", "card.json"} <= names
    assert "reference_stats" not in (version_dir / "manifest.json").read_text()
    assert (version_dir / "manifest.json").stat().st_size < 4096
    idle = Agent(home).check()
    assert idle.action == "none" and 0 < idle.bytes_downloaded <= 1024, idle


def test_golden_budget_trims_and_a_budget_too_small_is_refused(lab):
    done = lab.publish(lab.build("v1"), 1, golden_budget=4000)
    release = read_index(lab.repo, lab.model).release(1)
    assert done.golden_dropped > 0 and done.golden_samples > 0
    assert release.golden_inputs.bytes + release.golden_reference.bytes <= 4000
    before = tree(lab.repo.path)
    with pytest.raises(UserError, match="not even one sample"):
        lab.publish(lab.build("v1"), 2, golden_budget=300)
    assert tree(lab.repo.path) == before


def test_sizes_a_device_would_refuse_are_refused_before_signing(lab):
    folder = lab.build("v1")
    report = json.loads((folder / "report.json").read_text())
    report["class_names"] = [f"class-{i:06d}-{'x' * 40}" for i in range(8000)]  # ~400 KB
    (folder / "report.json").write_text(json.dumps(report))
    before = tree(lab.repo.path)
    with pytest.raises(UserError, match=r"card\.json would be \d+ bytes, above the 262144"):
        lab.publish(folder, 1)
    assert tree(lab.repo.path) == before


def test_an_old_build_folder_publishes_with_bounded_drift(lab):
    folder = lab.build("v1")
    report = BuildReport.model_validate_json((folder / "report.json").read_bytes())
    legacy = LegacyFeatureStats(edges=[[0.0, 0.5, 1.0]] * 8, fractions=[[0.5, 0.5]] * 8)
    old = report.model_copy(update={"reference_stats": legacy})
    (folder / "report.json").write_text(old.model_dump_json())
    with np.load(folder / "golden.npz") as z:
        assert {"x", "y", "reference"} <= set(z.files)  # the first format's keys
    lab.publish(folder, 1)
    release = read_index(lab.repo, lab.model).release(1)
    stats = FeatureStats.model_validate_json(lab.target_bytes(release.drift.path))
    assert stats.inputs[0].elements == 8  # from the golden inputs, not the old per-element


def test_a_format_1_repository_migrates_in_one_command(lab):
    from typer.testing import CliRunner

    from litefleet.cli import app

    lab.publish(lab.build("v1"), 1)
    lab.publish(lab.build("v2"), 2)
    _downgrade_to_format_1(lab)
    home = lab.device("d")
    r = Agent(home).check()
    assert r.action == "error" and "repo migrate" in r.reason, r
    with pytest.raises(UserError, match="repo migrate"):
        lab.publish(lab.build("v2"), 3)
    out = CliRunner().invoke(app, ["repo", "migrate", str(lab.repo.path)])
    assert out.exit_code == 0, out.output
    assert "index format 1 -> 2" in out.output
    index = read_index(lab.repo, lab.model)
    assert [r.version for r in index.releases] == [1, 2]
    assert not any(t.endswith("golden.npz") for t in signed_targets(lab))
    r = Agent(home).check()
    assert (r.action, r.version) == ("installed", 2), r
    lab.publish(lab.build("v1"), 3)  # and publishing goes on
    again = CliRunner().invoke(app, ["repo", "migrate", str(lab.repo.path)])
    assert "nothing to migrate" in again.output


def load_golden_files_bytes(lab: Lab, release):
    from litefleet.golden import golden_from_bytes

    inputs = golden_from_bytes(lab.target_bytes(release.golden_inputs.path))
    reference = golden_from_bytes(lab.target_bytes(release.golden_reference.path))
    return inputs.inputs, inputs.labels, reference.reference


def _downgrade_to_format_1(lab: Lab) -> None:
    """Re-sign the index in the first format (per-element statistics, one golden.npz), as
    litefleet wrote it before release format 2."""
    from litefleet.golden import npz_bytes

    index = ReleaseIndex.model_validate_json(lab.target_bytes(index_path(lab.model)))
    releases = []
    with lab.repo.transaction(roles=("targets",)) as tx:
        for r in index.releases:
            golden = load_golden_files_bytes(lab, r)
            inputs, labels, reference = golden
            golden = npz_bytes({"x": inputs[0], "y": labels, "reference": reference[0]})
            tx.add_target(f"{lab.model}/{r.version}/golden.npz", golden)
            for ref_ in r.files():
                tx.remove_target(ref_.path)
            entry = json.loads(r.model_dump_json())
            for key in ("golden_inputs", "golden_reference", "drift", "card", "gate"):
                entry.pop(key)
            entry |= {
                "golden": f"{lab.model}/{r.version}/golden.npz",
                "min_accuracy": 0.9,
                "min_agreement": 0.9,
                "reference_stats": {"edges": [[0.0, 1.0]] * 8, "fractions": [[1.0]] * 8},
            }
            releases.append(entry)
        old = {
            "schema_version": 1,
            "model": lab.model,
            "signature": json.loads(index.signature.model_dump_json()),
            "releases": releases,
        }
        tx.add_target(index_path(lab.model), json.dumps(old).encode())
