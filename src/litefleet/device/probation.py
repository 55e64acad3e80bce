"""Probation: the watch a freshly activated version is under before it counts as good.

Inside the probation window, runtime errors, a drift spike or a live canary that disagrees
with the previous version clearly more than the golden set predicted (`device/canary.py`)
roll the version back; enough clean predictions or enough time pass it. `ProbationRules`
are the device's settings (`config.json`'s `probation`), `Probation` is what the store's
journal remembers about the version under watch, and `probation_verdict_many` is the one
rule both the agent (through `probation_verdict`) and the fleet simulator apply.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from litefleet.device.canary import CanaryRules, CanarySummary, canary_verdict
from litefleet.drift import Feedback

Verdict = Literal["failed", "passed", "pending"]


class Probation(BaseModel):
    """The version under watch, as the store's journal (`state.json`) records it."""

    version: int
    since: float
    predictions: int
    """Predictions without trouble after which the version passes."""
    seconds: float
    """Time after which the version passes when traffic is low."""
    previous: int | None = None
    """The version active before: the live canary runs it beside this one."""
    expected_agreement: float | None = None
    """Agreement with `previous` the publisher measured on the golden inputs (None: not
    measured for this pair; the canary's default applies)."""


class ProbationRules(BaseModel):
    """The thresholds of probation (defaults: 200 predictions or 30 minutes)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    predictions: int = 200
    seconds: float = 30 * 60.0
    max_error_rate: float = 0.02
    max_drift: float = 0.5
    min_predictions: int = 20
    """Below this many predictions, error rate and drift are not judged yet."""
    min_drift_predictions: int = 50
    """PSI of a small sample is noise (10 bins, 20 inputs): drift waits for this many."""
    canary: CanaryRules = Field(default_factory=CanaryRules)

    def start(
        self,
        version: int,
        now: float,
        previous: int | None = None,
        expected_agreement: float | None = None,
    ) -> Probation:
        return Probation(
            version=version,
            since=now,
            predictions=self.predictions,
            seconds=self.seconds,
            previous=previous if self.canary.enabled else None,
            expected_agreement=expected_agreement,
        )


PENDING, PASSED, FAILED = 0, 1, 2
"""The codes `probation_verdict_many` returns (an index into `VERDICTS`)."""
VERDICTS: tuple[Verdict, ...] = ("pending", "passed", "failed")
_BY_PREDICTIONS, _BY_TIME, _BY_ERRORS, _BY_DRIFT = 1, 2, 3, 4


def _verdict_details(
    since: np.ndarray, feedback: Feedback, now: np.ndarray, rules: ProbationRules
) -> np.ndarray:
    # 0 pending, 1 passed by predictions, 2 passed by time, 3 failed: errors, 4 failed: drift
    n = np.asarray(feedback.predictions)
    error_rate = np.asarray(feedback.error_rate, dtype=np.float64)
    judged = (n >= rules.min_predictions) | ((error_rate != 0) & (n >= 3))
    drift_n = max(rules.min_predictions, rules.min_drift_predictions)
    waited = np.asarray(now, dtype=np.float64) - np.asarray(since, dtype=np.float64)
    details = np.select(
        [
            judged & (error_rate > rules.max_error_rate),
            judged & (n >= drift_n) & (np.asarray(feedback.drift) > rules.max_drift),
            n >= rules.predictions,
            waited >= rules.seconds,
        ],
        [_BY_ERRORS, _BY_DRIFT, _BY_PREDICTIONS, _BY_TIME],
        0,
    )
    return np.atleast_1d(details).astype(np.int8)


def probation_verdict_many(
    since: np.ndarray, feedback: Feedback, now: np.ndarray, rules: ProbationRules
) -> np.ndarray:
    """int8 verdict per device (`PENDING`, `PASSED`, `FAILED`) for versions on probation
    since `since`; `feedback` holds one array element per device."""
    details = _verdict_details(since, feedback, now, rules)
    return np.array([PENDING, PASSED, PASSED, FAILED, FAILED], dtype=np.int8)[details]


def probation_verdict(
    probation: Probation,
    feedback: Feedback,
    now: float,
    rules: ProbationRules,
    canary: CanarySummary | None = None,
) -> tuple[Verdict, str]:
    """('failed'|'passed'|'pending', reason) for the version on probation (its own
    thresholds, recorded when it started, count over the current `rules`'); a live canary
    summary that fails `canary_verdict` fails it whatever else says."""
    if canary is not None and canary.previous == probation.previous:
        failed, why = canary_verdict(canary, probation.expected_agreement, rules.canary)
        if failed:
            return "failed", why
    rules = rules.model_copy(
        update={"predictions": probation.predictions, "seconds": probation.seconds}
    )
    detail = int(_verdict_details(np.array([probation.since]), feedback, np.array([now]), rules)[0])
    n = feedback.predictions
    if detail == _BY_ERRORS:
        return "failed", f"runtime error rate {feedback.error_rate:.3f} on probation"
    if detail == _BY_DRIFT:
        return "failed", f"drift spike {feedback.drift:.3f} on probation"
    if detail == _BY_PREDICTIONS:
        return "passed", f"{n} clean predictions"
    if detail == _BY_TIME:
        return "passed", f"{now - probation.since:.0f} s without trouble"
    return "pending", ""
