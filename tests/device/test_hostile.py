"""Hostile model files, validly signed: publish refuses them, a device refuses them in its
isolated gate while its app keeps answering, and a crash loop ends in a blocked version.

Every file is generated here from a real tiny model (`litefleet.testing.hostile`): operator
codes relabelled (segfaults LiteRT in-process), a custom op, a huge tensor, a truncated
file, a WHILE loop of 2e9 steps. The device ones are signed with `check_models=False`, the
way an attacker holding the targets key would sign them with their own tools.
"""

from __future__ import annotations

import json
import os
import re
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from litefleet.device.agent import Agent
from litefleet.device.runtime import ModelRuntime
from litefleet.device.store import ModelStore, sha256_file
from litefleet.registry.publish import read_index

from .conftest import write_hostile_build

PUBLISH = ("--model", "blobs", "--check-timeout", "5")
RUNNER = Path(__file__).with_name("cli_runner.py")

EXPECTED = {
    "relabelled-ops": "SIGSEGV",
    "custom-op": "custom op",
    "huge-tensor": "memory limit",
    "truncated": "Flatbuffer",
    "huge-loop": "timed out|CPU-time limit",
}
"""Each class and the words its refusal must name (a pattern: a loop meets the CPU limit or
the deadline, whichever comes first on a busy machine; both are set to the same seconds)."""


def agent_cli(*args, **kw) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(RUNNER), "--block-tf", "agent", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=300,
        **kw,
    )


def events(registry, version: int) -> list[tuple[str, str]]:
    with sqlite3.connect(registry.path / "telemetry.db") as db:
        rows = db.execute(
            "select type, reason from events where version = ? order by id", (version,)
        )
        return list(rows)


def test_generators_make_every_class(hostile_models):
    assert set(EXPECTED) <= set(hostile_models), sorted(hostile_models)
    sizes = {name: p.stat().st_size for name, p in hostile_models.items()}
    assert all(size > 8 for size in sizes.values()), sizes


def test_relabelled_model_really_crashes_litert(hostile_models):
    """The blocker works: loaded in-process (here, a throwaway child) it kills by SIGSEGV."""
    code = (
        "from ai_edge_litert.interpreter import Interpreter;"
        f"Interpreter(model_path={str(hostile_models['relabelled-ops'])!r}).allocate_tensors()"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, timeout=60)
    assert r.returncode == -signal.SIGSEGV, r


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_publish_refuses_each_hostile_class(name, registry, models_dir, hostile_models, tmp_path):
    folder = write_hostile_build(models_dir, tmp_path / name, hostile_models[name])
    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "litefleet",
            "publish",
            str(registry.path),
            str(folder),
            "--model",
            "blobs",
            "--check-timeout",
            "5",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert r.returncode == 2, (r.returncode, r.stderr)
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:"), r.stderr
    assert re.search(EXPECTED[name], lines[0], re.IGNORECASE), lines[0]
    assert read_index(registry.repo(), "blobs") is None, "nothing was signed"


def test_device_refuses_every_class_while_its_app_keeps_answering(
    registry, device, build, models_dir, hostile_models, data, tmp_path
):
    registry.publish(build("v1"), 1)
    home = device("d", gate_timeout_s=5)
    first = json.loads(agent_cli("check", "--home", home, "--json").stdout)
    assert (first["action"], first["active_version"]) == ("installed", 1), first
    x, y = data
    rt = ModelRuntime(home)  # the app, in this process: a crash here would end the test
    stop, answered, failed, versions = threading.Event(), [0], [0], set()

    def app() -> None:
        while not stop.is_set():
            try:
                out, v = rt.predict_with_version(x[:4])
                assert (out.argmax(1) == y[:4]).all()
                answered[0] += 1
                versions.add(v)
            except Exception:
                failed[0] += 1
            time.sleep(0.005)

    thread = threading.Thread(target=app)
    thread.start()
    try:
        for version, name in enumerate(sorted(EXPECTED), start=2):
            folder = write_hostile_build(models_dir, tmp_path / name, hostile_models[name])
            registry.publish(folder, version, check_models=False)
            r = agent_cli("check", "--home", home, "--json")
            assert r.returncode in (0, 1), (name, r.returncode, r.stderr[-500:])  # not killed
            result = json.loads(r.stdout)
            assert (result["action"], result["version"], result["active_version"]) == (
                "rejected",
                version,
                1,
            ), (name, result)
            assert re.search(EXPECTED[name], result["reason"], re.IGNORECASE), (name, result)
            again = json.loads(agent_cli("check", "--home", home, "--json").stdout)
            # an idle check moves the timestamp only (counted), never a model
            assert again["action"] == "none" and again["model_bytes"] == 0, (name, again)
            assert again["bytes_downloaded"] <= 1024, (name, again)
            st = ModelStore(home).state()
            assert version in st.blocked and st.active == 1, st
            sha = sha256_file(hostile_models[name])
            assert sha in st.refused_sha256, name
            rejected = [reason for t, reason in events(registry, version) if t == "rejected"]
            refusal = rejected[0] if rejected else ""
            assert re.search(EXPECTED[name], refusal, re.IGNORECASE), (name, rejected)
    finally:
        stop.set()
        thread.join()
    assert failed[0] == 0 and answered[0] > 0 and versions == {1}, (failed, answered, versions)


