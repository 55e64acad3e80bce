"""The freshness guarantee: download rules relax step by step for a device kept behind.

A device on a metered network, with a low battery, a busy CPU and outside its window,
waits for a 10 MB file; its rules relax after `after` seconds, one step every `every`.
"""

from __future__ import annotations

import random

import pytest

from litefleet.device.conditions import Conditions
from litefleet.device.policy import (
    HOUR,
    ConditionalPolicy,
    DownloadRules,
    Escalation,
    Feedback,
    PolicyState,
    Rule,
    make_policy,
)
from litefleet.errors import UserError

FULL = 10 * 2**20
PATCH = 2 * 2**20  # 20 % of the full file: above small_bytes, below max_patch_share
BIG_PATCH = 8 * 2**20  # 80 %: a patch, but too large for metered_patches
T0 = 1000.0
AFTER, EVERY = 12 * HOUR, 6 * HOUR

bad_day = Conditions(
    network="metered",
    battery_percent=30,
    charging=False,
    cpu_load=0.9,
    local_hour=14.0,
    idle=False,
    free_disk_bytes=10**10,
)
metered_only = bad_day.with_(battery_percent=90, cpu_load=0.0, local_hour=2.0, idle=True)


def policy(**escalation):
    rules = DownloadRules(
        require_charging=True,
        require_idle=True,
        window=(1.0, 5.0),
        escalation=Escalation(**escalation),
    )
    return ConditionalPolicy(rules=rules)


def decide(p, hours_behind, c=bad_day, size=FULL):
    return p.may_download(T0 + hours_behind * HOUR, c, size, full_bytes=FULL, behind_since=T0)


def test_defaults_are_the_contract():
    e = DownloadRules().escalation
    assert (e.after, e.every, e.steps, e.max_patch_share) == (
        12 * HOUR,
        6 * HOUR,
        ("any_time", "metered_patches", "any_network"),
        0.5,
    )


def test_nothing_relaxes_before_after():
    p = policy()
    d = decide(p, 11.99)
    assert not d.go and d.rule == Rule.UNMETERED and d.level == 0
    assert "escalation" not in d.reason
    assert not decide(p, 11.99, metered_only, PATCH).go
    assert not p.may_download(T0 + 100 * HOUR, bad_day, FULL, full_bytes=FULL).go, "not behind"


def test_any_time_lifts_battery_cpu_idle_window_but_not_the_network():
    p = policy()
    d = decide(p, 12)
    assert (d.go, d.rule, d.level) == (False, Rule.UNMETERED, 1)
    assert d.reason.endswith("(escalation 1/3: any_time)"), d.reason
    # on an unmetered network the same bad day now lets the full file through
    d = decide(p, 12, bad_day.with_(network="unmetered"))
    assert d.go and d.lifted_by == "any_time"
    # and without escalation the same conditions wait (for charging, the first rule after)
    d = decide(policy(steps=()), 12, bad_day.with_(network="unmetered"))
    assert not d.go and d.rule == Rule.CHARGING


def test_metered_patches_lets_a_small_share_patch_through_but_not_the_full_file():
    p = policy()
    assert not decide(p, 17.9, metered_only, PATCH).go, "level 1 still waits for the network"
    d = decide(p, 18, metered_only, PATCH)
    assert d.go and d.level == 2 and d.lifted_by == "metered_patches"
    d = decide(p, 18, bad_day, PATCH)  # any_time is in force too: the bad day lifts
    assert d.go and d.lifted_by == "metered_patches"
    for size in (FULL, BIG_PATCH):
        d = decide(p, 18, metered_only, size)
        assert not d.go and d.rule == Rule.UNMETERED, size
        assert "(escalation 2/3: metered_patches)" in d.reason


def test_any_network_lets_the_full_file_through():
    p = policy()
    d = decide(p, 24)
    assert d.go and d.level == 3 and d.lifted_by == "any_network"
    assert decide(p, 24 * 30).level == 3, "capped at the number of steps"


def test_storage_and_critical_battery_never_lift():
    p = policy()
    d = decide(p, 24 * 30, bad_day.with_(free_disk_bytes=FULL))
    assert not d.go and d.rule == Rule.STORAGE and "escalation 3/3" in d.reason
    d = decide(p, 24 * 30, bad_day.with_(battery_percent=5))
    assert not d.go and d.rule == Rule.CRITICAL_BATTERY
    assert not decide(p, 24 * 30, bad_day.with_(network="none")).go


@pytest.mark.parametrize("rules", [{"escalation": None}, {"escalation": {"steps": []}}])
def test_no_escalation_never_relaxes(rules):
    p = make_policy("smart", rules=rules)
    for hours in (0, 12, 18, 24, 24 * 365):
        d = decide(p, hours, metered_only, PATCH)
        assert not d.go and d.level == 0 and d.rule == Rule.UNMETERED


def test_steps_apply_in_the_order_given():
    p = policy(steps=("any_network",), after=HOUR, every=HOUR)
    assert not decide(p, 0.5).go
    d = decide(p, 1)
    assert d.go and d.lifted_by == "any_network" and d.level == 1


@pytest.mark.parametrize(
    ("escalation", "named"),
    [
        ({"after": -1}, "policy.rules.escalation.after"),
        ({"every": 0}, "policy.rules.escalation.every"),
        ({"steps": ["any_time", "whenever"]}, "policy.rules.escalation.steps.1"),
        ({"steps": ["any_time", "any_time"]}, "policy.rules.escalation.steps"),
        ({"max_patch_share": 1.5}, "policy.rules.escalation.max_patch_share"),
        ({"afterwards": 3}, "policy.rules.escalation.afterwards: unknown setting"),
    ],
)
def test_invalid_escalation_settings_are_refused_in_one_line(escalation, named):
    with pytest.raises(UserError) as err:
        make_policy("conditional", rules={"escalation": escalation})
    text = str(err.value)
    assert text.startswith(named) and "\n" not in text, text


def test_behind_since_lifecycle_through_after():
    p = make_policy("smart")
    rng = random.Random(0)
    fb = Feedback()
    s = p.start(0.0, rng)
    assert s.behind_since is None
    s = p.after(s, 100.0, "deferred", fb, rng)
    assert s.behind_since == 100.0, "set on the first deferral"
    s = p.after(s, 200.0, "deferred", fb, rng)
    s = p.after(s, 300.0, "error", fb, rng)
    assert s.behind_since == 100.0, "kept through deferred and error"
    for outcome in ("none", "installed", "rolled_back", "rejected"):
        behind = p.after(s, 400.0, outcome, fb, rng)
        assert behind.behind_since is None, outcome
    assert p.after(PolicyState(), 5.0, "error", fb, rng).behind_since is None
