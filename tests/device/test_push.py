"""Push nudges end to end: a real Mosquitto (Debian package), the real update server of the
lab, real `litefleet agent run` processes, the tiny models.

What each test attacks or proves is in its name; docs/push.md and SECURITY.md cite them.
"""

from __future__ import annotations

import itertools
import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest

from litefleet.device.push import NudgeGate, PushChannel, PushConfig, RateLimit, push_status
from litefleet.device.status import status_of
from litefleet.device.store import ModelStore
from litefleet.errors import UserError
from litefleet.nudge import Nudge, device_topic, model_topic, mqtt_password
from litefleet.registry.mosquitto import MosquittoSite, write_mosquitto
from litefleet.registry.push import Publisher, PushSettings
from litefleet.registry.rollout import pause_if_active
from litefleet.testing.lab import Lab
from litefleet.testing.services import MosquittoServer, free_port, mosquitto_binary

pytestmark = pytest.mark.skipif(
    mosquitto_binary() is None, reason="mosquitto is not installed (apt-get install mosquitto)"
)

FAST = {"reconnect_spread_s": 0, "release_spread_s": 1.0, "min_interval_s": 1.0, "burst": 2}
"""Push settings of the test agents: no reconnect jitter, a release spread of 1 s."""
QUIET_POLL = {"interval": 3600.0, "jitter": 0.1}
"""Polling so rare that only a nudge (or a reconnect) can explain a check within the test."""


def wait_for(pred, timeout: float = 30.0, what: str = "condition") -> float:
    """Poll `pred` (a state in another process) until true; the seconds it took."""
    t0 = time.monotonic()
    while not pred():
        if time.monotonic() - t0 > timeout:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(0.05)
    return time.monotonic() - t0


class PushLab:
    """A lab, a broker configured from the lab's keys, and agent processes."""

    def __init__(self, lab: Lab, root: Path) -> None:
        self.lab, self.root = lab, root
        self.port = free_port()
        self.site = MosquittoSite(
            keys_dir=lab.repo.keys.path,
            out=root / "mosquitto",
            listen=f"127.0.0.1:{self.port}",
            user="root" if os.geteuid() == 0 else None,
        )
        self.broker = MosquittoServer(write_mosquitto(self.site), self.port)
        self.agents: dict[str, subprocess.Popen] = {}
        self.results: dict[str, list[dict]] = {}

    def device(self, name: str, push: dict | None = None, **settings) -> Path:
        home = self.lab.device(
            name,
            direct=True,
            push={"broker": f"mqtt://127.0.0.1:{self.port}", **FAST, **(push or {})},
            **{"policy": QUIET_POLL, **settings},
        )
        write_mosquitto(self.site)  # the new device's broker account
        if self.broker.proc and self.broker.proc.poll() is None:
            self.broker.proc.send_signal(signal.SIGHUP)  # mosquitto re-reads passwd and acl
        return home

    def start(self, name: str) -> None:
        home = self.lab.root / "devices" / name
        cmd = [sys.executable, "-m", "litefleet", "agent", "run", "--home", str(home)]
        proc = subprocess.Popen(
            [*cmd, "--tick", "0.2", "--json"],
            stdout=subprocess.PIPE,
            stderr=(self.root / f"{name}.err").open("ab"),
            text=True,
        )
        self.agents[name] = proc
        self.results.setdefault(name, [])

        def read() -> None:
            for line in proc.stdout:
                if line.startswith("{"):
                    self.results[name].append(json.loads(line))

        threading.Thread(target=read, daemon=True).start()

    def stop(self, name: str) -> None:
        proc = self.agents.pop(name)
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)

    def active(self, name: str) -> int | None:
        return ModelStore(self.lab.root / "devices" / name, recover=False).active_version()

    def last(self, name: str) -> dict:
        return (self.results[name] or [{"action": None}])[-1]

    def push(self, name: str) -> dict:
        return push_status(self.lab.root / "devices" / name) or {}

    def close(self) -> None:
        for name in list(self.agents):
            self.stop(name)
        self.broker.stop(kill=False)


