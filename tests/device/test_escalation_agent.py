"""The freshness guarantee through the real agent, server and store, on a virtual clock.

A device only ever on a metered network defers a large download (`require_unmetered`);
once the escalation deadline has passed, the same device downloads it, and the result and
the CLI line name the escalation step that let it through. One-shot `agent check`s (a
device driven by cron) remember `behind_since` in `agent.json`, so they escalate too.
"""

from __future__ import annotations

import json
import threading
import time

import pytest

from litefleet.cli.agent import run_line, status_lines
from litefleet.device.agent import Agent
from litefleet.device.clock import ManualClock
from litefleet.device.conditions import JsonConditions
from litefleet.device.policy import HOUR
from litefleet.device.status import status_of
from litefleet.fsutil import read_json

# small_bytes 0: the tiny test model counts as a large download
POLICY = {
    "jitter": 0.0,
    "rules": {"small_bytes": 0, "escalation": {"after": HOUR, "every": HOUR}},
}


def metered(tmp_path):
    f = tmp_path / "conditions.json"
    f.write_text(json.dumps({"network": "metered", "battery_percent": 90, "charging": False}))
    return JsonConditions(f)


def test_one_shot_checks_escalate_until_the_download_goes(registry, device, build, tmp_path):
    registry.publish(build("v1"), 1)
    home = device("cron", strategy="conditional", policy=POLICY)
    clock = ManualClock()
    t0 = clock.now()
    conditions = metered(tmp_path)

    def check():  # a new process each time, as `litefleet agent check` from cron
        return Agent(home, clock=clock, conditions=conditions).check()

    def behind_since():
        return read_json(home / "agent.json")["policy"]["behind_since"]

    r = check()
    assert r.action == "deferred" and r.reason.startswith("require_unmetered: network is metered")
    assert "escalation" not in r.reason
    assert behind_since() == t0
    text = status_lines(status_of(home, now=t0 + 600))
    assert any("escalation 0/3 (normal rules)" in line for line in text), text
    assert "next check: not scheduled (no `run`)" in text, "cron invents no schedule"

    clock.advance(HOUR)
    r = check()
    assert r.action == "deferred" and r.reason.endswith("(escalation 1/3: any_time)"), r.reason
    assert behind_since() == t0, "kept while still deferred"
    status = status_of(home, now=clock.now())
    assert status["behind_since"] == t0
    assert status["behind_text"].endswith("escalation 1/3 (any_time)"), status["behind_text"]

    clock.advance(HOUR)  # metered_patches: a full file (nothing installed to patch) still waits
    r = check()
    assert r.action == "deferred" and "(escalation 2/3: metered_patches)" in r.reason

    clock.advance(HOUR)
    r = check()
    assert (r.action, r.active_version) == ("installed", 1), r
    assert r.escalation == "escalation 3/3: any_network"
    assert "[let through by escalation 3/3: any_network]" in run_line(r)
    assert behind_since() is None, "cleared by the install"
    assert status_of(home, now=clock.now())["behind_text"] == ""


def test_run_loop_defers_then_escalates_and_installs(registry, device, build, tmp_path):
    registry.publish(build("v1"), 1)
    home = device("loop", strategy="conditional", policy=POLICY)
    clock = ManualClock()
    t0 = clock.now()
    agent = Agent(home, clock=clock, conditions=metered(tmp_path))
    seen = []
    stop = threading.Event()

    def on_result(r):
        seen.append((r.action, clock.now(), r))
        if r.action != "deferred":
            stop.set()

    agent.run(stop=stop, max_cycles=30, tick=60, on_result=on_result)
    actions = [a for a, _, _ in seen]
    assert actions[-1] == "installed" and set(actions[:-1]) == {"deferred"}, actions
    *_, (_, when, last) = seen
    assert when >= t0 + 3 * HOUR, "not before the any_network step"
    assert last.escalation == "escalation 3/3: any_network"
    assert "let through by escalation 3/3: any_network" in run_line(last)
    assert agent.policy_state().behind_since is None


def test_agent_json_from_before_behind_since_still_loads(registry, device, tmp_path):
    home = device("old", strategy="conditional", policy=POLICY)
    old = {"next_check": 5.0, "interval": 60.0, "failures": 0, "last_check": 1.0, "deferrals": 2}
    (home / "agent.json").write_text(json.dumps({"policy": old}))
    state = Agent(home, clock=ManualClock(), conditions=metered(tmp_path)).policy_state()
    assert (state.deferrals, state.behind_since) == (2, None)
    assert status_of(home, now=10.0)["behind_text"] == ""


@pytest.mark.parametrize(
    "policy",
    [{"behind_since": "yesterday"}, {"next_check": None}, {"surprise": 1}, {"failures": 1e999}],
)
def test_a_hand_edited_agent_json_only_loses_its_schedule(registry, device, tmp_path, policy):
    home = device("edited", strategy="conditional", policy=POLICY)
    (home / "agent.json").write_text(json.dumps({"policy": policy}))
    clock = ManualClock()
    state = Agent(home, clock=clock, conditions=metered(tmp_path)).policy_state()
    assert state.behind_since is None and state.next_check >= clock.now()


def test_run_starts_fresh_but_keeps_what_one_shot_checks_recorded(registry, device, tmp_path):
    home = device("mixed", strategy="conditional", policy=POLICY)
    (home / "agent.json").write_text(json.dumps({"policy": {"behind_since": 7.0}}))
    clock = ManualClock()
    state = Agent(home, clock=clock, conditions=metered(tmp_path)).policy_state()
    assert state.behind_since == 7.0 and state.next_check == clock.now()


def test_cli_check_records_behind_since_and_names_the_step(registry, device, build, tmp_path):
    """`litefleet agent check` (a new process on the real clock): the first deferral is
    remembered; with the record moved 4 h back (as if cron had checked all along) the
    status shows the escalation and the next check downloads, naming the step."""
    from .test_e2e import cli

    registry.publish(build("v1"), 1)
    f = tmp_path / "conditions.json"
    f.write_text(json.dumps({"network": "metered", "battery_percent": 90, "charging": False}))
    home = device("cli", strategy="conditional", policy=POLICY, conditions_file=str(f))
    before = time.time()
    r = cli("check", "--home", home)
    assert r.returncode == 0 and r.stdout.startswith("deferred: active None"), r
    agent = read_json(home / "agent.json")
    assert before <= agent["policy"]["behind_since"] <= time.time()
    agent["policy"]["behind_since"] -= 4 * HOUR
    (home / "agent.json").write_text(json.dumps(agent))
    status = cli("status", "--home", home)
    assert "escalation 3/3 (any_network)" in status.stdout, status.stdout
    r = cli("check", "--home", home)
    assert r.stdout.startswith("installed: active 1"), r
    assert "[let through by escalation 3/3: any_network]" in r.stdout, r.stdout
    assert read_json(home / "agent.json")["policy"]["behind_since"] is None