def test_agent_killed_while_attempting_is_counted_then_blocked(
    registry, device, build, models_dir, hostile_models, tmp_path
):
    """A boot counter: SIGKILL the agent N=2 times while it gates a version (a power cut,
    an OOM kill); the next start blocks the version and reports it."""
    registry.publish(build("v1"), 1)
    home = device("d", gate_timeout_s=120, max_attempts=2)
    assert Agent(home).check().active_version == 1
    folder = write_hostile_build(models_dir, tmp_path / "loop", hostile_models["huge-loop"])
    registry.publish(folder, 2, check_models=False)
    store = ModelStore(home)
    for kills in range(2):
        proc = subprocess.Popen(
            [sys.executable, str(RUNNER), "--block-tf", "agent", "check", "--home", str(home)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        end = time.monotonic() + 120
        while time.monotonic() < end:
            st = store.state()
            if st.attempting == 2 and st.crashed_attempts.get(2, 0) == kills:
                break
            assert proc.poll() is None, "the agent ended before it was killed"
            time.sleep(0.05)
        else:
            pytest.fail("the agent never started attempting version 2")
        time.sleep(0.3)
        os.kill(proc.pid, signal.SIGKILL)
        assert proc.wait(timeout=30) == -signal.SIGKILL
    result = Agent(home).check()
    assert (result.action, result.version, result.active_version) == ("rejected", 2, 1), result
    assert "died 2 times" in result.reason, result.reason
    st = store.state()
    assert 2 in st.blocked and st.attempting is None
    assert any(t == "rejected" and "crash loop" in r for t, r in events(registry, 2))
    assert Agent(home).check().action == "none", "a blocked version is not tried again"


def test_identical_bytes_of_a_refused_release_are_not_tried_again(
    registry, device, build, tmp_path
):
    one = ("float32",)
    registry.publish(build("v1", variants=one), 1)
    home = device("d")
    Agent(home).check()
    # fails the golden set on the device (publish refuses it unless told)
    registry.publish(build("bad", variants=one), 2, allow_regression=True)
    assert Agent(home).check().action == "rejected"
    registry.rollout(2, "abort")
    with pytest.raises(Exception, match="same bytes as release 2"):
        # the bytes of an aborted release
        registry.publish(build("bad", variants=one), 3, allow_regression=True)
    registry.publish(build("bad", variants=one), 3, force=True, allow_regression=True)
    r = Agent(home).check()
    assert (r.action, r.version, r.model_bytes) == ("rejected", 3, 0), r
    assert "refused before" in r.reason, r.reason
    sha = ModelStore(home).state()
    digest = next(iter(sha.refused_sha256))
    out = agent_cli("unblock", digest[:16], "--home", home)
    assert out.returncode == 0 and "unblocked" in out.stdout, out.stderr
    out = agent_cli("unblock", "3", "--home", home)
    assert out.returncode == 0, out.stderr
    r = Agent(home).check()  # the operator allowed the bytes: the gate judges them again
    assert r.action == "rejected" and "golden accuracy" in r.reason, r


def test_names_from_signed_metadata_cannot_escape(tmp_path):
    from pydantic import ValidationError

    from litefleet.release import FileRef, Release, ReleaseIndex, Signature, VariantEntry
    from litefleet.testing.releases import release_fields

    sig = Signature(inputs=[], outputs=[])
    entry = dict(precision="float32", bytes=1, accuracy=1.0, latency_ms_p50=0.1, sha256="0" * 64)

    def index(
        variant: str, path: str, golden: str = "m/1/golden-inputs.npz", version: int = 1
    ) -> ReleaseIndex:
        fields = release_fields("m", version)
        fields["golden_inputs"] = FileRef(path=golden, bytes=1, sha256="0" * 64)
        release = Release(
            version=version,
            created="now",
            variants={variant: VariantEntry(path=path.replace("/1/", f"/{version}/"), **entry)},
            **fields,
        )
        return ReleaseIndex(model="m", signature=sig, releases=[release])

    index("float32", "m/1/float32.tflite")  # the canonical form parses
    # a release may name an earlier release's unchanged file of the same model
    index("float32", "m/1/float32.tflite", "m/1/golden-inputs.npz", version=3)
    ok = "m/1/golden-inputs.npz"
    for variant, path, golden in [
        ("../../../../escape/pwned", "m/1/../../../../escape/pwned.tflite", ok),
        ("float32", "m/1/../../x.tflite", ok),
        ("float32", "/etc/passwd", ok),
        ("float32", "m/1/other.tflite", ok),
        ("float32", "m/1/float32.tflite", "m/../../golden.npz"),
        ("float32", "m/1/float32.tflite", "m/1/../golden-inputs.npz"),
        ("float32", "m/1/float32.tflite", "m/2/golden-inputs.npz"),  # a LATER release's
        ("float32", "m/1/float32.tflite", "other/1/golden-inputs.npz"),  # another model's
        ("float32", "m/1/float32.tflite", "m/1/golden-reference.npz"),  # another file
        ("float32", "m/1/float32.tflite", "m/01/golden-inputs.npz"),
        (".hidden", "m/1/.hidden.tflite", ok),
    ]:
        with pytest.raises(ValidationError):
            index(variant, path, golden)
    store = ModelStore(tmp_path / "home")
    with pytest.raises(Exception, match="outside the device home"):
        store.inside(store.versions_dir / "1" / ".." / ".." / ".." / "x.tflite")
