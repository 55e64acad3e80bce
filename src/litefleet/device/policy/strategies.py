"""The three update strategies (periodic, conditional, smart): when to check, and the
next state after a check. The array methods are the implementation; the scalar methods
the agent calls wrap them."""

from __future__ import annotations

import random
from dataclasses import field, fields
from typing import Literal, get_args

import numpy as np
from pydantic import Field, ValidationError
from pydantic.dataclasses import dataclass as pydantic_dataclass

from litefleet.device.conditions import Conditions, ConditionsArray
from litefleet.device.policy._common import (
    DAY,
    HOUR,
    SETTINGS,
    Seconds,
    _arr,
    _first,
    _nan_if_none,
    _pow2,
)
from litefleet.device.policy.rules import ANY_NETWORK, DownloadDecision, DownloadRules, Escalation
from litefleet.device.policy.state import (
    _DEFERRED,
    _ERROR,
    _INSTALLED,
    _ROLLED_BACK,
    OUTCOME_CODES,
    Outcome,
    PolicyState,
    PolicyStates,
    behind_since_many,
)
from litefleet.drift import Feedback
from litefleet.errors import UserError
from litefleet.validation import one_line

StrategyName = Literal["periodic", "conditional", "smart"]
"""The names of the update strategies (`STRATEGIES` maps each to its policy class)."""
STRATEGY_NAMES: tuple[StrategyName, ...] = get_args(StrategyName)


@pydantic_dataclass(frozen=True, config=SETTINGS)
class Policy:
    """Shared by all strategies: schedule with jitter, retry failures with backoff."""

    interval: Seconds = 6 * HOUR
    """Seconds between scheduled checks."""
    jitter: float = Field(0.1, ge=0, lt=1)
    """Each wait is multiplied by a uniform draw in [1 - jitter, 1 + jitter]."""
    retry_base: Seconds = 60.0
    """First wait after a failed check (no network, server error); doubles each failure."""
    retry_max: Seconds = HOUR
    """Longest wait between failed checks."""
    defer_retry: Seconds = 15 * 60.0
    """How soon to look again after a download was first deferred by the rules."""
    defer_retry_max: Seconds = HOUR
    """Repeated deferrals back off (doubling) up to this: a device that waits days for Wi-Fi
    should not ask the server every 15 minutes, nor skip a 4-hour window."""
    rules: DownloadRules = field(default_factory=lambda: ANY_NETWORK)
    """When a download may start (conditional and smart strategies)."""

    name = "periodic"

    # -- the array methods: the one implementation of every decision ---------------------

    def start_many(self, now: np.ndarray, u: np.ndarray) -> PolicyStates:
        """First check at a random point of the first interval (`u` uniform in [0, 1)):
        a fleet that boots at once does not hit the server at once."""
        now, u = _arr(now), _arr(u)
        states = PolicyStates.empty(len(now))
        states.next_check[:] = now + (self.jitter * u) * self.interval
        states.interval[:] = self.interval
        return states

    def due_many(self, states: PolicyStates, now: np.ndarray, feedback: Feedback) -> np.ndarray:
        """bool per device: does a check run now?"""
        return _arr(now) >= states.next_check

    def escalation_level(self, now: np.ndarray, behind_since: np.ndarray) -> np.ndarray:
        """int8 escalation level per device (0: the normal rules)."""
        esc = self.rules.escalation
        if esc is None:
            return np.zeros(np.shape(now), dtype=np.int8)
        return esc.level_many(_arr(now), _arr(behind_since))

    def may_download_many(
        self,
        now: np.ndarray,
        c: ConditionsArray,
        size: np.ndarray,
        full: np.ndarray,
        behind_since: np.ndarray,
    ) -> np.ndarray:
        """int8 `Rule` code per device (`Rule.GO` = 0: download now)."""
        return self.rules.check_many(c, size, full, self.escalation_level(now, behind_since))

    def after_many(
        self,
        states: PolicyStates,
        now: np.ndarray,
        outcome: np.ndarray,
        feedback: Feedback,
        u: np.ndarray,
    ) -> PolicyStates:
        """The next states after a check ended in `outcome` (`OUTCOME_CODES`); `u` is one
        uniform draw in [0, 1) per device for the jitter."""
        now, u = _arr(now), _arr(u)
        outcome = np.asarray(outcome)
        error = outcome == _ERROR
        deferred = outcome == _DEFERRED
        failures = np.where(error, states.failures + 1, 0).astype(np.int32)
        deferrals = np.where(
            error, states.deferrals, np.where(deferred, states.deferrals + 1, 0)
        ).astype(np.int32)
        interval = np.where(
            error, states.interval, self._next_interval_many(states, outcome, feedback)
        )
        retry = np.minimum(self.retry_max, self.retry_base * _pow2(failures - 1))
        defer = np.minimum(self.defer_retry_max, self.defer_retry * _pow2(deferrals - 1))
        wait = np.where(error, retry, np.where(deferrals > 0, defer, interval))
        lo, hi = 1 - self.jitter, 1 + self.jitter
        behind_since = behind_since_many(states.behind_since, now, outcome)
        return PolicyStates(
            next_check=now + wait * (lo + (hi - lo) * u),
            interval=interval.astype(np.float64),
            failures=failures,
            last_check=now.copy(),
            deferrals=deferrals,
            behind_since=behind_since,
        )

    def _next_interval_many(
        self, states: PolicyStates, outcome: np.ndarray, feedback: Feedback
    ) -> np.ndarray:
        return np.full(len(states), self.interval)

    # -- the scalar wrappers the agent calls --------------------------------------------

    def start(self, now: float, rng: random.Random) -> PolicyState:
        return self.start_many(np.array([now]), np.array([rng.random()])).one()

    def due(self, state: PolicyState, now: float, feedback: Feedback) -> bool:
        return bool(self.due_many(PolicyStates.of(state), np.array([now]), feedback)[0])

    def why_due(self, state: PolicyState, now: float, feedback: Feedback) -> str:
        """Why a check runs now, in words (`agent run` prints it)."""
        if state.failures:
            return f"retry after {state.failures} failed check(s)"
        if state.deferrals:
            return f"retry after {state.deferrals} deferral(s)"
        return "schedule"

    def may_download(
        self,
        now: float,
        conditions: Conditions,
        size_bytes: int,
        *,
        full_bytes: int | None = None,
        behind_since: float | None = None,
    ) -> DownloadDecision:
        """May this download start now? `full_bytes`: the full file's size (None: this is
        the full file); `behind_since`: `PolicyState.behind_since` (None: not behind)."""
        level = int(
            self.escalation_level(np.array([now]), np.array([_nan_if_none(behind_since)]))[0]
        )
        return self.rules.check(conditions, size_bytes, full_bytes=full_bytes, level=level)

    def escalation(self, state: PolicyState, now: float) -> tuple[int, int, str]:
        """(level, number of steps, step in force) of a device in `state` (for `agent
        status`); (0, n, '') when its rules are not relaxed."""
        esc = self.rules.escalation
        n = len(esc.steps) if esc else 0
        level = int(
            self.escalation_level(np.array([now]), np.array([_nan_if_none(state.behind_since)]))[0]
        )
        return level, n, esc.step_name(level) if esc else ""

    def after(
        self,
        state: PolicyState,
        now: float,
        outcome: Outcome,
        feedback: Feedback,
        rng: random.Random,
    ) -> PolicyState:
        code = np.array([OUTCOME_CODES[outcome]], dtype=np.int8)
        u = np.array([rng.random()])
        return self.after_many(PolicyStates.of(state), np.array([now]), code, feedback, u).one()


