"""The live canary end to end, with real agents, the real runtime and the real server.

A release exact on its golden inputs and wrong elsewhere (it never answers class 2, which
the golden set of both releases lacks) passes publish and every device's gate; on live
traffic the previous version disagrees on about a third of the inputs, each device's
probation rolls it back with the figures, and the server's canary judge pauses it
fleet-wide by itself. The failure-count rule is set to fire on the same third report: the
pause must still name the judge (it is asked first), which a broken judge could not do.
"""

from __future__ import annotations

from pathlib import Path

import httpx
import numpy as np
import pytest

from litefleet.device.agent import Agent
from litefleet.device.canary import CanaryRules, CanarySummary, canary_verdict
from litefleet.device.runtime import ModelRuntime
from litefleet.litert import LoadedModel
from litefleet.registry.halt import HaltRule
from litefleet.registry.rollout import read_rollout
from litefleet.testing import tiny_models
from litefleet.testing.lab import Lab
from litefleet.testing.operators import operator_headers

BIAS_OFFSET = 348  # the tiny v1 float32 model's output biases (see tests/registry/test_quality)
DEVICES = 4


def _never_class_2() -> bytes:
    data = bytearray(tiny_models.model("v1-float32"))
    data[BIAS_OFFSET : BIAS_OFFSET + 12] = np.asarray(
        [-6.897905, -20.18844, -1000.0], np.float32
    ).tobytes()
    return bytes(data)


def _without_class_2(folder: Path) -> Path:
    """A golden set that lacks one class the field has (the realistic blind spot)."""
    with np.load(folder / "golden.npz") as z:
        x, y, ref = z["x"], z["y"], z["reference"]
    keep = y != 2
    np.savez(folder / "golden.npz", x=x[keep], y=y[keep], reference=ref[keep])
    return folder


@pytest.fixture
def lab(tmp_path):
    at_three = HaltRule(threshold=0.2, min_devices=3, min_failed=3)  # with the judge's 3
    with Lab(tmp_path / "lab", model="blobs", settings={"halt": at_three}) as lab:
        yield lab


def test_canary_rule_states_its_threshold():
    rules = CanaryRules()
    good = CanarySummary(version=2, previous=1, samples=200, agreed=196)
    assert canary_verdict(good, 0.99, rules) == (False, "")
    bad = CanarySummary(version=2, previous=1, samples=200, agreed=130)
    failed, why = canary_verdict(bad, 0.99, rules)
    assert failed and "0.650 over 200 inputs" in why and "0.990" in why
    few = CanarySummary(version=2, previous=1, samples=rules.min_samples - 1, agreed=0)
    assert canary_verdict(few, 0.99, rules) == (False, "")


def test_a_burst_right_after_the_start_is_judged_and_the_cpu_share_still_holds(tmp_path):
    """A millisecond-old worker has, by the ratio alone, already used its share: without a
    window the first samples of a burst were dropped (seen on a busy machine)."""
    from litefleet.device.canary import LiveCanary

    previous = tiny_models.model("v1-float32")
    x = np.random.default_rng(0).normal(size=(400, 8)).astype(np.float32)
    y = np.asarray(LoadedModel(previous).predict(x))
    canary = LiveCanary(tmp_path, 2, 1, previous)  # the default share, 0.1
    for xb, yb in zip(np.array_split(x, 8), np.array_split(y, 8), strict=True):
        canary.offer(xb, yb)
    assert canary.drain(120)
    canary.close()
    assert (canary.summary.samples, canary.summary.agreed, canary.summary.dropped) == (400, 400, 0)
    stingy = CanaryRules(cpu_share=1e-6, cpu_window_s=1e-3)
    canary = LiveCanary(tmp_path, 2, 1, previous, rules=stingy)
    for xb, yb in zip(np.array_split(x, 8), np.array_split(y, 8), strict=True):
        canary.offer(xb, yb)
    assert canary.drain(120)
    canary.close()
    assert canary.summary.dropped > 0 and canary.summary.samples < 400, canary.summary


