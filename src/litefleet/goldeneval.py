"""A model's class answers on a golden set, computed in the sandbox (publish-time quality).

`class_answers` runs inside `litefleet.sandbox` (a child process with limits): the publisher
compares a new build with the last good release on the same golden inputs without loading
an untrusted model in its own process. Neutral module: the registry imports it.

Golden sets are one-file `litefleet.golden` sets (`in*`/`y`/`out*`, or the first format's
`x`/`y`/`reference`); the publisher writes a release's two golden targets into one.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from litefleet.golden import load_golden_file
from litefleet.sandbox import Limits, Outcome, run_isolated

EVAL_LIMITS = Limits(wall_s=120.0, memory_mb=1536)


def golden_arrays(path: Path) -> tuple[list[np.ndarray], np.ndarray | None, np.ndarray | None]:
    """(inputs as float32 in input order, labels or None, reference class answers or None)
    of a one-file golden set (`litefleet.golden`: either key format)."""
    golden = load_golden_file(path)
    ref = golden.reference[0] if golden.reference else None
    answers = None if ref is None else ref.reshape(len(ref), -1).argmax(axis=1)
    labels = None if golden.labels is None else golden.labels.reshape(-1)
    return [np.asarray(a, np.float32) for a in golden.inputs], labels, answers


def class_answers(
    models: list[str], goldens: list[str], limit: int = 1000
) -> list[list[list[int]]]:
    """Top class of the first output for each golden input, per model and golden set
    (runs in the child: one process for a whole publish)."""
    from litefleet.litert import LoadedModel

    inputs = [golden_arrays(Path(g))[0][0][:limit] for g in goldens]  # single-input models
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
