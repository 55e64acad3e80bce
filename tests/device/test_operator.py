"""The operator's side through the real CLI (TensorFlow blocked): validated settings, a
guarded `init`, errors that name their cause, status that says what happens next."""

from __future__ import annotations

import json
import threading
import time

import numpy as np
import pytest

from litefleet.device.agent import Agent
from litefleet.device.runtime import ModelRuntime
from litefleet.device.store import ModelStore

from .test_e2e import cli


def init_args(home, registry, *extra):
    return (
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
        "op",
        "--offline",  # these tests are about the settings; the server check has its own
        *extra,
    )


@pytest.mark.parametrize(
    ("policy", "strategy", "key"),
    [
        ('{"intervl": 60}', "periodic", "policy.intervl"),
        ('{"rules": {"require_charing": true}}', "conditional", "policy.rules.require_charing"),
        ('{"interval": "ten"}', "smart", "policy.interval"),
        ('{"rules": {"min_battery": true, "window": [1]}}', "smart", "policy.rules.window"),
    ],
)
def test_bad_policy_is_one_line_exit_2_and_nothing_written(
    registry, tmp_path, policy, strategy, key
):
    home = tmp_path / "h"
    out = cli(*init_args(home, registry, "--strategy", strategy, "--policy", policy))
    assert out.returncode == 2, out
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:") and key in lines[0], out.stderr
    assert not home.exists(), "nothing is written for a refused config"


def test_policy_file_toml_and_json(registry, tmp_path):
    toml = tmp_path / "wifi.toml"
    toml.write_text("interval = 600\n[rules]\nrequire_charging = true\nwindow = [22, 6]\n")
    home = tmp_path / "h"
    out = cli(*init_args(home, registry, "--strategy", "conditional", "--policy-file", toml))
    assert out.returncode == 0, out.stderr
    cfg = json.loads((home / "config.json").read_text())
    assert cfg["policy"] == {
        "interval": 600,
        "rules": {"require_charging": True, "window": [22, 6]},
    }
    status = cli("status", "--home", home)
    assert "charging" in status.stdout and "window 22h-6h" in status.stdout, status.stdout
    bad = tmp_path / "bad.json"
    bad.write_text('{"rules": {"max_cpu": 0.3}}')
    out = cli(*init_args(tmp_path / "h2", registry, "--strategy", "smart", "--policy-file", bad))
    assert out.returncode == 2 and "policy.rules.max_cpu: unknown setting" in out.stderr


def test_init_on_an_existing_home_is_refused_unless_forced(registry, tmp_path):
    home = tmp_path / "h"
    assert cli(*init_args(home, registry)).returncode == 0
    before = (home / "config.json").read_text()
    again = cli(*init_args(home, registry, "--channel", "beta"))
    assert again.returncode == 2 and "already a device home" in again.stderr
    assert (home / "config.json").read_text() == before
    forced = cli(*init_args(home, registry, "--channel", "beta", "--force"))
    assert forced.returncode == 0, forced.stderr
    assert json.loads((home / "config.json").read_text())["channel"] == "beta"


def test_init_contacts_the_server_and_writes_nothing_when_it_disagrees(registry, build, tmp_path):
    from litefleet.registry.repository import Repository
    from litefleet.testing.services import free_port

    registry.publish(build("v1"), 1)
    online = [a for a in init_args(tmp_path / "h", registry) if a != "--offline"]
    model_at = online.index("--model") + 1
    wrong_model = [*online[:model_at], "blob", *online[model_at + 1 :]]
    out = cli(*wrong_model)
    assert out.returncode == 2 and "no model 'blob' (have: blobs)" in out.stderr, out.stderr
    nowhere = [a if a != registry.url else f"http://127.0.0.1:{free_port()}" for a in online]
    out = cli(*nowhere)
    assert out.returncode == 2 and "cannot reach http://127.0.0.1:" in out.stderr, out.stderr
    assert "--offline" in out.stderr
    other = Repository.init(tmp_path / "other-repo").metadata_dir / "1.root.json"
    stranger = [a if a != registry.root else other for a in online]
    out = cli(*stranger)
    assert out.returncode == 2 and registry.url in out.stderr, out.stderr
    assert not (tmp_path / "h").exists(), "a failed init wrote something"
    out = cli(*online)
    assert out.returncode == 0 and f"{registry.url} publishes it" in out.stdout, out.stderr
    offline = cli(
        *[a if a != registry.url else "http://nowhere.invalid" for a in online],
        "--offline",
        "--home",
        tmp_path / "h2",
    )
    assert offline.returncode == 0, offline.stderr


def test_root_must_be_self_signed_root_metadata(registry, tmp_path):
    timestamp = registry.path / "metadata" / "timestamp.json"
    out = cli(*init_args(tmp_path / "a", registry)[:6], timestamp, "--model", "blobs")
    assert out.returncode == 2 and "timestamp metadata, not root" in out.stderr
    forged = json.loads(registry.root.read_text())
    forged["signed"]["expires"] = "2099-01-01T00:00:00Z"  # signatures no longer match
    bad = tmp_path / "root.json"
    bad.write_text(json.dumps(forged))
    out = cli(*init_args(tmp_path / "b", registry)[:6], bad, "--model", "blobs")
    assert out.returncode == 2 and "signatures do not verify" in out.stderr
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()