def test_bad_on_live_release_rolled_back_by_probation_and_paused_by_the_judge(lab):
    lab.publish(_without_class_2(lab.build("v1", variants=("float32",))), 1, min_accuracy=None)
    probation = {"predictions": 10**6, "seconds": 10**6, "canary": {"cpu_share": 1.0}}
    homes = [lab.device(f"cam-{i}", direct=True, probation=probation) for i in range(DEVICES)]
    for home in homes:
        assert Agent(home).check().active_version == 1
    bad = _without_class_2(lab.build("bad-live", files={"float32": _never_class_2()}))
    lab.publish(bad, 2, min_accuracy=None)  # exact on the golden set: publish has no case
    live = lab.x[200:600]  # every class, as the field sees them
    for home in homes:
        r = Agent(home).check()
        assert (r.action, r.active_version) == ("installed", 2), r
    for k, home in enumerate(homes):
        with ModelRuntime(home) as rt:
            assert rt.canary is not None and rt.canary.summary.previous == 1
            for batch in np.array_split(live, 8):
                rt.predict(batch)
            assert rt.canary.drain(120), "the canary never judged what it was offered"
        r = Agent(home).check()
        assert (r.action, r.active_version) == ("rolled_back", 1), r
        assert "live agreement with version 1" in r.reason, r.reason
        paused = read_rollout(lab.repo, "blobs").rollouts[2].status == "paused"
        assert paused == (k + 1 >= 3), "the judge needs 3 devices, and pauses at once then"
    assert Agent(lab.device("late", direct=True)).check().active_version == 1
    entry = read_rollout(lab.repo, "blobs").rollouts[2]
    assert entry.status == "paused" and entry.reason.startswith("judge:"), entry
    row = next(
        r
        for r in httpx.get(f"{lab.server.url}/v1/fleet", headers=operator_headers(lab.repo)).json()[
            "releases"
        ]
        if r["version"] == 2
    )
    assert (row["canary_devices"], row["canary_failed"], row["judge"]) == (DEVICES, DEVICES, "bad")
    assert 0.55 < row["live_agreement"] < 0.8, row


def test_a_good_release_passes_the_canary(lab):
    lab.publish("v1", 1, min_accuracy=None)
    probation = {"predictions": 100, "seconds": 10**6, "canary": {"cpu_share": 1.0}}
    home = lab.device("cam", direct=True, probation=probation)
    Agent(home).check()
    lab.publish("v2", 2, min_accuracy=None)
    assert Agent(home).check().active_version == 2
    with ModelRuntime(home, feedback_every=0.0) as rt:
        for batch in np.array_split(lab.x[200:600], 8):
            rt.predict(batch)
        canary = rt.canary  # None when probation (100 predictions) already ended it
        assert canary is None or canary.drain(120)
    r = Agent(home).check()
    assert r.active_version == 2 and r.action != "rolled_back", r
    summary = Agent(home).telemetry  # the canary summary went to the server
    assert summary.pending() == []


def test_the_gate_refuses_a_variant_outside_the_band_measured_against_the_previous(lab, tmp_path):
    """The device re-measures agreement with its active version on that version's golden
    inputs: a variant that answers otherwise than the publisher measured is refused."""
    from litefleet.device.health import HealthReport
    from litefleet.registry.publish import read_index

    lab.publish("v1", 1, min_accuracy=None)
    home = lab.device("cam", direct=True)
    agent = Agent(home)
    assert agent.check().active_version == 1
    lab.publish("v2", 2, min_accuracy=None)
    release = read_index(lab.repo, "blobs").release(2)
    assert (
        release.quality.previous == 1 and release.quality.agreement_with_previous["float32"] > 0.98
    )
    ok = HealthReport(True, checks={"accuracy": True})
    stage = tmp_path / "stage"
    stage.mkdir()
    same = stage / "float32.tflite"
    same.write_bytes(tiny_models.model("v2-float32"))
    assert agent._against_previous(same, stage, release, "float32", ok).checks["previous"]
    other = stage / "other.tflite"
    other.write_bytes(_never_class_2())  # answers class 2 never: ~1/3 off the measured band
    report = agent._against_previous(other, stage, release, "float32", ok)
    assert not report.ok and "agreement with version 1 on its golden inputs" in report.reason
