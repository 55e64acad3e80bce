"""`litefleet.sandbox`: whatever the child does, the caller gets an `Outcome` that says it."""

from __future__ import annotations

import signal
import time

import numpy as np
import pytest

from litefleet.device.health import gate_limits, isolated_health_check
from litefleet.litert import LoadedModel
from litefleet.sandbox import Limits, run_isolated

TASK = "litefleet.testing.sandboxtasks"


def test_value_exception_signal_timeout_cpu_and_memory():
    ok = run_isolated(f"{TASK}:echo", {"value": [1, "a"]}, Limits(wall_s=30))
    assert ok.ok and ok.value == [1, "a"], ok
    err = run_isolated(f"{TASK}:fail", {"message": "nope"}, Limits(wall_s=30))
    assert not err.ok and err.reason == "ValueError: nope", err
    seg = run_isolated(f"{TASK}:die", {"signum": int(signal.SIGSEGV)}, Limits(wall_s=30))
    assert not seg.ok and "signal 11 (SIGSEGV)" in seg.reason, seg
    slow = run_isolated(f"{TASK}:sleep", {"seconds": 60}, Limits(wall_s=1.5))
    assert not slow.ok and "timed out after 1.5 s" in slow.reason, slow
    assert slow.seconds < 30, "the child was killed at the deadline"
    spin = run_isolated(f"{TASK}:spin", {}, Limits(wall_s=60, cpu_s=1))
    assert not spin.ok and "SIGXCPU" in spin.reason and "CPU-time limit" in spin.reason, spin
    hog = run_isolated(f"{TASK}:allocate", {"mb": 2048}, Limits(wall_s=30, memory_mb=512))
    assert not hog.ok and "memory limit of 512 MB" in hog.reason, hog


def test_only_litefleet_tasks():
    with pytest.raises(ValueError):
        run_isolated("os:system", {"command": "true"})


def test_isolated_gate_matches_the_in_process_gate(models_dir, tmp_path, data):
    x, y = data
    model = models_dir / "v1-float32.tflite"
    ref = LoadedModel.from_file(model).predict(x[:100])
    np.savez(tmp_path / "golden.npz", x=x[:100], y=y[:100], reference=ref)
    limits = gate_limits(signed_latency_ms=0.02, latency_budget_ms=None, samples=100)
    assert 10 < limits.wall_s < 20, limits
    r = isolated_health_check(
        model, tmp_path / "golden.npz", expected=None, min_accuracy=0.9, limits=limits
    )
    assert r.ok and r.accuracy > 0.9 and r.signature is not None, r
    bad = isolated_health_check(
        models_dir / "bad-float32.tflite", tmp_path / "golden.npz", expected=None, min_accuracy=0.9
    )
    assert not bad.ok and "golden accuracy" in bad.reason, bad


CALLER = """
import sys
from litefleet.sandbox import Limits, run_isolated

run_isolated("litefleet.testing.sandboxtasks:sleep_with_mark",
             {"seconds": 600, "mark": sys.argv[1]}, Limits(wall_s=600))
"""


def test_a_killed_caller_leaves_no_child_running(tmp_path):
    """SECURITY.md: the child is killed with its parent. SIGKILL the caller while its child
    runs a model-sized task; the child (forked by the caller's zygote) must go too."""
    import os
    import subprocess
    import sys

    mark = tmp_path / "child.pid"
    caller = subprocess.Popen([sys.executable, "-c", CALLER, str(mark)])
    try:
        deadline = time.monotonic() + 60
        while not mark.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert mark.exists(), "the sandboxed child never started"
        child = int(mark.read_text())
        os.kill(caller.pid, signal.SIGKILL)
        caller.wait(10)
        deadline = time.monotonic() + 10
        while _alive(child) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not _alive(child), "the sandboxed child outlived its caller"
    finally:
        caller.kill()
        caller.wait()


def _alive(pid: int) -> bool:
    """Running (a zombie waiting for its reaper counts as gone)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def test_a_caller_that_exits_leaves_no_zygote_folder(tmp_path):
    """The zygote's socket folder goes with it when the caller simply exits (an agent that
    restarts all day must not fill its temporary folder)."""
    import os
    import subprocess
    import sys

    one_task = "from litefleet.sandbox import run_isolated\n" + (
        "assert run_isolated('litefleet.testing.sandboxtasks:echo', {'value': 1}).ok\n"
    )
    subprocess.run(
        [sys.executable, "-c", one_task],
        check=True,
        timeout=120,
        env={**os.environ, "TMPDIR": str(tmp_path)},
    )
    deadline = time.monotonic() + 10
    while list(tmp_path.iterdir()) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert list(tmp_path.iterdir()) == [], "the zygote left its folder behind"
