"""The three strategies on an injected clock, conditions and RNG (no sleeping, no I/O)."""

from __future__ import annotations

import itertools
import random

import pytest

from litefleet.device.clock import ManualClock
from litefleet.device.conditions import Conditions
from litefleet.device.policy import (
    HOUR,
    ConditionalPolicy,
    DownloadRules,
    Feedback,
    PeriodicPolicy,
    PolicyState,
    SmartPolicy,
    in_window,
    make_policy,
)


def simulate(policy, clock, hours, outcome="none", feedback=Feedback(), rng=None):
    """Drive a policy for `hours` of virtual time; returns the times it checked."""
    rng = rng or random.Random(0)
    state = policy.start(clock.now(), rng)
    checks = []
    end = clock.now() + hours * HOUR
    while clock.now() < end:
        if policy.due(state, clock.now(), feedback):
            checks.append(clock.now())
            state = policy.after(state, clock.now(), outcome, feedback, rng)
        clock.advance(60)
    return checks, state


def test_periodic_checks_every_interval_with_jitter():
    clock = ManualClock()
    p = PeriodicPolicy(interval=6 * HOUR, jitter=0.1)
    checks, _ = simulate(p, clock, 24 * 10)
    gaps = [b - a for a, b in itertools.pairwise(checks)]
    assert 38 <= len(checks) <= 45
    assert all(5.4 * HOUR - 60 <= g <= 6.6 * HOUR + 60 for g in gaps)
    assert len({round(g) for g in gaps}) > 5, "jitter spreads the checks"


def test_periodic_fleet_start_is_spread():
    firsts = [
        PeriodicPolicy(interval=HOUR).start(0.0, random.Random(i)).next_check for i in range(200)
    ]
    assert min(firsts) >= 0 and max(firsts) <= 0.1 * HOUR
    assert len({round(f) for f in firsts}) > 100


def test_errors_back_off_exponentially_then_reset():
    p = PeriodicPolicy(interval=6 * HOUR, retry_base=60, retry_max=HOUR, jitter=0.0)
    rng = random.Random(0)
    state = p.start(0.0, rng)
    waits = []
    now = 0.0
    for _ in range(8):
        state = p.after(state, now, "error", Feedback(), rng)
        waits.append(state.next_check - now)
    assert waits[:4] == [60, 120, 240, 480] and waits[-1] == HOUR
    state = p.after(state, now, "none", Feedback(), rng)
    assert state.failures == 0 and state.next_check - now == 6 * HOUR


def test_periodic_downloads_on_any_network():
    p = PeriodicPolicy()
    assert p.may_download(
        0, Conditions(network="metered", battery_percent=5, charging=False), 10**8
    ).go
    assert not p.may_download(0, Conditions(network="none"), 10).go


def test_conditional_rules_each_refuse_a_large_download():
    rules = DownloadRules(
        window=(1.0, 5.0), small_bytes=1000, min_free_storage=100, max_cpu_load=0.5
    )
    p = ConditionalPolicy(rules=rules)
    good = Conditions(
        network="unmetered",
        battery_percent=80,
        charging=False,
        cpu_load=0.1,
        free_disk_bytes=10**9,
        local_hour=2.0,
    )
    big = 10**6
    assert p.may_download(0, good, big).go
    cases = {
        "network is metered": good.with_(network="metered"),
        "battery": good.with_(battery_percent=30),
        "busy": good.with_(cpu_load=0.9),
        "storage": good.with_(free_disk_bytes=big + 50),
        "outside window": good.with_(local_hour=12.0),
        "no network": good.with_(network="none"),
    }
    for word, c in cases.items():
        d = p.may_download(0, c, big)
        assert not d.go and word in d.reason, (word, d)
    # charging satisfies the battery rule whatever the level
    assert p.may_download(0, good.with_(battery_percent=20, charging=True), big).go


def test_conditional_small_patch_goes_while_large_waits():
    p = ConditionalPolicy(rules=DownloadRules(small_bytes=64 * 1024))
    c = Conditions(
        network="metered", battery_percent=40, charging=False, cpu_load=0.9, local_hour=14.0
    )
    assert p.may_download(0, c, 10 * 1024).go
    assert not p.may_download(0, c, 10 * 1024 * 1024).go
    assert not p.may_download(0, c.with_(battery_percent=10), 1024).go, "critical battery"


