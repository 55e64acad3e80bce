"""The array methods on a whole batch give, row by row, what the agent's scalar methods give.

Random inputs (numpy, a few thousand rows) for every strategy and a few rule sets, with
devices at every escalation level: decisions, rule codes, states and verdicts must agree
exactly, since the simulator decides with the first and the device with the second.
"""

from __future__ import annotations

import math
import random

import numpy as np
import pytest

from litefleet.device.conditions import NETWORK_NAMES, Conditions, ConditionsArray
from litefleet.device.policy import (
    HOUR,
    OUTCOME_CODES,
    OUTCOMES,
    PolicyState,
    PolicyStates,
    Rule,
    SmartPolicy,
    make_policy,
)
from litefleet.device.probation import (
    VERDICTS,
    Probation,
    ProbationRules,
    probation_verdict,
    probation_verdict_many,
)
from litefleet.drift import Feedback

N = 2000

POLICIES = {
    "periodic": make_policy("periodic"),
    "conditional": make_policy("conditional"),
    "smart": make_policy("smart"),
    "conditional, every rule, night window": make_policy(
        "conditional",
        rules={
            "require_charging": True,
            "require_idle": True,
            "window": [22, 6],
            "escalation": {"after": HOUR, "every": HOUR, "max_patch_share": 0.3},
        },
    ),
    "smart, day window, one step": make_policy(
        "smart",
        rules={"window": [9, 17], "escalation": {"steps": ["metered_patches"], "after": 60}},
    ),
    "smart, never escalates": make_policy("smart", rules={"escalation": None}),
    "conditional, no steps": make_policy("conditional", rules={"escalation": {"steps": []}}),
}


def random_conditions(rng: np.random.Generator, n: int) -> ConditionsArray:
    return ConditionsArray(
        network=rng.integers(0, 3, n).astype(np.int8),
        battery_percent=rng.uniform(0, 100, n),
        charging=rng.random(n) < 0.4,
        cpu_load=rng.uniform(0, 1, n),
        free_disk_bytes=rng.integers(0, 400 * 2**20, n),
        local_hour=rng.uniform(0, 24, n),
        idle=rng.random(n) < 0.5,
    )


def row(c: ConditionsArray, i: int) -> Conditions:
    return Conditions(
        network=NETWORK_NAMES[int(c.network[i])],
        battery_percent=float(c.battery_percent[i]),
        charging=bool(c.charging[i]),
        cpu_load=float(c.cpu_load[i]),
        free_disk_bytes=int(c.free_disk_bytes[i]),
        local_hour=float(c.local_hour[i]),
        idle=bool(c.idle[i]),
    )


def random_feedback(rng: np.random.Generator, n: int) -> Feedback:
    return Feedback(
        drift=rng.exponential(0.2, n),
        error_rate=np.where(rng.random(n) < 0.5, 0.0, rng.uniform(0, 0.1, n)),
        confidence=rng.uniform(0.3, 1, n),
        predictions=rng.integers(0, 300, n),
    )


def feedback_row(fb: Feedback, i: int) -> Feedback:
    return Feedback(
        drift=float(fb.drift[i]),
        error_rate=float(fb.error_rate[i]),
        confidence=float(fb.confidence[i]),
        predictions=int(fb.predictions[i]),
    )


def random_states(rng: np.random.Generator, n: int, now: np.ndarray) -> PolicyStates:
    never = rng.random(n) < 0.2
    not_behind = rng.random(n) < 0.3
    return PolicyStates(
        next_check=now + rng.uniform(-HOUR, HOUR, n),
        interval=np.where(rng.random(n) < 0.1, 0.0, rng.uniform(600, 2 * 86400, n)),
        failures=rng.integers(0, 12, n).astype(np.int32),
        last_check=np.where(never, np.nan, now - rng.uniform(0, 2 * HOUR, n)),
        deferrals=rng.integers(0, 8, n).astype(np.int32),
        behind_since=np.where(not_behind, np.nan, now - rng.uniform(0, 60 * HOUR, n)),
    )


def same_state(a: PolicyState, b: PolicyState) -> bool:
    def eq(x, y):
        if x is None or y is None:
            return x is y
        return x == y or (math.isnan(x) and math.isnan(y))

    return all(eq(getattr(a, f), getattr(b, f)) for f in PolicyState.__dataclass_fields__)


