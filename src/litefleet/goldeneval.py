"""A model's class answers on a golden set, computed in the sandbox (publish-time quality).

`class_answers` runs inside `litefleet.sandbox` (a child process with limits): the publisher
compares a new build with the last good release on the same golden inputs without loading
an untrusted model in its own process. Neutral module: the registry imports it.

Golden files of both formats are read: `x`/`y`/`reference` (format 1) and `in0`/`y`/`out0`
(format 2, `in0` may be uint8 with a scalar `in0_scale`).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from litefleet.sandbox import Limits, Outcome, run_isolated

EVAL_LIMITS = Limits(wall_s=120.0, memory_mb=1536)


def golden_arrays(path: Path) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None]:
    """(inputs as float32, labels or None, reference class answers or None)."""
    with np.load(path, allow_pickle=False) as z:
        files = set(z.files)
        x = z["x"] if "x" in files else z["in0"]
        if "in0_scale" in files and "x" not in files:
            x = x.astype(np.float32) * float(z["in0_scale"])
        y = z["y"] if "y" in files else None
        ref = z["reference"] if "reference" in files else (z["out0"] if "out0" in files else None)
    answers = None if ref is None else ref.reshape(len(ref), -1).argmax(axis=1)
    return x.astype(np.float32), None if y is None else y.reshape(-1), answers


def class_answers(
    models: list[str], goldens: list[str], limit: int = 1000
) -> list[list[list[int]]]:
    """Top class of the first output for each golden input, per model and golden set
    (runs in the child: one process for a whole publish)."""
    from litefleet.litert import LoadedModel

    inputs = [golden_arrays(Path(g))[0][:limit] for g in goldens]
    out = []
    for model in models:
        loaded = LoadedModel.from_file(Path(model))
        per_golden = []
        for x in inputs:
            y = np.asarray(loaded.predict(x))
            per_golden.append([int(v) for v in y.reshape(len(y), -1).argmax(axis=1)])
        out.append(per_golden)
    return out


def class_answers_isolated(
    models: list[Path], goldens: list[Path], limits: Limits | None = None
) -> Outcome:
    """`class_answers` in the sandbox: `value[i][j]` answers model i on golden set j."""
    return run_isolated(
        "litefleet.goldeneval:class_answers",
        {"models": [str(m) for m in models], "goldens": [str(g) for g in goldens]},
        limits or EVAL_LIMITS,
    )
