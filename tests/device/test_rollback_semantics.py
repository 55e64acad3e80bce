"""Rollback semantics an operator can trust, with real agents against the real server.

Operator rollbacks are reported as `operator_rollback` and never count as failures (bench
rollbacks cannot pause a good release); a device with no model takes the newest good
release in the same cycle; `agent unblock` brings a version back and says what happens
next; a paused release is named as such; a target that fails verification is a rejection
of its release naming the file.
"""

from __future__ import annotations

import json
import sqlite3

import httpx

from litefleet.device.agent import Agent
from litefleet.device.store import ModelStore
from litefleet.registry.rollout import read_rollout
from litefleet.testing.operators import operator_headers

from .test_e2e import cli


def _fleet(registry) -> dict[int, dict]:
    rows = httpx.get(
        f"{registry.url}/v1/fleet", headers=operator_headers(registry.lab.repo)
    ).json()["releases"]
    return {r["version"]: r for r in rows}


def test_bench_rollbacks_do_not_pause_a_good_release(registry, device, build):
    registry.publish(build("v1"), 1)
    homes = [device(f"bench-{i}") for i in range(6)]
    for home in homes:
        assert Agent(home).check().active_version == 1
    registry.publish(build("v2"), 2)
    for home in homes:
        assert Agent(home).check().active_version == 2
    # three bench devices go back on command, one moves forward again with `--to`
    for home in homes[:3]:
        out = cli("rollback", "--home", home, "--json")
        assert out.returncode == 0 and json.loads(out.stdout)["active_version"] == 1, out.stderr
    assert cli("unblock", "2", "--home", homes[0]).returncode == 0
    out = cli("rollback", "--home", homes[0], "--to", "2", "--json")
    assert out.returncode == 0, out.stderr
    for home in homes:
        Agent(home).telemetry.flush()
    row = _fleet(registry)
    assert (row[2]["failed"], row[2]["rolled_back"]) == (0, 0), row[2]
    assert (row[1]["failed"], row[2]["running"], row[1]["running"]) == (0, 4, 2), row
    assert read_rollout(registry.repo(), "blobs").rollouts[2].status == "active"


def test_a_device_without_a_model_takes_the_newest_good_release_at_once(registry, device, build):
    registry.publish(build("v1"), 1)
    registry.publish(build("bad", golden_from="v1"), 2, min_accuracy=0.9, allow_regression=True)
    r = Agent(device("late")).check()
    assert (r.action, r.active_version) == ("installed", 1), r
    assert "release 2 refused" in r.reason and "golden accuracy" in r.reason


def test_unblock_brings_a_version_back_and_says_what_happens_next(registry, device, build):
    registry.publish(build("v1"), 1)
    home = device("d")
    Agent(home).check()
    registry.publish(build("v2"), 2)
    assert Agent(home).check().active_version == 2
    assert cli("rollback", "--home", home).returncode == 0
    assert Agent(home).check().action == "none", "the version left stays blocked"
    out = cli("unblock", "2", "--home", home)
    assert out.returncode == 0, out.stderr
    assert "unblocked version 2" in out.stdout and "next check" in out.stdout
    r = Agent(home).check()
    assert (r.action, r.active_version, r.source) == ("installed", 2, "local"), r


def test_a_paused_release_is_named_as_such(registry, device, build):
    registry.publish(build("v1"), 1)
    home = device("d")
    Agent(home).check()
    registry.publish(build("v2"), 2)
    registry.rollout(2, "pause")
    r = Agent(home).check()
    assert r.action == "none" and "release 2 is paused" in r.reason, r
    registry.rollout(2, "abort")
    assert "release 2 was aborted" in Agent(home).check().reason


def test_a_target_longer_than_signed_is_a_rejection_naming_the_file(registry, device, build):
    registry.publish(build("v1"), 1)
    home = device("d", precisions=["float32"])
    Agent(home).check()
    registry.publish(build("v2"), 2)
    for f in (registry.path / "targets").rglob("*"):
        if f.is_file() and "/2/" in str(f) and "float32" in f.name:
            f.write_bytes(f.read_bytes() + b"\0" * 4096)  # longer than signed
    r = Agent(home).check()
    assert (r.action, r.active_version) == ("rejected", 1), r
    assert "release 2 refused" in r.reason and "float32.tflite" in r.reason, r.reason
    assert ModelStore(home).installed() == [1]
    with sqlite3.connect(registry.path / "telemetry.db") as db:  # what the server stored
        rows = db.execute("SELECT version, reason FROM events WHERE type = 'rejected'").fetchall()
    assert len(rows) == 1 and rows[0][0] == 2 and "float32.tflite" in rows[0][1], rows
