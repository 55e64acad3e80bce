"""A model's answers on a golden set, computed in the sandbox (publish-time quality, and the
device's gate against the previous release).

`class_answers` (top class of the first output) and `output_closeness` (per non-class
output, the share of elements within tolerance of the golden set's reference outputs,
`litefleet.tolerance.close_share`) run inside `litefleet.sandbox` (a child process with
limits): the publisher compares a new build with the last good release on the same golden
inputs without loading an untrusted model in its own process, and a device re-measures the
same figures with the same code. Neutral module: the registry and the device import it.

Golden sets are one-file `litefleet.golden` sets (`in*`/`y`/`out*`, or the first format's
`x`/`y`/`reference`); the publisher writes a release's two golden targets into one.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from litefleet.golden import load_golden_file
from litefleet.release import OutputCheck
from litefleet.sandbox import Limits, Outcome, run_isolated
from litefleet.tolerance import close_share

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


def output_closeness(
    models: list[str], golden: str, checks: dict[str, dict], limit: int = 1000
) -> list[dict[str, float]]:
    """Per model: for each output index in `checks` (`{"k": OutputCheck as JSON}`), the
    share of that output's elements within the check's tolerance of the golden set's
    reference output k (runs in the child). An output the reference lacks gets no figure."""
    from litefleet.litert import LoadedModel

    golden_set = load_golden_file(Path(golden))
    inputs = [a[:limit] for a in golden_set.inputs]
    parsed = {int(k): OutputCheck.model_validate(c) for k, c in checks.items()}
    out = []
    for model in models:
        outputs = list(LoadedModel.from_file(Path(model)).run(inputs).values())
        figures = {}
        for k, check in parsed.items():
            if k < len(outputs) and k < len(golden_set.reference):
                reference = golden_set.reference[k][: len(outputs[k])]
                figures[str(k)] = close_share(outputs[k], reference, check)
        out.append(figures)
    return out


def output_closeness_isolated(
    models: list[Path],
    golden: Path,
    checks: dict[int, OutputCheck],
    limits: Limits | None = None,
) -> Outcome:
    """`output_closeness` in the sandbox: `value[i]` maps output index (a string) to the
    share for model i."""
    return run_isolated(
        "litefleet.goldeneval:output_closeness",
        {
            "models": [str(m) for m in models],
            "golden": str(golden),
            "checks": {str(k): c.model_dump(mode="json") for k, c in checks.items()},
        },
        limits or EVAL_LIMITS,
    )
