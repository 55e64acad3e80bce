"""The freshness guarantee through the real agent, server and store, on a virtual clock.

A device only ever on a metered network defers a large download (`require_unmetered`);
once the escalation deadline has passed, the same device downloads it, and the result and
the CLI line name the escalation step that let it through. One-shot `agent check`s (a
device driven by cron) remember `behind_since` in `agent.json`, so they escalate too.
"""

from __future__ import annotations

import json
import threading

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
