"""How closely each output of a release must follow the float reference on a device: the
per-output checks of a `GateSpec`, derived at publish from what the build measured.

Neutral (the registry derives the checks, the device applies them with `close_share`):

- a classifier's class output is judged by accuracy (labels) and agreement (top class);
- every other output by closeness: the share of elements with |output - reference| <=
  atol * range(reference) + rtol * |reference| must reach `min_share`. `atol` is a margin
  over the largest error the build measured for any variant of this release on its
  samples (`CandidateReport.output_errors`, the 99th percentile of the same scaled error),
  so an int8 variant gets the looser tolerance it needs and a broken model (errors of tens
  of % of the range) still fails. One tolerance per output serves every variant of the
  release (the `GateSpec` is per release).

    checks = output_checks(report)          # at publish
    share = close_share(output, reference, check)   # on the device
"""

from __future__ import annotations

import numpy as np

from litefleet.litert import unique_names
from litefleet.release import BuildReport, OutputCheck

MARGIN = 2.0
"""Tolerance = MARGIN x the largest measured error of any variant of the release ..."""
FLOOR = 0.01
"""... and never below 1 % of the reference's range (float32 on another CPU, another
XNNPACK build: differences of 1e-6, far below)."""
DEFAULT_ATOL = 0.05
"""An output without a measured error (an older build): 5 % of the range."""
MIN_SHARE = 0.99


def output_checks(report: BuildReport) -> list[OutputCheck]:
    """One check per output of the build's models, in output order."""
    float_first = sorted(report.candidates, key=lambda c: c.precision != "float32")
    names = unique_names([t.name for t in float_first[0].signature.outputs], "output")
    checks = []
    for k, name in enumerate(names):
        if report.task == "classification" and k == 0:
            checks.append(OutputCheck(name=name, kind="class"))
            continue
        measured = [c.output_errors[name] for c in report.candidates if name in c.output_errors]
        atol = max(MARGIN * max(measured), FLOOR) if measured else DEFAULT_ATOL
        checks.append(
            OutputCheck(name=name, kind="close", atol=round(atol, 6), min_share=MIN_SHARE)
        )
    return checks


def close_share(output: np.ndarray, reference: np.ndarray, check: OutputCheck) -> float:
    """The share of elements of `output` within `check`'s tolerance of `reference`."""
    if not reference.size:
        return 1.0
    ref = reference.astype(np.float64)
    span = float(np.ptp(ref))
    tol = check.atol * (span if span > 0 else 1.0) + check.rtol * np.abs(ref)
    diff = np.abs(np.asarray(output, dtype=np.float64).reshape(ref.shape) - ref)
    return float((diff <= tol).mean())