def test_conditional_waits_for_the_window_on_a_virtual_day():
    """A deferred download retries until the night window opens, then goes."""
    clock = ManualClock(start=0.0)  # local_hour derived from the virtual clock below
    p = ConditionalPolicy(
        interval=6 * HOUR, defer_retry=30 * 60, jitter=0.0, rules=DownloadRules(window=(1, 5))
    )
    rng = random.Random(1)
    state = p.start(clock.now(), rng)
    state = state.__class__(next_check=10 * HOUR, interval=p.interval)
    clock.advance(10 * HOUR)
    went_at = None
    while went_at is None and clock.now() < 48 * HOUR:
        if p.due(state, clock.now(), Feedback()):
            hour = (clock.now() / HOUR) % 24
            d = p.may_download(clock.now(), Conditions(local_hour=hour), 10**7)
            state = p.after(
                state, clock.now(), "installed" if d.go else "deferred", Feedback(), rng
            )
            if d.go:
                went_at = hour
        clock.advance(60)
    assert went_at is not None and in_window(went_at, (1.0, 5.0))


def test_window_wraps_midnight():
    assert in_window(23.5, (22, 5)) and in_window(3, (22, 5)) and not in_window(12, (22, 5))


def test_smart_backs_off_when_stable_up_to_max():
    clock = ManualClock()
    p = SmartPolicy(interval=HOUR, min_interval=600, max_interval=16 * HOUR, jitter=0.0)
    checks, state = simulate(p, clock, 24 * 7)
    gaps = [b - a for a, b in itertools.pairwise(checks)]
    assert gaps[:4] == [2 * HOUR, 4 * HOUR, 8 * HOUR, 16 * HOUR]
    assert max(gaps) == 16 * HOUR and state.interval == 16 * HOUR


def test_smart_drift_triggers_an_immediate_check_and_shortens_interval():
    p = SmartPolicy(interval=HOUR, min_interval=600, max_interval=16 * HOUR, jitter=0.0)
    rng = random.Random(0)
    state = p.start(0.0, rng)
    quiet = Feedback(drift=0.01, predictions=500)
    for t in range(0, 5):  # grow the interval
        state = p.after(state, t * 1.0, "none", quiet, rng)
    assert state.interval == 16 * HOUR
    now = 1000.0
    drifting = Feedback(drift=0.6, predictions=500)
    assert not p.due(state, now, quiet)
    assert p.due(state, now, drifting), "drift triggers a check at once"
    state = p.after(state, now, "none", drifting, rng)
    assert state.interval == 600 and state.next_check == now + 600
    assert not p.due(state, now + 60, drifting), "not more often than min_interval"
    errors = Feedback(error_rate=0.2, predictions=100)
    assert p.alarm(errors).startswith("error rate")
    assert p.alarm(Feedback(confidence=0.3, predictions=100)).startswith("confidence")
    assert p.alarm(Feedback(drift=5.0, predictions=3)) == "", "too few predictions is noise"


def test_smart_install_resets_interval():
    p = SmartPolicy(interval=HOUR, max_interval=8 * HOUR, jitter=0.0)
    rng = random.Random(0)
    state = p.start(0.0, rng)
    for _ in range(5):
        state = p.after(state, 0.0, "none", Feedback(), rng)
    state = p.after(state, 0.0, "installed", Feedback(), rng)
    assert state.interval == HOUR


def test_make_policy_from_config_dict():
    p = make_policy("conditional", interval=60.0, rules={"window": [22, 5], "min_battery": 20})
    assert isinstance(p, ConditionalPolicy) and p.rules.window == (22, 5)
    assert p.rules.min_battery == 20 and p.interval == 60.0


def test_ten_thousand_devices_a_day_through_the_array_methods():
    """The simulator drives a fleet through the array methods, one call per time step;
    quiet smart devices stretch their interval towards `max_interval`."""
    import numpy as np

    p = SmartPolicy(interval=HOUR, jitter=0.2)
    gen = np.random.default_rng(0)
    n = 10_000
    states = p.start_many(np.zeros(n), gen.random(n))
    fb = Feedback()
    checks = 0
    for step in range(0, 24 * 3600, 900):
        now = np.full(n, float(step))
        due = np.flatnonzero(p.due_many(states, now, fb))
        checks += len(due)
        quiet = np.zeros(len(due), dtype=np.int8)  # "none"
        states.put(due, p.after_many(states.take(due), now[due], quiet, fb, gen.random(len(due))))
    assert checks > 10_000
    assert states.interval.min() >= 2 * HOUR and states.interval.max() <= p.max_interval


def test_repeated_deferrals_back_off_to_an_hour():
    p = ConditionalPolicy(defer_retry=15 * 60, jitter=0.0)
    rng = random.Random(0)
    state, now, waits = p.start(0.0, rng), 0.0, []
    for _ in range(6):
        state = p.after(state, now, "deferred", Feedback(), rng)
        waits.append(state.next_check - now)
        now = state.next_check
    assert waits == [900, 1800, 3600, 3600, 3600, 3600]
    state = p.after(state, now, "installed", Feedback(), rng)
    assert state.deferrals == 0 and state.next_check - now == p.interval