@pytest.fixture
def plab(tmp_path):
    with Lab(tmp_path / "lab") as lab:
        p = PushLab(lab, tmp_path)
        try:
            yield p
        finally:
            p.close()


def client(port: int, user: str | None, password: str | None, events: dict) -> mqtt.Client:
    """A raw MQTT 5 client (an attacker or a device) that records what the broker says."""
    c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
    if user:
        c.username_pw_set(user, password)
    done = threading.Event()
    events.update(connect=None, puback=[], messages=[], ready=done)

    def on_connect(_c, _u, _f, reason, _p):
        events["connect"] = reason
        done.set()

    c.on_connect = on_connect
    c.on_publish = lambda _c, _u, _mid, reason, _p: events["puback"].append(reason)
    c.on_message = lambda _c, _u, m: events["messages"].append((m.topic, m.payload))
    c.connect("127.0.0.1", port)
    c.loop_start()
    assert done.wait(10), "no CONNACK"
    return c


def server_publisher(plab: PushLab) -> Publisher:
    settings = PushSettings.load(plab.lab.repo.keys.path)
    assert settings is not None
    return Publisher(settings)


# ---------------------------------------------------------------------- the device's rules


def test_rate_limit_and_jitter_rules_on_a_virtual_clock():
    cfg = PushConfig(broker="mqtt://x:1", release_spread_s=120, min_interval_s=30, burst=2)
    gate = NudgeGate(cfg, now=0.0, rng=random.Random(1))
    checks = []
    for t in range(0, 300):  # a nudge every second for 5 minutes: a flood
        gate.nudge(float(t), "now", "push: abort 3 (now)")
        if gate.take(float(t)):
            checks.append(t)
    assert checks[:2] == [0, 1]  # the burst
    assert len(checks) <= 2 + 300 / 30  # then one per min_interval_s
    assert all(b - a >= 29.9 for a, b in itertools.pairwise(checks[2:]))
    limit = RateLimit(30, 2, now=0.0)
    assert limit.take(0) and limit.take(0) and not limit.take(0) and limit.ready_at(0) == 30
    spread = NudgeGate(cfg, now=0.0, rng=random.Random(2))
    spread.nudge(0.0, "spread", "push: release 4 (spread)")
    assert 0 < spread.next_at(0.0) <= 120 and spread.take(0.0) is None
    spread.nudge(1.0, "now", "push: pause 4 (now)")  # an urgent nudge overtakes a spread one
    assert spread.take(1.0) == "push: pause 4 (now)"


def test_a_nudge_makes_the_strategy_ask_now_its_rules_still_decide_and_abort_wins(
    registry, device, build, tmp_path
):
    """Conditional strategy on a metered network: a nudged release is deferred by the
    download rules like a scheduled one; a nudged abort rolls back at once (to the version
    kept on disk: going back to one never installed is a download, which the rules judge)."""
    from litefleet.device.agent import Agent
    from litefleet.device.conditions import JsonConditions

    conditions = tmp_path / "conditions.json"
    conditions.write_text(json.dumps({"network": "unmetered", "battery_percent": 90}))
    registry.publish(build("v1"), 1)
    policy = {"interval": 3600.0, "rules": {"small_bytes": 0, "escalation": None}}
    home = device("cond", strategy="conditional", policy=policy)
    agent = Agent(home, conditions=JsonConditions(conditions))
    state = agent.policy_state()
    state, r = agent.step(state, nudged="push: (re)connected")
    assert (r.action, r.active_version, r.trigger) == ("installed", 1, "push: (re)connected")
    registry.publish(build("v2"), 2)
    state, r = agent.step(state, nudged="push: release 2 (spread)")
    assert (r.action, r.active_version) == ("installed", 2), r
    conditions.write_text(json.dumps({"network": "metered", "battery_percent": 90}))
    registry.publish(build("v3"), 3)
    assert agent.step(state)[1] is None  # not due: polling is an hour away
    state, r = agent.step(state, nudged="push: release 3 (spread)")
    assert r.action == "deferred" and r.reason.startswith("require_unmetered"), r
    registry.rollout(2, "abort")
    state, r = agent.step(state, nudged="push: abort 2 (now)")
    assert (r.action, r.active_version) == ("rolled_back", 1), r


