"""The engine drives the real device code, and its figures move the way the strategies say."""

from __future__ import annotations

import numpy as np
import pytest

from litefleet.device import policy as device_policy
from litefleet.device import selection
from litefleet.device.policy import ConditionalPolicy, DownloadRules, Rule
from litefleet.device.probation import PASSED
from litefleet.sim.config import RunConfig
from litefleet.sim.engine import FleetRun
from litefleet.sim.runner import releases_of, run_one, simulate
from litefleet.sim.traces import make_traces
from tests.sim.conftest import small

PERIODIC = RunConfig(name="periodic", strategy="periodic")
CONDITIONAL = RunConfig(name="conditional", strategy="conditional")
SMART = RunConfig(name="smart", strategy="smart")
STRICT = RunConfig(name="strict", strategy="conditional", policy={"rules": {"escalation": None}})
"""The conditional rules without the escalation: a device may wait for good."""
NO_JITTER = RunConfig(name="no-jitter", strategy="periodic", policy={"jitter": 0.0})


def _figures(out) -> dict:
    s = dict(out.summary)
    s.pop("wall_seconds")
    return s


def test_same_seed_same_figures(cfg):
    a, b = run_one(cfg, CONDITIONAL), run_one(cfg, CONDITIONAL)
    assert _figures(a) == _figures(b)
    assert np.array_equal(a.per_minute, b.per_minute)
    c = run_one(small(seed=1), CONDITIONAL)
    assert _figures(c) != _figures(a)


def test_each_strategy_runs_the_device_policy_with_the_run_settings(cfg):
    traces = make_traces(cfg, len(releases_of(cfg)))
    for spec in (PERIODIC, CONDITIONAL, SMART, NO_JITTER):
        sim = FleetRun(cfg, traces, spec)
        assert sim.policy == device_policy.make_policy(spec.strategy, **spec.policy)
    assert FleetRun(cfg, traces, NO_JITTER).policy.jitter == 0.0
    assert FleetRun(cfg, traces, PERIODIC).policy.jitter > 0.0


def test_the_device_release_selection_decides_who_installs(cfg, monkeypatch):
    """Not a copy: when the device's `choose_release` offers nothing, the fleet installs nothing."""
    before = run_one(cfg, PERIODIC).summary
    assert before["decisions"]["installs"] > 0
    real = selection.choose_release
    asked = []

    def nothing(*args, **kwargs):
        asked.append(real(*args, **kwargs))
        return selection.Choice("none", None, "patched out")

    monkeypatch.setattr(selection, "choose_release", nothing)
    after = run_one(cfg, PERIODIC).summary
    assert after["decisions"]["installs"] == 0 and after["bytes"]["total"] == 0
    # asked once per group of devices with equal inputs, not once per device and check
    assert 0 < len(asked) < after["load"]["checks"] / 10


def test_the_cohort_is_the_device_rollout_hash(cfg, monkeypatch):
    """The groups' cohort predicate reads `rollout_bucket` of each device: the release's own
    hash, so a device is in a rollout exactly when `in_rollout` says so."""
    from litefleet.release import in_rollout
    from litefleet.sim.traces import device_id

    traces = make_traces(cfg, len(releases_of(cfg)))
    model = cfg.releases.model
    for i in range(0, cfg.devices, 17):
        for v in (2, 3):
            for percent in (10.0, 50.0):
                inside = traces.bucket[i, v - 1] < percent
                assert inside == in_rollout(device_id(i), model, v, percent)
    # a rollout that admits nobody: the stages stay at 0 %
    none = small(**{"releases.rollout_stages": [(0.0, 0.0)]})
    out = run_one(none, PERIODIC).summary
    assert out["decisions"]["installs"] == 0


def test_patching_the_policy_class_changes_the_simulation(cfg, monkeypatch):
    """Not a copy: change the device's array method and the fleet behaves differently."""
    before = run_one(cfg, CONDITIONAL).summary
    assert before["decisions"]["installs"] > 0
    monkeypatch.setattr(
        ConditionalPolicy,
        "may_download_many",
        lambda self, now, c, size, full, behind_since: np.full(len(size), Rule.WINDOW, np.int8),
    )
    after = run_one(cfg, CONDITIONAL).summary
    assert after["decisions"]["installs"] == 0 and after["bytes"]["total"] == 0
    assert after["decisions"]["defer_reasons"] == {"window": after["decisions"]["deferred"]}


def test_the_probation_rule_decides_rollbacks(cfg, monkeypatch):
    """The engine's probation is the device's `probation_verdict_many`."""
    from litefleet.sim import engine

    before = run_one(cfg, PERIODIC).summary["bad_release"]
    assert before["probation_rollbacks"] > 0
    monkeypatch.setattr(
        engine,
        "probation_verdict_many",
        lambda since, fb, now, rules: np.full(len(since), PASSED, np.int8),
    )
    after = run_one(cfg, PERIODIC).summary["bad_release"]
    assert after["probation_rollbacks"] == 0


