"""Rollouts that promote themselves, with real agents, the real runtime and the server.

A good fine-tune published with `stages` goes through every stage to 100 % with no
operator action: devices in each stage install it, their live canaries pass, the judge is
sure, the server signs the next stage and records who/what/why. A hold stops it; an
unsure judge (too few devices) never promotes.
"""

from __future__ import annotations

import httpx
import numpy as np
import pytest

from litefleet.device.agent import Agent
from litefleet.device.runtime import ModelRuntime
from litefleet.registry.judge import CanaryJudge
from litefleet.registry.rollout import change_rollout, read_rollout
from litefleet.release import rollout_bucket
from litefleet.testing.lab import Lab
from litefleet.testing.operators import operator_headers

STAGES = [25.0, 50.0, 100.0]
PROBATION = {"predictions": 100, "seconds": 10**6, "canary": {"cpu_share": 1.0}}


def _ids(n_per_stage: int) -> list[str]:
    """Device ids with `n_per_stage` devices in each stage's new share of release 2."""
    found: dict[int, list[str]] = {0: [], 1: [], 2: []}
    i = 0
    while min(len(v) for v in found.values()) < n_per_stage:
        d = f"cam-{i}"
        b = rollout_bucket(d, "blobs", 2)
        stage = next(k for k, p in enumerate(STAGES) if b < p)
        if len(found[stage]) < n_per_stage:
            found[stage].append(d)
        i += 1
    return [d for k in sorted(found) for d in found[k]]


@pytest.fixture
def lab(tmp_path):
    judge = CanaryJudge(min_devices_good=2)
    settings = {"judge": judge, "promote_interval": None}
    with Lab(tmp_path / "lab", model="blobs", settings=settings) as lab:
        yield lab


def _live(lab: Lab, home) -> None:
    """The app's traffic on the device: every class, in a few batches."""
    with ModelRuntime(home, feedback_every=0.0) as rt:
        for batch in np.array_split(lab.x[200:600], 4):
            rt.predict(batch)


def _percent(lab: Lab) -> float:
    return read_rollout(lab.repo, "blobs").rollouts[2].percent


def test_a_good_fine_tune_is_promoted_through_every_stage_by_itself(lab):
    lab.publish("v1", 1, min_accuracy=None)
    homes = {d: lab.device(d, direct=True, probation=PROBATION) for d in _ids(2)}
    for home in homes.values():
        assert Agent(home).check().active_version == 1
    lab.publish("v2", 2, min_accuracy=None, stages=STAGES, bake_s=0.0)
    seen = [_percent(lab)]
    for _ in range(len(STAGES) + 1):  # each round: devices check, run the app, check again
        for home in homes.values():
            if Agent(home).check().active_version == 2 and ModelRuntime(home).canary:
                _live(lab, home)
                Agent(home).check()  # probation passes: the canary summary goes out
        seen.append(_percent(lab))
    assert seen[0] == 25.0 and seen[-1] == 100.0, seen
    assert all(Agent(h).check().active_version == 2 for h in homes.values())
    steps = httpx.get(f"{lab.server.url}/v1/promotions", headers=operator_headers(lab.repo)).json()
    assert [(s["from_percent"], s["to_percent"]) for s in steps] == [(25, 50), (50, 100)]
    assert all("judge:" in s["reason"] and "pid" in s["by"] for s in steps), steps


def test_a_hold_or_an_unsure_judge_never_promotes(lab):
    lab.publish("v1", 1, min_accuracy=None)
    ids = _ids(1)  # one device per stage: the judge (2 needed) is never sure at 25 %
    homes = [lab.device(d, direct=True, probation=PROBATION) for d in ids]
    for home in homes:
        Agent(home).check()
    lab.publish("v2", 2, min_accuracy=None, stages=STAGES, bake_s=0.0)
    first = homes[0]
    assert Agent(first).check().active_version == 2
    _live(lab, first)
    Agent(first).check()
    assert _percent(lab) == 25.0, "one device judged: unsure, no promotion"
    change_rollout(lab.repo, "blobs", 2, "hold")
    for home in homes[1:]:  # more evidence arrives while held: still no step
        if Agent(home).check().active_version == 2:
            _live(lab, home)
            Agent(home).check()
    assert _percent(lab) == 25.0
    row = next(
        r
        for r in httpx.get(f"{lab.server.url}/v1/fleet", headers=operator_headers(lab.repo)).json()[
            "releases"
        ]
        if r["version"] == 2
    )
    assert row["canary_devices"] >= 1
    assert read_rollout(lab.repo, "blobs").rollouts[2].hold
    assert (
        httpx.get(f"{lab.server.url}/v1/promotions", headers=operator_headers(lab.repo)).json()
        == []
    )
