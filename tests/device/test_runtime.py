"""The runtime: int8 quantization, hot swap under load, feedback for the agent."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from litefleet.device.runtime import ModelRuntime, read_feedback
from litefleet.device.store import ModelStore
from litefleet.errors import UserError
from litefleet.litert import LoadedModel

from .conftest import install_local


def test_int8_model_takes_and_returns_floats(models_dir, data):
    x, _y = data
    f32 = LoadedModel.from_file(models_dir / "v1-float32.tflite")
    i8 = LoadedModel.from_file(models_dir / "v1-int8.tflite")
    assert i8.signature.inputs[0].dtype == "int8" and i8.signature.inputs[0].scale > 0
    a, b = f32.predict(x[:100]), i8.predict(x[:100])
    assert b.dtype == np.float32 and np.abs(a - b).max() < 0.05
    assert (a.argmax(1) == b.argmax(1)).mean() > 0.97
    assert i8.predict(x[0]).shape == (3,), "one sample without the batch axis"
    with pytest.raises(UserError, match="does not match"):
        i8.predict(np.zeros((2, 5), np.float32))


def test_runtime_without_an_active_model_says_so(tmp_path):
    with pytest.raises(UserError, match="no active model"):
        ModelRuntime(tmp_path)


def test_hot_swap_twenty_activations_no_failed_or_mixed_call(tmp_path, models_dir, data):
    """Threads predict nonstop while 20 activations flip between two versions whose outputs
    differ; every call succeeds and its output is exactly the one of the version it names."""
    x, _ = data
    store = ModelStore(tmp_path, keep=5)
    install_local(store, models_dir, 1, "v1")
    install_local(store, models_dir, 2, "bad")  # very different outputs: mixing would show
    expected = {
        1: LoadedModel.from_file(models_dir / "v1-float32.tflite").predict(x[:8]),
        2: LoadedModel.from_file(models_dir / "bad-float32.tflite").predict(x[:8]),
    }
    rt = ModelRuntime(tmp_path)
    stop = threading.Event()
    errors: list[BaseException] = []
    seen: dict[int, int] = {1: 0, 2: 0}
    calls = [0]

    def worker() -> None:
        while not stop.is_set():
            try:
                y, v = rt.predict_with_version(x[:8])
                assert np.allclose(y, expected[v], atol=1e-6), f"mixed output on v{v}"
                seen[v] += 1
                calls[0] += 1
            except BaseException as exc:
                errors.append(exc)
                return

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for i in range(20):
        before = calls[0]
        store.activate(1 if i % 2 else 2)
        while calls[0] < before + 20 and not errors:  # let traffic hit each version
            stop.wait(0.001)
    stop.set()
    for t in threads:
        t.join()
    assert not errors, errors[:3]
    assert rt.swaps >= 20 and seen[1] > 0 and seen[2] > 0


def test_runtime_feedback_reaches_the_agent(tmp_path, models_dir, data):
    x, _ = data
    store = ModelStore(tmp_path)
    install_local(store, models_dir, 1, "v1")
    rt = ModelRuntime(tmp_path, feedback_every=0.0)
    for row in x[:50]:
        rt.predict(row)
    fb = read_feedback(tmp_path, 1)
    assert fb.predictions == 50 and fb.drift < 0.25 and fb.confidence > 0.8
    for row in x[:50] + 6.0:  # every feature shifted: drift
        rt.predict(row)
    assert read_feedback(tmp_path, 1).drift > 0.5
    assert read_feedback(tmp_path, 2).predictions == 0, "feedback of another version is empty"


def test_feedback_is_flushed_on_close_and_context_exit(tmp_path, models_dir, data):
    x, _ = data
    store = ModelStore(tmp_path / "h")
    install_local(store, models_dir, 1, "v1")
    rt = ModelRuntime(tmp_path / "h", feedback_every=3600)
    rt.predict(x[:7])
    assert read_feedback(tmp_path / "h", 1).predictions == 0, "not yet: the period is an hour"
    rt.close()
    assert read_feedback(tmp_path / "h", 1).predictions == 7
    with ModelRuntime(tmp_path / "h", feedback_every=3600) as rt2:
        rt2.predict(x[:3])
    assert read_feedback(tmp_path / "h", 1).predictions == 3


def test_feedback_is_flushed_at_interpreter_exit(tmp_path, models_dir, data):
    """A short-lived app that never calls close() still reports its predictions."""
    import subprocess
    import sys

    store = ModelStore(tmp_path / "h")
    install_local(store, models_dir, 1, "v1")
    np.save(tmp_path / "x.npy", data[0][:5])
    code = (
        "import numpy as np, sys\n"
        "from litefleet.device.runtime import ModelRuntime\n"
        "rt = ModelRuntime(sys.argv[1], feedback_every=3600)\n"
        "rt.predict(np.load(sys.argv[2]))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, str(tmp_path / "h"), str(tmp_path / "x.npy")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    assert read_feedback(tmp_path / "h", 1).predictions == 5
