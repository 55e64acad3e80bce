"""The server's judge of a release over the devices' live canary summaries.

Each device that ran a release on probation reports one `canary` event (`device/canary.py`)
with its live agreement with the previous version, its sample count and its own verdict
(`failed` when its one-sided binomial test rejected the release, else `passed`). The judge
counts distinct devices, each once (its newest summary by `seq`), only those offered the
release (its rollout cohort), and never events.

The test over devices: a good release makes a device's canary fail with probability at most
`device_alarm` (0.01; the device's own test is at 0.1 % per look, with a few looks per
probation). With `m` judged devices and `f` failures, the release is *bad* when the
binomial tail `P(X >= f | m, device_alarm)` is below `alpha` (1e-4): the judge's
false-alarm rate per evaluation on a good release is at most `alpha`. Minimum sample:
`min_devices` (3) judged devices; with 3 devices, 3 failures pause (tail 1e-6), 2 do not
(3e-4).

The judge is *sure a release is good* (what automatic promotion needs, `promote.py`) when
at least `min_devices_good` (5) devices were judged, the failure count is not significant
at the looser `alpha_good` (0.05), and the pooled live agreement's lower bound
(`pooled - 2.33 * sqrt(pooled (1 - pooled) / samples)`, one-sided 99 %) is at least the
expected agreement minus `margin_good` (0.02): a release that agrees a little worse than
predicted, too little for any device to fail it, is never promoted, only held where it is.
Anything else is *unsure*: promotion waits.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

Verdict = Literal["bad", "good", "unsure"]


@dataclass(frozen=True)
class DeviceSummary:
    device_id: str
    agreement: float
    samples: int
    failed: bool


@dataclass(frozen=True)
class Judgement:
    verdict: Verdict
    devices: int
    failed: int
    p_value: float
    agreement: float
    """Pooled live agreement (agreements / samples over judged devices)."""
    reason: str


@dataclass(frozen=True)
class CanaryJudge:
    device_alarm: float = 0.01
    alpha: float = 1e-4
    alpha_good: float = 0.05
    min_devices: int = 3
    min_devices_good: int = 5
    margin_good: float = 0.02
    default_agreement: float = 0.9

    def judge(self, summaries: list[DeviceSummary], expected: float | None = None) -> Judgement:
        m = len(summaries)
        f = sum(s.failed for s in summaries)
        samples = sum(s.samples for s in summaries)
        pooled = sum(s.agreement * s.samples for s in summaries) / samples if samples else 1.0
        p = binomial_tail(f, m, self.device_alarm)
        if m >= self.min_devices and p < self.alpha:
            return Judgement(
                "bad",
                m,
                f,
                p,
                pooled,
                f"judge: {f}/{m} devices' live canaries failed (binomial P = {p:.1e} <"
                f" {self.alpha:g} for a good release); pooled live agreement {pooled:.3f}",
            )
        floor = (expected if expected is not None else self.default_agreement) - self.margin_good
        lower = pooled - 2.33 * math.sqrt(max(pooled * (1 - pooled), 1e-6) / max(1, samples))
        if m >= self.min_devices_good and p >= self.alpha_good and lower >= floor:
            return Judgement(
                "good",
                m,
                f,
                p,
                pooled,
                f"judge: {m} devices judged healthy on live traffic ({f} failed,"
                f" agreement {pooled:.3f}, lower bound {lower:.3f} >= {floor:.3f})",
            )
        return Judgement(
            "unsure",
            m,
            f,
            p,
            pooled,
            f"judge unsure: {m} devices judged (needs {self.min_devices_good}), {f} failed,"
            f" agreement {pooled:.3f}",
        )


def binomial_tail(k: int, n: int, p: float) -> float:
    """P(X >= k) for X ~ Binomial(n, p)."""
    if k <= 0:
        return 1.0
    if k > n:
        return 0.0
    if p <= 0:
        return 0.0
    if p >= 1:
        return 1.0

    def log_pmf(i: int) -> float:
        return (
            math.lgamma(n + 1)
            - math.lgamma(i + 1)
            - math.lgamma(n - i + 1)
            + i * math.log(p)
            + (n - i) * math.log1p(-p)
        )

    return min(1.0, math.fsum(math.exp(log_pmf(i)) for i in range(k, n + 1)))
