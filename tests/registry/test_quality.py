"""Quality at publish (`registry/quality.py`) with real models run in the sandbox.

A chance-level release is refused at publish with one line naming the figure, and, forced
through, refused by a real device agent; a release that loses accuracy against the previous
good release on its golden inputs is refused; the floor is set at the first publish, shown
by `repo floor` and `fleet status`, and changed by an operator.
"""

from __future__ import annotations

import subprocess
import sys

import httpx
import numpy as np
import pytest

from litefleet.device.agent import Agent
from litefleet.errors import UserError
from litefleet.registry.publish import read_index
from litefleet.registry.quality import chance_bound, read_policy, set_floor
from litefleet.testing import tiny_models
from litefleet.testing.lab import Lab
from litefleet.testing.operators import operator_headers

BIAS_OFFSET = 348
"""Where the tiny v1 float32 model keeps its 3 output biases (float32) in its flatbuffer."""


def _with_biases(biases: list[float]) -> bytes:
    """v1's float32 model with other output biases: a real model that answers worse."""
    data = bytearray(tiny_models.model("v1-float32"))
    assert len(np.frombuffer(data[BIAS_OFFSET : BIAS_OFFSET + 12], np.float32)) == 3
    data[BIAS_OFFSET : BIAS_OFFSET + 12] = np.asarray(biases, np.float32).tobytes()
    return bytes(data)


NEVER_CLASS_2 = [-6.897905, -20.18844, -1000.0]
"""Class 2 is never answered: about 2/3 right (a regression, well above chance)."""
ALWAYS_CLASS_0 = [1000.0, -1000.0, -1000.0]
"""Always class 0: 1/3 right on three balanced classes (chance level)."""


@pytest.fixture
def lab(tmp_path):
    with Lab(tmp_path / "lab", model="blobs") as lab:
        yield lab


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "litefleet", *args], capture_output=True, text=True, timeout=300
    )


def test_chance_bound_is_three_standard_errors_above_chance():
    assert chance_bound(4, 200) == pytest.approx(0.25 + 3 * (0.25 * 0.75 / 200) ** 0.5)
    assert chance_bound(1, 200) == 0.0


def test_first_publish_sets_the_floor_shown_by_repo_floor_and_fleet_status(lab):
    lab.publish("v1", 1, min_accuracy=None)
    policy = read_policy(lab.repo, "blobs")
    assert policy.floor == pytest.approx(0.995 - 0.03) and "release 1" in policy.set_by
    record = read_index(lab.repo, "blobs").release(1).quality
    assert record.golden_accuracy == {"float32": 1.0, "int8": 0.995} and record.previous is None
    out = _cli("repo", "floor", str(lab.repo.path), "blobs")
    assert out.returncode == 0 and "floor 0.965" in out.stdout, out.stderr
    out = _cli("repo", "floor", str(lab.repo.path), "blobs", "0.99", "--tolerance", "0.01")
    assert out.returncode == 0 and "floor 0.990" in out.stdout and "operator" in out.stdout
    fleet = httpx.get(f"{lab.server.url}/v1/fleet", headers=operator_headers(lab.repo)).json()[
        "releases"
    ]
    assert fleet[0]["quality_floor"] == 0.99


def test_a_chance_level_release_is_refused_at_publish_and_by_devices(lab):
    lab.publish("v1", 1, min_accuracy=None)
    home = lab.device("cam", direct=True)
    assert Agent(home).check().active_version == 1
    chance = lab.build("chance", files={"float32": _with_biases(ALWAYS_CLASS_0)})
    with pytest.raises(UserError) as refused:
        lab.publish(chance, 2, min_accuracy=None)
    line = str(refused.value)
    assert "\n" not in line and "at chance level" in line and "0.3" in line, line
    assert read_index(lab.repo, "blobs").release(2) is None
    # forced through: the release says so, and its default gate still refuses it
    lab.publish(chance, 2, min_accuracy=None, allow_regression=True)
    release = read_index(lab.repo, "blobs").release(2)
    assert release.quality.allowed_regression and release.quality.refusals
    assert release.gate.min_accuracy > release.quality.golden_accuracy["float32"]
    r = Agent(home).check()
    assert (r.action, r.active_version) == ("rejected", 1), r
    assert "golden accuracy" in r.reason


def test_a_regression_against_the_previous_good_release_is_refused(lab):
    lab.publish("v1", 1, min_accuracy=None)
    set_floor(lab.repo, "blobs", 0.5)  # the floor alone would let it through
    worse = lab.build("worse", files={"float32": _with_biases(NEVER_CLASS_2)})
    out = _cli("publish", str(lab.repo.path), str(worse), "--model", "blobs", "--version", "2")
    assert out.returncode == 2, out.stdout
    err = out.stderr.strip()
    assert err.count("\n") == 0 and "release 1's golden inputs" in err and "0.6" in err, err
    out = _cli(
        "publish",
        str(lab.repo.path),
        str(worse),
        "--model",
        "blobs",
        "--version",
        "2",
        "--allow-regression",
    )
    assert out.returncode == 0 and "published despite" in out.stdout, out.stderr
    record = read_index(lab.repo, "blobs").release(2).quality
    assert record.allowed_regression and record.previous == 1
    assert 0.6 < record.accuracy_on_previous["float32"] < 0.75


def test_a_good_release_records_its_agreement_with_the_previous_one(lab):
    lab.publish("v1", 1, min_accuracy=None)
    lab.publish("v2", 2, min_accuracy=None)
    record = read_index(lab.repo, "blobs").release(2).quality
    assert record.previous == 1 and not record.allowed_regression
    assert min(record.agreement_with_previous.values()) >= 0.98
    # a paused release is not the "previous good" one
    lab.rollout(2, "pause")
    lab.publish("v3", 3, min_accuracy=None)
    assert read_index(lab.repo, "blobs").release(3).quality.previous == 1


def test_build_warns_at_chance_level(lab):
    from litefleet.cli.build import chance_warnings
    from litefleet.release import BuildReport

    folder = lab.build("v1")
    report = BuildReport.model_validate_json((folder / "report.json").read_text())
    assert chance_warnings(report, folder) == []
    low = report.model_copy(
        update={"candidates": [c.model_copy(update={"accuracy": 0.34}) for c in report.candidates]}
    )
    lines = chance_warnings(low, folder)
    assert len(lines) == 2 and "0.340 is at chance level for 3 classes" in lines[0]
