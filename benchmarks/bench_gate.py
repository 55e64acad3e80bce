"""What isolation costs: the health gate and the publish-time model check run in a child
process with limits (`litefleet.sandbox`), against the same work in-process, and against
the sandbox's old way of starting each child (a fresh interpreter instead of a fork of the
preloaded zygote, `litefleet.zygote`), all in the same run; prints JSON.

Models and golden set: the selftest's embedded tiny models (no TensorFlow needed).

    .venv/bin/python benchmarks/bench_gate.py [--quick]
"""

from __future__ import annotations

import contextlib
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np


def timed(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


@contextlib.contextmanager
def fresh_interpreters() -> Iterator[None]:
    """The sandbox as it was: no zygote, so every child is a fresh `python -m` process."""
    from litefleet import zygote

    def unavailable(env: Callable[[], dict[str, str]]) -> zygote.Zygote:
        raise OSError("zygote off for the comparison")

    shared, zygote.shared = zygote.shared, unavailable
    try:
        yield
    finally:
        zygote.shared = shared


def main() -> None:
    from litefleet.device.health import gate_limits, health_check, isolated_health_check
    from litefleet.litert import LoadedModel
    from litefleet.modelcheck import check_model_isolated, probe
    from litefleet.testing import tiny_models as assets
    from litefleet.testing.tiny_data import dataset

    repeats = 3 if "--quick" in sys.argv else 10
    x, y = dataset()
    with tempfile.TemporaryDirectory() as tmp:
        model = Path(tmp) / "m.tflite"
        model.write_bytes(assets.model("v1-float32"))
        golden = Path(tmp) / "golden.npz"
        ref = LoadedModel.from_file(model).predict(x[:200])
        np.savez(golden, x=x[:200], y=y[:200], reference=ref)
        kw = dict(expected=None, min_accuracy=0.0)
        limits = gate_limits(signed_latency_ms=0.02, latency_budget_ms=None, samples=200)
        gate_in = timed(lambda: health_check(model, golden, **kw), repeats)
        gate_iso = timed(lambda: isolated_health_check(model, golden, limits=limits, **kw), repeats)
        check_in = timed(lambda: probe(str(model)), repeats)
        check_iso = timed(lambda: check_model_isolated(model), repeats)
        with fresh_interpreters():
            gate_fresh = timed(
                lambda: isolated_health_check(model, golden, limits=limits, **kw), repeats
            )
            check_fresh = timed(lambda: check_model_isolated(model), repeats)
    result = {
        "gate": {
            "in_process_s": round(gate_in, 4),
            "isolated_s": round(gate_iso, 4),
            "isolated_vs_in_process": round(gate_iso / gate_in, 2),
            "isolation_overhead_s": round(gate_iso - gate_in, 4),
            "default_deadline_s": round(limits.wall_s, 2),
            "fresh_interpreter_s": round(gate_fresh, 4),
            "fresh_vs_zygote": round(gate_fresh / gate_iso, 2),
        },
        "publish_check": {
            "in_process_s": round(check_in, 4),
            "isolated_s": round(check_iso, 4),
            "isolated_vs_in_process": round(check_iso / check_in, 2),
            "fresh_interpreter_s": round(check_fresh, 4),
            "fresh_vs_zygote": round(check_fresh / check_iso, 2),
        },
        "repeats": repeats,
        "golden_samples": 200,
    }
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