@pydantic_dataclass(frozen=True, config=SETTINGS)
class PeriodicPolicy(Policy):
    """Check every `interval` (± jitter); download whenever there is a network."""

    name = "periodic"


@pydantic_dataclass(frozen=True, config=SETTINGS)
class ConditionalPolicy(Policy):
    """Check on a period, download only when the `rules` hold (small patches go sooner)."""

    rules: DownloadRules = field(default_factory=DownloadRules)
    name = "conditional"


_ALARM_ERROR, _ALARM_DRIFT, _ALARM_CONFIDENCE = 1, 2, 3


@pydantic_dataclass(frozen=True, config=SETTINGS)
class SmartPolicy(Policy):
    """The check frequency follows on-device feedback; downloads follow the conditional rules.

    Drift, errors or low confidence above their thresholds trigger a check at once (no
    more often than `min_interval`) and shrink the interval to `min_interval`; every quiet
    check stretches it by `backoff` up to `max_interval`; an install resets it to `interval`.
    """

    rules: DownloadRules = field(default_factory=DownloadRules)
    min_interval: Seconds = 15 * 60.0
    """Shortest interval: after an alarm, and never two alarm checks closer than this."""
    max_interval: Seconds = DAY
    """A stable device still looks once a day: backing off further saves little load
    and leaves it days behind a fleet-wide fix (see the simulation in the README)."""
    backoff: float = Field(2.0, ge=1)
    """Each quiet check multiplies the interval by this (up to `max_interval`)."""
    drift_threshold: float = Field(0.25, ge=0)
    """Input drift (PSI) above this calls for a check; 0.25 is the usual 'significant shift'."""
    error_threshold: float = Field(0.05, ge=0, le=1)
    """Share of failed predictions above this calls for a check."""
    confidence_floor: float = Field(0.5, ge=0, le=1)
    """Mean top-class probability below this calls for a check."""
    min_predictions: int = Field(20, ge=0)
    """Feedback from fewer predictions than this is noise, not an alarm."""
    name = "smart"

    def _alarm_codes(self, feedback: Feedback) -> np.ndarray:
        # 0 quiet, else the first alarm in the order errors, drift, confidence
        enough = np.asarray(feedback.predictions) >= self.min_predictions
        error = np.asarray(feedback.error_rate) > self.error_threshold
        drift = np.asarray(feedback.drift) > self.drift_threshold
        confidence = np.asarray(feedback.confidence) < self.confidence_floor
        codes = _first(
            [enough & error, enough & drift, enough & confidence],
            [_ALARM_ERROR, _ALARM_DRIFT, _ALARM_CONFIDENCE],
            np.shape(enough),
        )
        return np.atleast_1d(codes).astype(np.int8)

    def alarm_many(self, feedback: Feedback) -> np.ndarray:
        """bool per device: does its feedback call for a check now?"""
        return self._alarm_codes(feedback) > 0

    def alarm(self, feedback: Feedback) -> str:
        """Why the feedback calls for a check now ('' when it does not)."""
        code = int(self._alarm_codes(feedback)[0])
        if code == _ALARM_ERROR:
            return f"error rate {feedback.error_rate:.3f} > {self.error_threshold:g}"
        if code == _ALARM_DRIFT:
            return f"drift {feedback.drift:.3f} > {self.drift_threshold:g}"
        if code == _ALARM_CONFIDENCE:
            return f"confidence {feedback.confidence:.3f} < {self.confidence_floor:g}"
        return ""

    def why_due(self, state: PolicyState, now: float, feedback: Feedback) -> str:
        alarm = self.alarm(feedback)
        recent = state.last_check is not None and now - state.last_check < self.min_interval
        if alarm and not recent:
            return alarm
        return super().why_due(state, now, feedback)

    def due_many(self, states: PolicyStates, now: np.ndarray, feedback: Feedback) -> np.ndarray:
        now = _arr(now)
        recent = now - states.last_check < self.min_interval  # False where never checked
        return (now >= states.next_check) | (self.alarm_many(feedback) & ~recent)

    def _next_interval_many(
        self, states: PolicyStates, outcome: np.ndarray, feedback: Feedback
    ) -> np.ndarray:
        current = np.where(states.interval != 0, states.interval, self.interval)
        stretched = np.minimum(
            self.max_interval, np.maximum(self.min_interval, current * self.backoff)
        )
        alarm = self.alarm_many(feedback)
        reset = (outcome == _INSTALLED) | (outcome == _ROLLED_BACK)
        return np.where(
            alarm,
            self.min_interval,
            np.where(reset, self.interval, np.where(outcome == _DEFERRED, current, stretched)),
        )


