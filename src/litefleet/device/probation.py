"""Probation: the watch a freshly activated version is under before it counts as good.

Inside the probation window, runtime errors or a drift spike roll the version back; enough
clean predictions or enough time pass it. `ProbationRules` are the device's settings
(`config.json`'s `probation`), `Probation` is what the store's journal remembers about the
version under watch, and `probation_verdict` is the one rule both the agent and the fleet
simulator apply.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict

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

    def start(self, version: int, now: float) -> Probation:
        return Probation(
            version=version, since=now, predictions=self.predictions, seconds=self.seconds
        )


def probation_verdict(
    probation: Probation, feedback: Feedback, now: float, rules: ProbationRules
) -> tuple[Verdict, str]:
    """('failed'|'passed'|'pending', reason) for the version on probation."""
    n = feedback.predictions
    if n >= rules.min_predictions or (feedback.error_rate and n >= 3):
        if feedback.error_rate > rules.max_error_rate:
            return "failed", f"runtime error rate {feedback.error_rate:.3f} on probation"
        drift_n = max(rules.min_predictions, rules.min_drift_predictions)
        if n >= drift_n and feedback.drift > rules.max_drift:
            return "failed", f"drift spike {feedback.drift:.3f} on probation"
    if n >= probation.predictions:
        return "passed", f"{n} clean predictions"
    if now - probation.since >= probation.seconds:
        return "passed", f"{now - probation.since:.0f} s without trouble"
    return "pending", ""
