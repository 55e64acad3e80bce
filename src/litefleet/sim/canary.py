"""A fleet on a virtual clock running the real canary rule, judge and promotion code.

What it answers (`benchmarks/bench_canary.py`): for a release whose live agreement with
its predecessor drops by some share, how long until the server pauses it and how many
device-hours the fleet spends on it; for a good release, how often it is paused by mistake
and how long it takes to reach 100 % with automatic stages versus an operator's daily steps.

The code under test is the product's own: each device's probation verdict is
`litefleet.device.canary.canary_verdict` over its live samples; the server's pause and
promotion decisions are `litefleet.registry.judge.CanaryJudge.judge` over the devices'
newest summaries; a stage moves on only when `litefleet.registry.rollout.due_stage` says it
baked, with the judge sure on evidence from that stage (as `registry/promote.py`).

What is modelled (stated, not measured): each device predicts at its own rate (lognormal
around `rate_per_h`), offers every prediction to the canary (no drops), checks for updates
every `check_h` hours at its own phase, and its two versions agree on a live input with
probability `p_live` independently. Probation passes after `probation_predictions`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from litefleet.device.canary import CanaryRules, CanarySummary, canary_verdict
from litefleet.registry.judge import CanaryJudge, DeviceSummary
from litefleet.registry.rollout import due_stage
from litefleet.release import RolloutEntry


@dataclass(frozen=True)
class CanaryFleet:
    devices: int = 2000
    rate_per_h: float = 60.0
    check_h: float = 1.0
    probation_predictions: int = 200
    expected: float = 0.97
    """Agreement with the previous release the publisher measured on the golden inputs."""
    stages: tuple[float, ...] = (1.0, 10.0, 50.0, 100.0)
    bake_h: float = 2.0
    manual_step_h: float = 24.0
    """An operator's rollout step: once a working day."""
    step_h: float = 5 / 60
    horizon_h: float = 96.0


@dataclass
class Outcome:
    paused_at_h: float | None
    full_at_h: float | None
    device_hours: float
    devices_installed: int
    devices_rolled_back: int
    promotions: list[tuple[float, float]]
    final_percent: float = 0.0


def run(
    fleet: CanaryFleet,
    p_live: float,
    seed: int,
    automatic: bool = True,
    rules: CanaryRules | None = None,
    judge: CanaryJudge | None = None,
) -> Outcome:
    """One release on one fleet: (time to pause, time to 100 %, device-hours on it, ...)."""
    rules = rules or CanaryRules()
    judge = judge or CanaryJudge()
    rng = np.random.default_rng(seed)
    n = fleet.devices
    bucket = rng.uniform(0, 100, n)
    rate = fleet.rate_per_h * rng.lognormal(-0.125, 0.5, n)
    phase = rng.uniform(0, fleet.check_h, n)
    installed_at = np.full(n, np.nan)
    left_at = np.full(n, np.nan)
    predictions = np.zeros(n)
    agreed = np.zeros(n)
    judged = np.zeros(n, dtype=bool)
    summaries: dict[int, tuple[float, DeviceSummary]] = {}
    entry = RolloutEntry(
        percent=fleet.stages[0],
        stages=list(fleet.stages) if automatic else [],
        bake_s=fleet.bake_h * 3600,
        stage_since=0.0,
    )
    paused_at = full_at = None
    promotions: list[tuple[float, float]] = []
    steps = int(fleet.horizon_h / fleet.step_h)
    for k in range(1, steps + 1):
        t = k * fleet.step_h
        # devices check at their own phase: those in the cohort install the release
        checking = np.floor((t - phase) / fleet.check_h) > np.floor(
            (t - fleet.step_h - phase) / fleet.check_h
        )
        if entry.status == "active":
            new = checking & np.isnan(installed_at) & (bucket < entry.percent)
            installed_at[new] = t
        running = ~np.isnan(installed_at) & np.isnan(left_at)
        # live traffic on devices still on probation: both versions answer each input
        on_probation = running & ~judged
        arrivals = rng.poisson(rate[on_probation] * fleet.step_h)
        predictions[on_probation] += arrivals
        agreed[on_probation] += rng.binomial(arrivals, p_live)
        for i in np.flatnonzero(on_probation & (predictions >= rules.min_samples)):
            s = CanarySummary(
                version=2, previous=1, samples=int(predictions[i]), agreed=int(agreed[i])
            )
            failed, _ = canary_verdict(s, fleet.expected, rules)
            if failed or predictions[i] >= fleet.probation_predictions:
                judged[i] = True
                if failed:
                    left_at[i] = t  # rolled back by probation
                summaries[int(i)] = (
                    t,
                    DeviceSummary(str(i), s.agreement, s.samples, failed),
                )
        if entry.status != "active":
            continue
        verdict = judge.judge([d for _, d in summaries.values()], fleet.expected)
        if verdict.verdict == "bad":
            entry = entry.model_copy(update={"status": "paused"})
            paused_at = t
            continue
        if automatic and due_stage(entry, t * 3600):
            since = entry.stage_since / 3600
            stage = [d for when, d in summaries.values() if when >= since]
            if judge.judge(stage, fleet.expected).verdict == "good":
                nxt = next(p for p in entry.stages if p > entry.percent)
                promotions.append((t, nxt))
                entry = entry.model_copy(update={"percent": nxt, "stage_since": t * 3600})
        elif not automatic and t >= fleet.manual_step_h * (len(promotions) + 1):
            later = [p for p in fleet.stages if p > entry.percent]
            if later:
                promotions.append((t, later[0]))
                entry = entry.model_copy(update={"percent": later[0]})
        if full_at is None and entry.percent >= 100:
            full_at = t
    end = np.where(np.isnan(left_at), fleet.horizon_h, left_at)
    hours = np.where(np.isnan(installed_at), 0.0, end - installed_at)
    return Outcome(
        paused_at_h=paused_at,
        full_at_h=full_at,
        device_hours=float(hours.sum()),
        devices_installed=int((~np.isnan(installed_at)).sum()),
        devices_rolled_back=int((~np.isnan(left_at)).sum()),
        promotions=promotions,
        final_percent=entry.percent,
    )