def test_require_unmetered_keeps_every_large_download_off_metered_networks():
    # v2 is a full retrain with no patch: a full file (1.2 MB) everyone must fetch;
    # v3 is a fine-tune whose 6 KB patch may take the fast lane on any network
    cfg = small(**{"releases.retrain_versions": [2], "releases.retrain_patch_bytes": 10**9})
    small_bytes = DownloadRules().small_bytes
    assert cfg.releases.full_bytes > small_bytes >= cfg.releases.patch_bytes
    cond = run_one(cfg, STRICT).summary
    by_kind = cond["bytes"]["by_kind"]
    assert by_kind.get("metered/full", 0) == 0
    assert by_kind["unmetered/full"] > 0
    patches = cond["downloads"]["patch"]
    assert cond["bytes"]["metered"] <= patches * cfg.releases.patch_bytes
    periodic = run_one(cfg, PERIODIC).summary
    assert periodic["bytes"]["by_kind"]["metered/full"] > 0
    assert periodic["bytes"]["metered"] > 10 * cond["bytes"]["metered"]
    # ...and what it costs: the cellular-only devices never get the full file
    assert cond["staleness"]["device_hours"] > periodic["staleness"]["device_hours"]
    assert cond["staleness"]["releases"]["2"]["hours_to_95"] is None
    # the escalation (on by default) lets them have it once they waited long enough
    escalated = run_one(cfg, CONDITIONAL).summary
    assert escalated["staleness"]["releases"]["2"]["online_hours_to_95"] is not None
    assert escalated["bytes"]["by_kind"]["metered/full"] > 0


def test_conditional_waits_for_the_battery_rule():
    cfg = small(**{"releases.retrain_versions": [2], "releases.retrain_patch_bytes": 10**9})
    cond = run_one(cfg, CONDITIONAL).summary
    periodic = run_one(cfg, PERIODIC).summary
    assert cond["downloads"]["low_battery"] < periodic["downloads"]["low_battery"]


def test_no_jitter_gives_a_higher_peak(cfg):
    jitter = run_one(cfg, PERIODIC).summary["load"]
    none = run_one(cfg, NO_JITTER).summary["load"]
    assert none["peak_minute_requests"] > 5 * jitter["peak_minute_requests"]
    # the same work, only bunched up
    assert abs(none["checks"] - jitter["checks"]) < 0.1 * jitter["checks"]


def test_smart_leaves_a_bad_release_sooner_than_periodic():
    cfg = small(devices=600)
    periodic = run_one(cfg, PERIODIC).summary["bad_release"]
    smart = run_one(cfg, SMART).summary["bad_release"]
    assert periodic["halts"] and smart["halts"]
    assert smart["device_hours"] < periodic["device_hours"]
    # the mechanism: after the abort, the smart alarm has it checking every few minutes
    assert smart["on_it_at_abort"] > 0
    assert smart["hours_to_leave_after_abort"] < periodic["hours_to_leave_after_abort"]


def test_the_server_halts_by_the_registry_rule(cfg, monkeypatch):
    out = run_one(cfg, PERIODIC).summary
    (halt,) = out["bad_release"]["halts"]
    assert halt["version"] == 3 and halt["tried"] >= 5 and halt["failed"] / halt["tried"] > 0.2
    v3 = out["staleness"]["releases"]["3"]
    assert v3["aborted_hour"] == pytest.approx(halt["hour"] + 1.0)
    from litefleet.registry.halt import HaltRule

    monkeypatch.setattr(HaltRule, "should_halt", lambda self, health: False)
    never = run_one(cfg, PERIODIC).summary
    assert never["bad_release"]["halts"] == []
    assert never["bad_release"]["device_hours"] > 3 * out["bad_release"]["device_hours"]


def test_a_health_gate_that_catches_everything_means_no_exposure():
    out = run_one(small(**{"bad.gate_catch": 1.0}), PERIODIC).summary
    assert out["bad_release"]["device_hours"] == 0
    assert out["decisions"]["rejected"] >= 5 and out["bad_release"]["halts"]


def test_the_fleet_is_always_somewhere(cfg):
    out = run_one(cfg, PERIODIC)
    assert np.allclose(out.running.sum(axis=0), 1.0)
    v3 = out.running[2]
    assert 0 < v3.max() < 1 and v3[-1] == 0  # the bad release came and went
    r = out.summary["staleness"]["releases"]
    assert r["2"]["hours_to_50"] < r["2"]["hours_to_95"]


def test_results_do_not_depend_on_the_worker_count():
    cfg = small(devices=120, days=3, runs=[PERIODIC.model_dump(), SMART.model_dump()])
    one = simulate(cfg, workers=1)
    two = simulate(cfg, workers=2)
    for name in ("periodic", "smart"):
        assert _figures(one.runs[name]) == _figures(two.runs[name])


def test_progress_and_memory_are_reported(cfg):
    seen: list[float] = []
    run_one(cfg, PERIODIC, progress=seen.append)
    assert len(seen) > 10 and seen == sorted(seen) and 0 < seen[-1] <= 1
    result = simulate(small(devices=60, days=2, runs=[PERIODIC.model_dump()]), workers=2)
    assert result.memory["peak_rss_bytes"] > 10_000_000  # a Python process and its worker
    assert result.to_json()["memory"] == result.memory