@pytest.mark.parametrize("label", list(POLICIES))
def test_array_methods_equal_the_scalar_wrappers_row_by_row(label):
    policy = POLICIES[label]
    gen = np.random.default_rng(list(POLICIES).index(label))
    now = gen.uniform(0, 30 * 86400, N)
    c = random_conditions(gen, N)
    full = gen.integers(1, 200 * 2**20, N)
    size = np.where(gen.random(N) < 0.5, full, (full * gen.uniform(0, 1, N)).astype(np.int64))
    size = np.where(gen.random(N) < 0.1, gen.integers(0, 2**19, N), size)  # small downloads
    states = random_states(gen, N, now)
    fb = random_feedback(gen, N)
    outcome = gen.integers(0, len(OUTCOMES), N).astype(np.int8)
    seeds = gen.integers(0, 2**31, N)
    u = np.array([random.Random(int(s)).random() for s in seeds])

    codes = policy.may_download_many(now, c, size, full, states.behind_since)
    levels = policy.escalation_level(now, states.behind_since)
    due = policy.due_many(states, now, fb)
    started = policy.start_many(now, u)
    nxt = policy.after_many(states, now, outcome, fb, u)
    assert (
        len(set(levels.tolist())) > 1
        or policy.rules.escalation is None
        or (not policy.rules.escalation.steps)
    ), "the inputs reach several escalation levels"
    assert len(set(codes.tolist())) >= (3 if policy.name == "periodic" else 6), "several rules"

    for i in range(N):
        state = states.one(i)
        behind = state.behind_since
        d = policy.may_download(
            float(now[i]), row(c, i), int(size[i]), full_bytes=int(full[i]), behind_since=behind
        )
        assert (d.go, d.rule, d.level) == (codes[i] == 0, Rule(codes[i]), levels[i]), i
        assert d.go == (d.reason == "")
        assert policy.due(state, float(now[i]), feedback_row(fb, i)) == due[i], i
        rng = random.Random(int(seeds[i]))
        assert same_state(policy.start(float(now[i]), rng), started.one(i)), i
        rng = random.Random(int(seeds[i]))
        after = policy.after(state, float(now[i]), OUTCOMES[outcome[i]], feedback_row(fb, i), rng)
        assert same_state(after, nxt.one(i)), (i, after, nxt.one(i))
        if isinstance(policy, SmartPolicy):
            assert bool(policy.alarm(feedback_row(fb, i))) == policy.alarm_many(fb)[i]


def test_put_and_take_round_trip():
    gen = np.random.default_rng(3)
    now = gen.uniform(0, 1e6, 50)
    states = random_states(gen, 50, now)
    picked = np.array([3, 7, 11])
    part = states.take(picked)
    assert [part.one(k) for k in range(3)] == [states.one(i) for i in picked]
    fresh = PolicyStates.empty(50)
    fresh.put(picked, part)
    assert fresh.one(7) == states.one(7) and fresh.one(0) == PolicyState()
    assert PolicyStates.of(states.one(5)).one() == states.one(5)


def test_outcome_codes_index_the_outcomes():
    assert [OUTCOMES[v] for v in OUTCOME_CODES.values()] == list(OUTCOME_CODES)
    assert OUTCOME_CODES == {
        "none": 0,
        "installed": 1,
        "deferred": 2,
        "rejected": 3,
        "rolled_back": 4,
        "error": 5,
    }


def test_probation_verdicts_equal_row_by_row():
    gen = np.random.default_rng(5)
    rules = ProbationRules()
    now = gen.uniform(0, 1e5, N)
    since = now - gen.uniform(0, 2 * rules.seconds, N)
    fb = random_feedback(gen, N)
    fb = Feedback(
        drift=gen.exponential(0.4, N),
        error_rate=fb.error_rate / 2,
        confidence=fb.confidence,
        predictions=fb.predictions,
    )
    many = probation_verdict_many(since, fb, now, rules)
    assert set(many.tolist()) == {0, 1, 2}
    for i in range(N):
        p = Probation(
            version=2, since=float(since[i]), predictions=rules.predictions, seconds=rules.seconds
        )
        verdict, reason = probation_verdict(p, feedback_row(fb, i), float(now[i]), rules)
        assert verdict == VERDICTS[many[i]], i
        assert (reason == "") == (verdict == "pending")
