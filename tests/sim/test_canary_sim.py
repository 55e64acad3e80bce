"""The simulated fleet runs the product's canary rule, judge and promotion (`sim/canary.py`)."""

from __future__ import annotations

from litefleet.registry.judge import CanaryJudge, DeviceSummary, binomial_tail
from litefleet.sim.canary import CanaryFleet, run

FLEET = CanaryFleet(devices=600)


def test_a_release_30_percent_worse_on_live_traffic_is_paused_at_the_first_stage():
    out = run(FLEET, FLEET.expected * 0.7, seed=1)
    assert out.paused_at_h is not None and out.paused_at_h < 6, out
    assert out.final_percent == FLEET.stages[0] and not out.promotions


def test_a_good_release_reaches_every_device_sooner_than_daily_steps():
    auto = run(FLEET, FLEET.expected, seed=2)
    manual = run(FLEET, FLEET.expected, seed=2, automatic=False)
    assert auto.paused_at_h is None and auto.full_at_h is not None
    assert [p for _, p in auto.promotions] == [10.0, 50.0, 100.0]
    assert auto.full_at_h < manual.full_at_h


def test_the_judge_counts_devices_and_states_its_tail():
    assert binomial_tail(3, 3, 0.01) < 1e-4 < binomial_tail(2, 3, 0.01)
    judge = CanaryJudge()
    two_bad = [DeviceSummary(f"d{i}", 0.5, 200, i < 2) for i in range(3)]
    assert judge.judge(two_bad, 0.97).verdict != "bad"
    three = [DeviceSummary(f"d{i}", 0.5, 200, True) for i in range(3)]
    assert judge.judge(three, 0.97).verdict == "bad"
    few = [DeviceSummary(f"d{i}", 0.97, 200, False) for i in range(4)]
    assert judge.judge(few, 0.97).verdict == "unsure"
    assert judge.judge([*few, DeviceSummary("d9", 0.97, 200, False)], 0.97).verdict == "good"