def test_smart_downloads_under_the_conditional_rules():
    """Smart changes how often it checks, not where it may spend a user's data plan."""
    p = make_policy("smart")
    large = 10 * 1024 * 1024
    assert not p.may_download(0, Conditions(network="metered", local_hour=2), large).go
    assert p.may_download(0, Conditions(network="unmetered", local_hour=2), large).go


def test_an_empty_window_in_a_settings_file_means_any_time():
    p = make_policy("conditional", rules={"window": []})
    assert p.rules.window is None
    assert p.may_download(0, Conditions(local_hour=14), 10 * 1024 * 1024).go


def test_no_rule_is_hidden_by_default():
    """The defaults have no night window: a large download goes at noon on Wi-Fi."""
    rules = DownloadRules()
    assert rules.window is None and not rules.require_charging and not rules.require_idle
    noon = Conditions(local_hour=12.0, charging=False, battery_percent=80, cpu_load=0.1)
    assert ConditionalPolicy().may_download(0, noon, 10**8).go
    assert "any hour" in rules.describe()


def test_require_charging_and_require_idle_each_defer_a_large_download():
    rules = DownloadRules(require_charging=True, require_idle=True, small_bytes=0)
    p = ConditionalPolicy(rules=rules)
    good = Conditions(charging=True, idle=True)
    assert p.may_download(0, good, 10**6).go
    d = p.may_download(0, good.with_(charging=False), 10**6)
    assert not d.go and d.reason.startswith("require_charging")
    d = p.may_download(0, good.with_(idle=False), 10**6)
    assert not d.go and d.reason.startswith("require_idle")


def test_every_deferral_names_the_rule_that_held_it():
    rules = DownloadRules(window=(22, 6), small_bytes=0, min_free_storage=10, max_cpu_load=0.5)
    p = ConditionalPolicy(rules=rules)
    good = Conditions(local_hour=23.0)
    assert p.may_download(0, good, 100).go
    cases = {
        "window 22h-6h": good.with_(local_hour=12.0),
        "min_battery": good.with_(battery_percent=30, charging=False),
        "max_cpu_load": good.with_(cpu_load=0.9),
        "min_free_storage": good.with_(free_disk_bytes=50),
        "require_unmetered": good.with_(network="metered"),
    }
    for word, c in cases.items():
        d = p.may_download(0, c, 100)
        assert not d.go and word in d.reason, (word, d)


@pytest.mark.parametrize(
    ("settings", "words"),
    [
        ({"intervl": 60}, ["policy.intervl: unknown setting", "known: ", "interval"]),
        ({"rules": {"require_charing": True}}, ["policy.rules.require_charing", "unknown"]),
        ({"interval": "ten"}, ["policy.interval", "'ten'"]),
        ({"interval": -5}, ["policy.interval", "greater than 0"]),
        ({"rules": {"min_battery": 150}}, ["policy.rules.min_battery"]),
        ({"rules": {"window": [25, 3]}}, ["policy.rules.window"]),
        ({"drift_threshold": 0.1}, ["policy.drift_threshold: unknown setting"]),
    ],
)
def test_bad_settings_are_refused_in_one_line_naming_the_key(settings, words):
    from litefleet.errors import UserError

    with pytest.raises(UserError) as err:
        make_policy("conditional", **settings)
    msg = str(err.value)
    assert "\n" not in msg
    for w in words:
        assert w in msg, (w, msg)


def test_periodic_refuses_rules_instead_of_ignoring_them():
    from litefleet.errors import UserError

    with pytest.raises(UserError, match="conditional or smart"):
        make_policy("periodic", rules={"require_charging": True})


def test_smart_says_why_a_check_runs():
    p = SmartPolicy(jitter=0.0)
    state = PolicyState(next_check=1e9, interval=p.interval, last_check=0.0)
    drifting = Feedback(drift=0.31, predictions=100)
    assert p.why_due(state, 10_000, drifting) == "drift 0.310 > 0.25"
    assert p.why_due(PolicyState(next_check=0), 10, Feedback()) == "schedule"


def test_a_camera_that_infers_all_day_is_not_held_back_by_its_own_load():
    """The default conditional rules ignore CPU load: a camera's load is its own inference,
    all day; with the old default (0.5) it waited for the 12 h escalation on every release."""
    camera = Conditions(network="unmetered", charging=True, cpu_load=0.95, idle=False)
    assert ConditionalPolicy().may_download(0, camera, 10**7).go
    assert SmartPolicy().may_download(0, camera, 10**7).go
    careful = ConditionalPolicy(rules=DownloadRules(max_cpu_load=0.5))
    held = careful.may_download(0, camera, 10**7)
    assert not held.go and "max_cpu_load" in held.reason
