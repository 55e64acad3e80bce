"""What a release's health gate requires, decided at publish from the build (`GateSpec`).

The seam for the gate's rules: a classification build with labels keeps the first format's
semantics (golden accuracy >= `min_accuracy`, top-class agreement with the float reference
>= `min_agreement`); a golden set without labels has no accuracy floor. Per-output checks
(`GateSpec.outputs`, closeness for non-class outputs) and quality floors are added here.
"""

from __future__ import annotations

from litefleet.errors import UserError
from litefleet.golden import GoldenSet
from litefleet.release import BuildReport, GateSpec

DEFAULT_ACCURACY_MARGIN = 0.1
"""Default `min_accuracy` = the least accurate variant's test accuracy minus this margin
(the golden set is small, so its accuracy is noisy)."""


def gate_spec(
    report: BuildReport,
    golden: GoldenSet,
    *,
    min_accuracy: float | None = None,
    min_agreement: float = 0.9,
) -> GateSpec:
    """The gate of a release built as `report` with golden set `golden`."""
    if not 0 <= min_agreement <= 1:
        raise UserError(f"min agreement must be within 0..1, not {min_agreement}")
    classifies = report.task == "classification"
    labelled = golden.labels is not None and classifies
    if min_accuracy is not None and not labelled:
        raise UserError("--min-accuracy needs a golden set with labels (y) of a classifier")
    return GateSpec(
        task=report.task,
        class_output=0 if classifies else None,
        min_accuracy=default_min_accuracy(report, min_accuracy) if labelled else None,
        min_agreement=min_agreement,
    )


def default_min_accuracy(report: BuildReport, given: float | None) -> float:
    if given is not None:
        if not 0 <= given <= 1:
            raise UserError(f"min accuracy must be within 0..1, not {given}")
        return given
    lowest = min(c.accuracy for c in report.candidates)
    return round(max(0.0, lowest - DEFAULT_ACCURACY_MARGIN), 4)