def test_config_broken_on_disk_check_says_error_and_model_keeps_serving(
    registry, device, build, data
):
    registry.publish(build("v1"), 1)
    home = device("broken")
    assert Agent(home).check().action == "installed"
    cfg = json.loads((home / "config.json").read_text())
    cfg["policy"] = {"interval": "ten"}
    (home / "config.json").write_text(json.dumps(cfg))
    out = cli("check", "--home", home, "--json")
    assert out.returncode == 1, out
    r = json.loads(out.stdout)
    assert r["action"] == "error" and r["active_version"] == 1
    assert "config.json is invalid: policy.interval" in r["reason"]
    assert "Traceback" not in out.stderr
    x, _ = data
    assert ModelRuntime(home).predict_with_version(x[:2])[1] == 1


def test_server_down_names_the_url_and_refused(registry, device, tmp_path):
    home = device("down")
    cfg = json.loads((home / "config.json").read_text())
    cfg["server"] = "http://127.0.0.1:9"  # discard port: nothing listens
    (home / "config.json").write_text(json.dumps(cfg))
    out = cli("check", "--home", home, "--json")
    r = json.loads(out.stdout)
    assert out.returncode == 1 and r["action"] == "error"
    assert "http://127.0.0.1:9/metadata/" in r["reason"] and "connection refused" in r["reason"]


def test_missing_target_names_url_and_http_status(registry, device, build):
    registry.publish(build("v1"), 1)
    home = device("gone")
    for f in (registry.path / "targets").rglob("*.tflite"):
        f.unlink()
    r = Agent(home).check()
    assert r.action == "error" and "HTTP 404" in r.reason and registry.url in r.reason, r


@pytest.mark.parametrize("token", ["wrong-token", None])
def test_refused_token_is_a_warning_in_check_and_status(registry, build, tmp_path, token):
    registry.publish(build("v1"), 1)
    home = tmp_path / "tok"
    extra = ("--token", token) if token else ()
    assert cli(*init_args(home, registry, *extra)).returncode == 0
    out = cli("check", "--home", home, "--json")
    r = json.loads(out.stdout)
    assert r["action"] == "installed", r
    assert len(r["warnings"]) == 1 and "HTTP 401" in r["warnings"][0]
    assert f"{registry.url}/v1/devices/op/events" in r["warnings"][0]
    status = json.loads(cli("status", "--home", home, "--json").stdout)
    assert status["warnings"] == r["warnings"] and status["telemetry_queued"] > 0
    meta = status["metadata"]
    assert meta["age_s"] >= 0 and meta["timestamp_expires"] and meta["targets_expires"]
    assert meta["age_text"].startswith("newest timestamp received")
    text = cli("status", "--home", home).stdout
    assert "WARNING: telemetry refused: HTTP 401" in text


def test_unblock_after_rollback_and_forward_again(registry, device, build):
    home = device("ub", keep=4)
    for v in (1, 2, 3):
        registry.publish(build(f"v{v}"), v)
        assert Agent(home).check().active_version == v
    assert cli("rollback", "--home", home, "--to", "2").returncode == 0
    assert cli("rollback", "--home", home, "--to", "3").returncode == 0
    st = ModelStore(home).state()
    assert st.active == 3 and 2 in st.blocked
    status = cli("status", "--home", home).stdout
    assert "blocked 2: rollback on command" in status and "agent unblock 2" in status, status
    out = cli("unblock", "--home", home, "2")
    assert out.returncode == 0 and "unblocked version 2" in out.stdout, out
    assert 2 not in ModelStore(home).state().blocked
    back = cli("rollback", "--home", home, "--json")
    assert json.loads(back.stdout)["active_version"] == 2, back
    again = cli("unblock", "--home", home, "1")
    assert again.returncode == 2 and "not blocked" in again.stderr


def test_status_shows_next_check_while_run_runs(registry, device, build):
    registry.publish(build("v1"), 1)
    home = device("runner", policy={"interval": 3600})
    agent = Agent(home)
    stop = threading.Event()
    lines = []
    t = threading.Thread(
        target=agent.run, kwargs={"stop": stop, "tick": 0.2, "on_result": lines.append}
    )
    t.start()
    try:
        for _ in range(100):
            s = json.loads(cli("status", "--home", home, "--json").stdout)
            if s["next_check"]:
                break
            time.sleep(0.1)
        assert s["next_check"] is not None and s["next_check_text"].startswith("in ")
        assert s["metadata"]["age_text"].startswith(("newest timestamp received", "no timestamp"))
    finally:
        stop.set()
        t.join(30)
    np.testing.assert_equal(t.is_alive(), False)


def test_run_prints_one_line_per_cycle_with_why_and_next_check(registry, device, build):
    registry.publish(build("v1"), 1)
    home = device("loop", policy={"interval": 1.0, "jitter": 0.1})
    out = cli("run", "--home", home, "--max-cycles", "2", "--tick", "0.1")
    assert out.returncode == 0, out.stderr
    lines = out.stdout.strip().splitlines()
    assert len(lines) == 2, lines
    assert "installed: active 1" in lines[0] and "[schedule]" in lines[0], lines[0]
    assert "next check " in lines[0] and lines[0][:4].isdigit(), lines[0]
    out = cli("run", "--home", home, "--max-cycles", "1", "--tick", "0.1", "--json")
    r = json.loads(out.stdout.strip().splitlines()[0])
    assert r["action"] == "none" and r["trigger"] == "schedule" and r["next_check"] > 0
