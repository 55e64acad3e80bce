"""The health gate refuses each kind of bad model with a reason; probation verdicts."""

from __future__ import annotations

import numpy as np

from litefleet.device.health import health_check
from litefleet.device.probation import Probation, ProbationRules, probation_verdict
from litefleet.drift import Feedback
from litefleet.litert import LoadedModel


def golden(tmp_path, models_dir, data, n=100):
    x, y = data
    ref = LoadedModel.from_file(models_dir / "v1-float32.tflite").predict(x[:n])
    path = tmp_path / "golden.npz"
    np.savez(path, x=x[:n], y=y[:n], reference=ref)
    return path


def sig(models_dir):
    return LoadedModel.from_file(models_dir / "v1-float32.tflite").signature


def test_good_models_pass(tmp_path, models_dir, data):
    g = golden(tmp_path, models_dir, data)
    for name in ("v2-float32", "v2-int8"):
        r = health_check(
            models_dir / f"{name}.tflite",
            g,
            expected=sig(models_dir),
            min_accuracy=0.9,
            min_agreement=0.9,
            latency_budget_ms=50,
        )
        assert r.ok, r
        assert r.accuracy > 0.95 and r.agreement > 0.95 and 0 < r.latency_ms < 50


def test_each_failure_has_its_reason(tmp_path, models_dir, data):
    g = golden(tmp_path, models_dir, data)
    expected = sig(models_dir)
    bad = health_check(models_dir / "bad-float32.tflite", g, expected=expected, min_accuracy=0.9)
    assert not bad.ok and "golden accuracy" in bad.reason and bad.checks["signature"]
    wide = health_check(models_dir / "wide-float32.tflite", g, expected=expected, min_accuracy=0.9)
    assert not wide.ok and "signature" in wide.reason
    slow = health_check(
        models_dir / "v2-float32.tflite",
        g,
        expected=expected,
        min_accuracy=0.9,
        latency_budget_ms=1e-6,
    )
    assert not slow.ok and "latency" in slow.reason and slow.checks["latency"] is False
    junk = tmp_path / "junk.tflite"
    junk.write_bytes((models_dir / "v2-float32.tflite").read_bytes()[:300])
    cut = health_check(junk, g, expected=expected, min_accuracy=0.9)
    assert not cut.ok and "does not load" in cut.reason
    strict = health_check(
        models_dir / "v2-int8.tflite", g, expected=expected, min_accuracy=0.5, min_agreement=1.01
    )
    assert not strict.ok and "agreement" in strict.reason


def test_nan_outputs_are_refused(tmp_path, models_dir, data):
    x, y = data
    path = tmp_path / "nan.npz"
    xs = x[:20].copy()
    xs[0, 0] = np.nan
    np.savez(path, x=xs, y=y[:20])
    r = health_check(models_dir / "v1-float32.tflite", path, expected=None, min_accuracy=0.0)
    assert not r.ok and "NaN" in r.reason


def test_probation_verdicts():
    rules = ProbationRules(predictions=100, seconds=600, max_error_rate=0.05, max_drift=0.5)
    p = Probation(version=2, since=0.0, predictions=100, seconds=600)
    assert probation_verdict(p, Feedback(predictions=10), 10, rules)[0] == "pending"
    assert probation_verdict(p, Feedback(predictions=150), 10, rules)[0] == "passed"
    assert probation_verdict(p, Feedback(predictions=5), 700, rules)[0] == "passed"
    v, why = probation_verdict(p, Feedback(predictions=50, error_rate=0.2), 10, rules)
    assert v == "failed" and "error rate" in why
    v, why = probation_verdict(p, Feedback(predictions=50, drift=2.0), 10, rules)
    assert v == "failed" and "drift" in why


def test_config_written_with_flat_probation_keys_still_loads():
    from litefleet.device.config import AgentConfig

    old = {"server": "http://127.0.0.1:1", "model": "m", "device_id": "d"}
    cfg = AgentConfig.model_validate(
        {**old, "probation_predictions": 7, "probation_max_drift": 1.5}
    )
    assert cfg.probation == ProbationRules(predictions=7, max_drift=1.5)
    assert AgentConfig.model_validate(old).probation == ProbationRules()