STRATEGIES: dict[StrategyName, type[Policy]] = {
    "periodic": PeriodicPolicy,
    "conditional": ConditionalPolicy,
    "smart": SmartPolicy,
}
assert set(STRATEGIES) == set(STRATEGY_NAMES)


def make_policy(strategy: str, **settings: object) -> Policy:
    """Build a strategy by name; `settings` override its fields, validated.

    Raises:
        UserError: an unknown strategy, an unknown setting or a value of the wrong type,
            in one line that names the setting (`policy.rules.min_battery: ...`).
    """
    try:
        cls = STRATEGIES[strategy]
    except KeyError:
        raise UserError(
            f"unknown strategy {strategy!r}; choose from {sorted(STRATEGIES)}"
        ) from None
    if strategy == "periodic" and "rules" in settings:
        raise UserError(
            "policy.rules: the periodic strategy downloads whenever there is a network;"
            " use --strategy conditional or smart for download rules"
        )
    try:
        return cls(**settings)  # type: ignore[arg-type]
    except ValidationError as exc:
        known = {
            (): setting_names(cls),
            ("rules",): setting_names(DownloadRules),
            ("rules", "escalation"): setting_names(Escalation),
        }
        raise UserError(one_line(exc, "policy", known)) from None
    except TypeError as exc:  # not a mapping where one is expected
        raise UserError(f"policy: {exc}") from None


def setting_names(cls: type) -> list[str]:
    return [f.name for f in fields(cls)]