def test_a_nudge_that_is_not_one_is_ignored_unread(tmp_path):
    cfg = PushConfig(broker="mqtt://127.0.0.1:1")
    channel = PushChannel(cfg, tmp_path, "digits", "cam-1", "token")
    good = Nudge.of("digits", "abort", 3).model_dump_json().encode()
    assert channel._parse(good) == Nudge.of("digits", "abort", 3)
    for bad in (
        b"x" * 10_000,  # oversized
        b"{not json",
        Nudge.of("other-model", "abort", 3).model_dump_json().encode(),  # not its model
        good.replace(b'"urgency":"now"', b'"urgency":"now","install":"evil.tflite"'),
        good.replace(b'"abort"', b'"downgrade"'),
    ):
        assert channel._parse(bad) is None, bad


def test_the_broker_password_is_no_telemetry_token(tmp_path):
    """A broker (or a sniffer of plain MQTT) learns the device's broker password; it is an
    HMAC of the token, so it cannot post reports as the device."""
    import httpx

    with Lab(tmp_path / "lab") as lab:
        token = lab.token_for("cam-1")
        url = f"{lab.server.url}/v1/devices/cam-1/events"
        as_broker = httpx.post(url, json={"events": []}, headers=auth(mqtt_password(token)))
        assert as_broker.status_code == 401
        assert httpx.post(url, json={"events": []}, headers=auth(token)).status_code != 401


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_deploy_mosquitto_writes_accounts_acls_and_a_private_publisher_account(tmp_path):
    from typer.testing import CliRunner

    from litefleet.cli import app
    from litefleet.registry.repository import Repository
    from litefleet.registry.tokens import DeviceTokens

    repo = Repository.init(tmp_path / "repo")
    tokens = DeviceTokens(repo.keys.path)
    tokens.issue_many(["cam-1", "cam-2"])
    tokens.revoke("cam-2")  # a revoked device loses its broker account too
    out = tmp_path / "mq"
    args = ["deploy", "mosquitto", str(repo.path), "--out", str(out), "--listen", "0.0.0.0:1884"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    users = [line.split(":")[0] for line in (out / "passwd").read_text().splitlines()]
    assert users == ["cam-1", "litefleet-server"]
    assert all(
        h.split(":", 1)[1].startswith("$7$101$") for h in (out / "passwd").read_text().split()
    )
    assert (out / "passwd").stat().st_mode & 0o077 == 0
    settings = PushSettings.load(repo.keys.path)
    assert settings.broker == "mqtt://127.0.0.1:1884" and settings.username == "litefleet-server"
    assert (repo.keys.path / "push.json").stat().st_mode & 0o077 == 0
    conf = (out / "mosquitto.conf").read_text()
    assert "allow_anonymous false" in conf and "listener 1884 0.0.0.0" in conf
    acl = (out / "acl").read_text()
    assert "pattern read litefleet/device/%u" in acl and "write" not in acl.split("user ")[0]
    again = CliRunner().invoke(app, [*args[:-2], "--listen", "bad"])
    assert isinstance(again.exception, UserError) and "HOST:PORT" in str(again.exception)


# ---------------------------------------------------------------------- the broker


def test_broker_refuses_forged_nudges_and_foreign_subscriptions(plab):
    plab.device("d1")
    plab.device("d2")
    with plab.broker:
        port = plab.port
        anon, wrong, d1, d2 = {}, {}, {}, {}
        for events, user, pw in ((anon, None, None), (wrong, "d1", "guess")):
            c = client(port, user, pw, events)
            assert events["connect"].is_failure, events["connect"]  # not authorised
            c.loop_stop()
        # a device with its own valid account: may read its topics, publish nothing
        c1 = client(port, "d1", mqtt_password(plab.lab.token_for("d1")), d1)
        c2 = client(port, "d2", mqtt_password(plab.lab.token_for("d2")), d2)
        assert not d1["connect"].is_failure and not d2["connect"].is_failure
        c1.subscribe([(model_topic(plab.lab.model), 1), (device_topic("d2"), 1)])
        c2.subscribe([(model_topic(plab.lab.model), 1), (device_topic("d2"), 1)])
        time.sleep(0.3)  # SUBACKs
        forged = Nudge.of(plab.lab.model, "abort", 1).model_dump_json()
        info = c1.publish(model_topic(plab.lab.model), forged, qos=1)
        info.wait_for_publish(10)
        wait_for(lambda: d1["puback"], 10, "PUBACK")
        assert str(d1["puback"][0]) == "Not authorized", d1["puback"]
        # the server's account may publish: d2's own nudge, then a marker for everyone
        with server_publisher(plab) as pub:
            pub.send(Nudge.of(plab.lab.model, "check", None), device_id="d2")
            pub.send(Nudge.of(plab.lab.model, "release", 7))
        wait_for(lambda: len(d1["messages"]) >= 1 and len(d2["messages"]) >= 2, 10, "marker")
        # the broker delivers in order: d1 got only the model marker (not the forged
        # abort, not d2's topic); d2 got its own nudge and the marker
        assert [t for t, _ in d1["messages"]] == [model_topic(plab.lab.model)]
        assert json.loads(d1["messages"][0][1])["version"] == 7
        assert [t for t, _ in d2["messages"]] == [device_topic("d2"), model_topic(plab.lab.model)]
        c1.loop_stop()
        c2.loop_stop()


def test_server_halt_and_operator_changes_publish_nudges(plab):
    plab.device("watcher")
    with plab.broker:
        seen: dict = {}
        c = client(plab.port, "watcher", mqtt_password(plab.lab.token_for("watcher")), seen)
        c.subscribe(model_topic(plab.lab.model), qos=1)
        time.sleep(0.3)
        plab.lab.publish("v1", 1)
        plab.lab.rollout(1, "percent", 50)
        assert pause_if_active(plab.lab.repo, plab.lab.model, 1, "auto-halt: test") is not None
        plab.lab.rollout(1, "resume")
        plab.lab.rollout(1, "abort")
        wait_for(lambda: len(seen["messages"]) >= 5, 10, "5 nudges")
        got = [json.loads(p) for _, p in seen["messages"]]
        assert [(n["kind"], n["version"], n["urgency"]) for n in got] == [
            ("release", 1, "spread"),
            ("stage", 1, "spread"),
            ("pause", 1, "now"),
            ("resume", 1, "spread"),
            ("abort", 1, "now"),
        ]
        assert set(got[0]) == {"model", "kind", "version", "urgency"}  # no authority in it
        c.loop_stop()


# ---------------------------------------------------------------------- agents


def test_release_and_abort_reach_running_agents_within_seconds_and_offline_at_reconnect(plab):
    plab.lab.publish("v1", 1)
    names = ["a1", "a2", "late"]
    for name in names:
        plab.device(name)
    with plab.broker:
        for name in names:
            plab.start(name)
        # the first connect is a full check: v1 arrives with polling an hour away
        wait_for(lambda: all(plab.active(n) == 1 for n in names), 60, "v1 on every agent")
        plab.lab.publish("v2", 2)
        took = wait_for(lambda: all(plab.active(n) == 2 for n in names), 60, "v2 everywhere")
        assert took < 30  # release_spread_s 1 s + download + gate, nowhere near the 1 h poll
        plab.stop("late")  # offline during the abort
        plab.lab.rollout(2, "abort")
        took_abort = wait_for(lambda: all(plab.active(n) == 1 for n in ("a1", "a2")), 30, "abort")
        assert took_abort < 15
        assert plab.active("late") == 2  # it was offline: nobody could tell it
        plab.start("late")
        wait_for(lambda: plab.active("late") == 1, 30, "the late device's rollback")
        wait_for(lambda: plab.last("late")["action"] == "rolled_back", 10, "its result line")
        for name in ("a1", "a2"):
            rolled = [r for r in plab.results[name] if r["action"] == "rolled_back"]
            assert rolled and rolled[0]["trigger"].startswith("push: abort 2"), rolled
            assert plab.push(name)["last_nudge"]["kind"] == "abort"
        late = [r for r in plab.results["late"] if r["action"] == "rolled_back"]
        assert late and late[0]["trigger"] == "push: (re)connected", plab.results["late"][-3:]
        print(f"\npush: release on 3 agents in {took:.1f} s, abort on 2 in {took_abort:.1f} s")


def test_a_flood_of_nudges_does_not_make_an_agent_check_more_than_its_limit(plab):
    plab.lab.publish("v1", 1)
    plab.device("flooded", push={"min_interval_s": 120.0, "burst": 2})
    with plab.broker:
        plab.start("flooded")
        wait_for(lambda: plab.active("flooded") == 1, 60, "v1")
        wait_for(lambda: plab.last("flooded")["action"] == "installed", 10, "connect check")
        before = len(plab.results["flooded"])
        with server_publisher(plab) as pub:  # the server's own account: nudges that pass
            for i in range(60):
                pub.send(Nudge.of(plab.lab.model, "abort" if i % 2 else "release", 1))
        # the broker queues at most 20 per device (max_inflight + max_queued) and drops the rest
        wait_for(lambda: plab.push("flooded").get("nudges", 0) >= 20, 20, "the flood")
        time.sleep(2.0)  # let the loop act on every nudge it may act on
        nudged = [r for r in plab.results["flooded"][before:] if r["trigger"].startswith("push")]
        # the connect check took one token of the burst (2): at most one more in 120 s
        assert len(nudged) <= 1, nudged
        assert plab.push("flooded")["checks"] <= 2
        # 30 of them said "abort 1": the signed state says active, so the device stays on 1
        assert all(r["action"] == "none" for r in nudged) and plab.active("flooded") == 1


def test_broker_killed_mid_test_agents_keep_polling_and_reconnect(plab):
    plab.lab.publish("v1", 1)
    plab.device("steady", policy={"interval": 3.0, "jitter": 0.1})
    with plab.broker:
        plab.start("steady")
        wait_for(lambda: plab.active("steady") == 1, 60, "v1")
        wait_for(lambda: plab.push("steady").get("connected"), 20, "connected")
        # the connect's own check (which may be the one that installed v1) is done: no nudge
        # is pending when the broker dies, so any check from now on is the agent's polling
        lines = plab.results["steady"]
        wait_for(lambda: any(r["trigger"] == "push: (re)connected" for r in lines), 20, "it")
        killed = len(lines)
        plab.broker.stop(kill=True)  # SIGKILL: no goodbye to anyone
        wait_for(lambda: not plab.push("steady").get("connected"), 20, "disconnect seen")
        plab.lab.publish("v2", 2)  # the nudge fails; the signed release stands
        wait_for(lambda: plab.active("steady") == 2, 60, "v2 by polling alone")

        def v2_installed() -> list[dict]:
            return [r for r in lines[killed:] if r["action"] == "installed" and r["version"] == 2]

        # the store switches before the agent prints the line (and the reader thread reads it)
        wait_for(v2_installed, 10, "its result line")
        assert v2_installed()[0]["trigger"] == "schedule", v2_installed()
        assert all(not r["trigger"].startswith("push") for r in lines[killed:]), lines[killed:]
        assert plab.push("steady").get("connects") == 1, plab.push("steady")  # still down
        plab.broker.start()  # same port, same accounts
        wait_for(lambda: plab.push("steady").get("connects", 0) >= 2, 60, "reconnect")
        plab.lab.rollout(2, "abort")
        wait_for(lambda: plab.active("steady") == 1, 30, "abort after the broker came back")
        wait_for(lambda: plab.push("steady").get("last_nudge"), 10, "the abort nudge")
        text = status_of(plab.lab.root / "devices" / "steady")["push"]["text"]
        assert "connected since" in text and "last nudge abort 2" in text, text
