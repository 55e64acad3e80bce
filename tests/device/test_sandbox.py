"""`litefleet.sandbox`: whatever the child does, the caller gets an `Outcome` that says it."""

from __future__ import annotations

import signal

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
