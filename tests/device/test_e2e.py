"""End to end against the real update server on 127.0.0.1: signed releases, real LiteRT."""

from __future__ import annotations

import itertools
import json
import subprocess
import sys
from pathlib import Path

import numpy as np

from litefleet.device.agent import Agent
from litefleet.device.conditions import Conditions, StaticConditions
from litefleet.device.runtime import ModelRuntime
from litefleet.device.store import ModelStore
from litefleet.device.telemetry import TelemetryQueue

RUNNER = Path(__file__).with_name("cli_runner.py")


def cli(*args: str, block_tf: bool = True) -> subprocess.CompletedProcess:
    pre = ["--block-tf"] if block_tf else []
    return subprocess.run(
        [sys.executable, str(RUNNER), *pre, "agent", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_install_v1_then_patch_to_v2(registry, device, build, data):
    registry.publish(build("v1"), 1)
    home = device("d1")
    r = Agent(home).check()
    assert (r.action, r.active_version, r.source) == ("installed", 1, "full"), r
    x, y = data
    rt = ModelRuntime(home)
    assert (rt.predict(x[:50]).argmax(1) == y[:50]).mean() > 0.9
    registry.publish(build("v2"), 2)
    r = Agent(home).check()
    assert (r.action, r.active_version, r.variant, r.source) == (
        "installed",
        2,
        "float32",
        "patch",
    ), r
    assert r.model_bytes < (home / "versions/2/float32.tflite").stat().st_size
    # the whole check is counted: metadata, the new golden reference, the patch
    assert r.bytes_downloaded > r.model_bytes
    assert rt.predict_with_version(x[0])[1] == 2, "the runtime picked up v2 by itself"
    assert Agent(home).check().action == "none"
    st = ModelStore(home).state()
    assert (st.active, st.previous, st.highest_activated) == (2, 1, 2)
    assert st.probation is not None and st.probation.version == 2
    assert TelemetryQueue(home, None, "d1").pending() == [], "events reached the server"


def test_fresh_device_full_download_and_corrupt_patch_falls_back(registry, device, build):
    registry.publish(build("v1"), 1)
    registry.publish(build("v2"), 2)
    fresh = Agent(device("fresh")).check()
    assert (fresh.action, fresh.version, fresh.source) == ("installed", 2, "full")
    home = device("old")
    registry.rollout(2, "percent", 0)
    assert Agent(home).check().active_version == 1
    registry.rollout(2, "percent", 100)
    patch = registry.target_file("blobs/2/float32.from-1.patch")
    patch.write_bytes(b"BSDIFF40" + b"\0" * 40)  # tampered on the server
    r = Agent(home).check()
    assert (r.action, r.active_version, r.source) == ("installed", 2, "full"), r
    assert "patch failed" in r.reason


def test_tampered_v3_is_rejected_and_v2_stays(registry, device, build):
    registry.publish(build("v1"), 1)
    home = device("d")
    Agent(home).check()
    registry.publish(build("v3"), 3)
    for variant in ("float32", "int8"):
        f = registry.target_file(f"blobs/3/{variant}.tflite")
        data = bytearray(f.read_bytes())
        data[len(data) // 2] ^= 0xFF
        f.write_bytes(bytes(data))
    for p in registry.path.glob("targets/blobs/3/*.patch"):
        p.write_bytes(b"junk")
    r = Agent(home).check()
    assert (r.action, r.active_version, r.completed) == ("rejected", 1, False), r
    assert "verification failed" in r.reason or "hash" in r.reason.lower()
    assert not any(p.name.startswith(".tmp") for p in (home / "versions").iterdir())
    assert ModelStore(home).installed() == [1]
    out = cli("check", "--home", home, "--json")
    assert out.returncode == 1, out.stderr
    assert json.loads(out.stdout)["action"] == "rejected"


def test_v3_failing_golden_set_is_rejected_then_rollback_on_command(registry, device, build):
    registry.publish(build("v1"), 1)
    home = device("d")
    assert Agent(home).check().active_version == 1
    registry.publish(build("v2"), 2)
    assert Agent(home).check().active_version == 2
    registry.publish(build("bad", golden_from="v1"), 3, min_accuracy=0.9, allow_regression=True)
    r = Agent(home).check()
    assert (r.action, r.active_version, r.completed) == ("rejected", 2, True), r
    assert "golden accuracy" in r.reason
    assert 3 in ModelStore(home).state().blocked
    assert Agent(home).check().action == "none", "a refused release is not fetched again"
    out = cli("rollback", "--home", home, "--json")
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["active_version"] == 1
    assert Agent(home).check().action == "none", "the version left is not reinstalled"
    status = json.loads(cli("status", "--home", home, "--json").stdout)
    assert status["active"] == 1 and "2" in {str(k) for k in status["blocked"]}


def test_wrong_signature_release_is_rejected(registry, device, build):
    registry.publish(build("v1"), 1)
    home = device("d")
    Agent(home).check()
    # the registry refuses a different signature, so pin one the release does not have
    from litefleet.device.config import load_config, save_config
    from litefleet.litert import LoadedModel

    cfg = load_config(home)
    wide = LoadedModel.from_file(build("wide", variants=("float32",)) / "float32.tflite")
    save_config(home, cfg.model_copy(update={"pinned_signature": wide.signature}))
    registry.publish(build("v2"), 2)
    r = Agent(home).check()
    assert r.action == "rejected" and "signature" in r.reason and r.active_version == 1


def test_aborted_release_sends_devices_back(registry, device, build):
    registry.publish(build("v1"), 1)
    home = device("d")
    Agent(home).check()
    registry.publish(build("v2"), 2)
    assert Agent(home).check().active_version == 2
    registry.rollout(2, "abort")
    r = Agent(home).check()
    assert (r.action, r.active_version) == ("rolled_back", 1), r
    # a fresh device never had v1: it downloads it (below nothing, the signed way back)
    fresh = Agent(device("fresh")).check()
    assert (fresh.action, fresh.active_version) == ("installed", 1)


def test_channel_and_cohort(registry, device, build):
    registry.publish(build("v1"), 1)
    registry.publish(build("v2"), 2, channel="beta")
    stable, beta = device("s"), device("b", channel="beta")
    assert Agent(stable).check().active_version == 1
    assert Agent(beta).check().active_version == 2
    registry.publish(build("v3"), 3, rollout_percent=50)
    got = [Agent(device(f"c{i}")).check().active_version for i in range(12)]
    assert set(got) == {1, 3}, "half the fleet gets v3, the rest stays on v1"
    registry.rollout(3, "pause")
    r = Agent(device("late")).check()
    assert r.active_version == 1


def test_variant_by_profile_and_measured_latency(registry, device, build):
    registry.publish(build("v1"), 1)
    small = Agent(device("small", precisions=["int8"])).check()
    assert (small.action, small.variant) == ("installed", "int8")
    slow = Agent(device("slow", latency_budget_ms=1e-6)).check()
    assert slow.action == "rejected" and "latency" in slow.reason
    assert "float32" in slow.reason and "int8" in slow.reason, "both variants were measured"
    tiny = Agent(device("tiny"), conditions=StaticConditions(Conditions(free_ram_bytes=100)))
    r = tiny.check()
    assert r.action == "rejected" and "no variant fits" in r.reason


def test_conditional_defers_by_conditions_file_via_cli(registry, device, build, tmp_path):
    registry.publish(build("v1"), 1)
    cond = tmp_path / "cond.json"
    cond.write_text(json.dumps({"network": "metered", "local_hour": 14}))
    home = tmp_path / "cd"
    init = cli(
        "init",
        "--home",
        home,
        "--server",
        registry.url,
        "--root",
        registry.root,
        "--model",
        "blobs",
        "--device-id",
        "cd",
        "--strategy",
        "conditional",
        "--conditions",
        cond,
        "--policy",
        json.dumps({"rules": {"small_bytes": 100}}),
    )
    assert init.returncode == 0, init.stderr
    out = cli("check", "--home", home, "--json")
    r = json.loads(out.stdout)
    assert out.returncode == 0 and r["action"] == "deferred" and "metered" in r["reason"]
    assert r["active_version"] is None
    cond.write_text(json.dumps({"network": "unmetered", "local_hour": 2, "cpu_load": 0.1}))
    installed = cli("check", "--home", home, "--json")
    r = json.loads(installed.stdout)
    assert (r["action"], r["active_version"]) == ("installed", 1)
    x = tmp_path / "x.npy"
    np.save(x, np.zeros((2, 8), np.float32))
    pred = cli("predict", "--home", home, x)
    assert pred.returncode == 0, pred.stderr
    assert json.loads(pred.stdout)["version"] == 1
    for out in (installed, pred):  # LiteRT's C++ start-up line stays off the terminal
        assert "XNNPACK" not in out.stderr + out.stdout, out.stderr


def test_unreachable_server_is_an_error_with_exit_1(device, build, registry, tmp_path):
    registry.publish(build("v1"), 1)
    home = device("d")
    Agent(home).check()
    from litefleet.device.config import load_config, save_config

    save_config(home, load_config(home).model_copy(update={"server": "http://127.0.0.1:9"}))
    agent = Agent(home)
    agent.telemetry.record("heartbeat", "blobs", 1)
    r = agent.check()
    assert (r.action, r.completed, r.active_version) == ("error", False, 1)
    assert TelemetryQueue(home, None, "d").pending(), "events wait in the local queue"
    out = cli("check", "--home", home, "--json")
    assert out.returncode == 1 and json.loads(out.stdout)["action"] == "error"
    bad = cli("status", "--home", tmp_path / "nowhere")
    assert bad.returncode == 2 and "agent init" in bad.stderr


def test_probation_drift_spike_rolls_back(registry, device, build, data):
    x, _ = data
    registry.publish(build("v1"), 1)
    home = device("d", probation={"predictions": 10_000})
    Agent(home).check()
    ModelStore(home).state()  # v1 on probation too; pass it
    registry.publish(build("v2"), 2)
    agent = Agent(home)
    assert agent.check().active_version == 2
    rt = ModelRuntime(home, feedback_every=0.0)
    for row in x[:60] + 8.0:
        rt.predict(row)
    r = agent.check()
    assert (r.action, r.active_version) == ("rolled_back", 1), r
    assert "drift" in r.reason


def test_run_loop_on_a_virtual_clock_backs_off_when_stable(registry, device, build):
    """`agent run` under the smart strategy: install, then quiet checks further apart."""
    from litefleet.device.clock import ManualClock
    from litefleet.device.policy import SmartPolicy

    registry.publish(build("v1"), 1)
    clock = ManualClock()
    policy = SmartPolicy(interval=600, min_interval=60, max_interval=4000, jitter=0.0)
    agent = Agent(device("loop"), clock=clock, policy=policy)
    seen: list[tuple[str, float]] = []
    agent.run(max_cycles=5, tick=30, on_result=lambda r: seen.append((r.action, clock.now())))
    assert [a for a, _ in seen] == ["installed", "none", "none", "none", "none"]
    gaps = [b - a for (_, a), (_, b) in itertools.pairwise(seen)]
    assert gaps == sorted(gaps) and gaps[-1] > 2 * gaps[0], gaps
    assert agent.policy_state().interval == 4000
