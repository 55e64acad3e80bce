"""Publish-time check of one `.tflite` file: it loads, allocates and runs once in LiteRT.

Runs inside `litefleet.sandbox` (a child process with limits): a file that crashes LiteRT,
loops or eats memory is refused there and never takes the caller down. Neutral module: the
registry imports it, and it imports neither the registry nor the device package.

    outcome = check_model_isolated(Path("m.tflite"))
    outcome.ok, outcome.reason
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from litefleet.sandbox import Limits, Outcome, run_isolated

PUBLISH_LIMITS = Limits(wall_s=30.0, memory_mb=1024)
"""A model that needs more than this to load and run once has no place on an edge device."""


def probe(path: str, invokes: int = 1) -> dict[str, Any]:
    """Load, allocate and invoke `invokes` times on zero inputs (runs in the child)."""
    import numpy as np
    from ai_edge_litert.interpreter import Interpreter

    interp = Interpreter(model_path=path, num_threads=1)
    interp.allocate_tensors()
    inputs = interp.get_input_details()
    for _ in range(max(1, invokes)):
        for d in inputs:
            interp.set_tensor(d["index"], np.zeros(d["shape"], dtype=d["dtype"]))
        interp.invoke()
    outputs = interp.get_output_details()
    return {
        "inputs": [[int(s) for s in d["shape"]] for d in inputs],
        "outputs": [[int(s) for s in d["shape"]] for d in outputs],
    }


def check_model_isolated(path: Path, limits: Limits | None = None) -> Outcome:
    return run_isolated("litefleet.modelcheck:probe", {"path": str(path)}, limits or PUBLISH_LIMITS)
