"""When to check for an update and when to download it: the three strategies.

A policy is a pure decision object: frozen settings, no I/O, no clock, no randomness of
its own. The caller passes the state, the time, the device's conditions, the on-device
feedback and an RNG, and gets a decision back. The agent drives it with the system clock;
the fleet simulator drives the same objects for thousands of devices on a virtual clock.

    policy = SmartPolicy()
    state = policy.start(now, rng)
    if policy.due(state, now, feedback):
        gate = policy.may_download(now, conditions, size_bytes)   # after reading the index
        state = policy.after(state, now, outcome, feedback, rng)  # "none", "installed", ...
    sleep_until(state.next_check)
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field, replace
from typing import Literal, get_args

from litefleet.device.conditions import Conditions
from litefleet.drift import Feedback

Outcome = Literal["none", "installed", "deferred", "rejected", "rolled_back", "error"]
"""What a check cycle did; the same words as `litefleet agent check --json`'s `action`."""
OUTCOMES: tuple[Outcome, ...] = get_args(Outcome)

StrategyName = Literal["periodic", "conditional", "smart"]
"""The names of the update strategies (`STRATEGIES` maps each to its policy class)."""
STRATEGY_NAMES: tuple[StrategyName, ...] = get_args(StrategyName)

HOUR = 3600.0
DAY = 24 * HOUR


@dataclass(frozen=True)
class PolicyState:
    """Everything a policy remembers between decisions; a plain value the caller stores."""

    next_check: float = 0.0
    interval: float = 0.0
    """The current base interval (the smart policy stretches and shrinks it)."""
    failures: int = 0
    """Consecutive cycles that ended in `error`: drives the retry backoff."""
    last_check: float | None = None
    deferrals: int = 0
    """Consecutive cycles that ended in `deferred`: drives the deferral backoff."""


@dataclass(frozen=True)
class DownloadDecision:
    go: bool
    reason: str = ""
    """Why not (empty when `go`): recorded as the `deferred` reason."""


@dataclass(frozen=True)
class DownloadRules:
    """Firebase-style download conditions, plus a fast lane for small patches.

    A download of at most `small_bytes` needs only a network, storage and a battery above
    `critical_battery`; a larger one waits for every rule.
    """

    require_unmetered: bool = True
    min_battery: float = 50.0
    """Percent; charging satisfies the rule whatever the level."""
    max_cpu_load: float = 0.5
    headroom_bytes: int = 50 * 1024 * 1024
    """Free disk that must remain after the download."""
    window: tuple[float, float] | None = (1.0, 5.0)
    """Allowed local hours [start, end); wraps midnight when start > end. None: any time."""
    small_bytes: int = 256 * 1024
    critical_battery: float = 15.0

    def check(self, c: Conditions, size_bytes: int) -> DownloadDecision:
        if c.network == "none":
            return DownloadDecision(False, "no network")
        if c.free_disk_bytes < size_bytes + self.headroom_bytes:
            return DownloadDecision(
                False, f"storage: {c.free_disk_bytes} free < {size_bytes} + headroom"
            )
        if not c.charging and c.battery_percent < self.critical_battery:
            return DownloadDecision(False, f"battery {c.battery_percent:.0f}% critical")
        if size_bytes <= self.small_bytes:
            return DownloadDecision(True)
        if self.require_unmetered and c.network != "unmetered":
            return DownloadDecision(False, f"network is {c.network}, large download waits")
        if not c.charging and c.battery_percent < self.min_battery:
            return DownloadDecision(False, f"battery {c.battery_percent:.0f}% and not charging")
        if c.cpu_load > self.max_cpu_load:
            return DownloadDecision(False, f"device busy (cpu {c.cpu_load:.2f})")
        if self.window is not None and not in_window(c.local_hour, self.window):
            start, end = self.window
            return DownloadDecision(False, f"outside window {start:g}h-{end:g}h")
        return DownloadDecision(True)


ANY_NETWORK = DownloadRules(
    require_unmetered=False,
    min_battery=0.0,
    max_cpu_load=1.0,
    headroom_bytes=0,
    window=None,
    critical_battery=0.0,
)
"""The periodic strategy's rules: download whenever there is a network and the space."""


def in_window(hour: float, window: tuple[float, float]) -> bool:
    start, end = window
    if start <= end:
        return start <= hour < end
    return hour >= start or hour < end


@dataclass(frozen=True)
class Policy:
    """Shared by all strategies: schedule with jitter, retry failures with backoff."""

    interval: float = 6 * HOUR
    jitter: float = 0.1
    """Each wait is multiplied by a uniform draw in [1 - jitter, 1 + jitter]."""
    retry_base: float = 60.0
    retry_max: float = HOUR
    defer_retry: float = 15 * 60.0
    """How soon to look again after a download was first deferred by the conditions."""
    defer_retry_max: float = HOUR
    """Repeated deferrals back off (doubling) up to this: a device that waits days for Wi-Fi
    should not ask the server every 15 minutes, nor skip a 4-hour night window."""
    rules: DownloadRules = field(default_factory=lambda: ANY_NETWORK)

    name = "periodic"

    def start(self, now: float, rng: random.Random) -> PolicyState:
        """First check at a random point of the first interval: a fleet that boots at
        once does not hit the server at once."""
        return PolicyState(
            next_check=now + rng.uniform(0, self.jitter) * self.interval, interval=self.interval
        )

    def due(self, state: PolicyState, now: float, feedback: Feedback) -> bool:
        return now >= state.next_check

    def may_download(self, now: float, conditions: Conditions, size_bytes: int) -> DownloadDecision:
        return self.rules.check(conditions, size_bytes)

    def after(
        self,
        state: PolicyState,
        now: float,
        outcome: Outcome,
        feedback: Feedback,
        rng: random.Random,
    ) -> PolicyState:
        if outcome == "error":
            failures = state.failures + 1
            wait = min(self.retry_max, self.retry_base * 2 ** (failures - 1))
            return replace(
                state, failures=failures, last_check=now, next_check=now + self._jittered(wait, rng)
            )
        interval = self._next_interval(state, outcome, feedback)
        deferrals = state.deferrals + 1 if outcome == "deferred" else 0
        wait = (
            min(self.defer_retry_max, self.defer_retry * 2 ** (deferrals - 1))
            if deferrals
            else interval
        )
        return PolicyState(
            next_check=now + self._jittered(wait, rng),
            interval=interval,
            failures=0,
            last_check=now,
            deferrals=deferrals,
        )

    def _next_interval(self, state: PolicyState, outcome: Outcome, feedback: Feedback) -> float:
        return self.interval

    def _jittered(self, wait: float, rng: random.Random) -> float:
        return wait * rng.uniform(1 - self.jitter, 1 + self.jitter)


@dataclass(frozen=True)
class PeriodicPolicy(Policy):
    """Check every `interval` (± jitter); download whenever there is a network."""

    name = "periodic"


@dataclass(frozen=True)
class ConditionalPolicy(Policy):
    """Check on a period, download only when the `rules` hold (small patches go sooner)."""

    rules: DownloadRules = field(default_factory=DownloadRules)
    name = "conditional"


@dataclass(frozen=True)
class SmartPolicy(Policy):
    """The check frequency follows on-device feedback; downloads follow the conditional rules.

    Drift, errors or low confidence above their thresholds trigger a check at once (no
    more often than `min_interval`) and shrink the interval to `min_interval`; every quiet
    check stretches it by `backoff` up to `max_interval`; an install resets it to `interval`.
    """

    rules: DownloadRules = field(default_factory=DownloadRules)
    min_interval: float = 15 * 60.0
    max_interval: float = DAY
    """A stable device still looks once a day: backing off further saves little load
    and leaves it days behind a fleet-wide fix (see the simulation in the README)."""
    backoff: float = 2.0
    drift_threshold: float = 0.25
    """PSI above 0.25 is the usual 'significant shift' rule of thumb."""
    error_threshold: float = 0.05
    confidence_floor: float = 0.5
    min_predictions: int = 20
    """Feedback from fewer predictions than this is noise, not an alarm."""
    name = "smart"

    def alarm(self, feedback: Feedback) -> str:
        """Why the feedback calls for a check now ('' when it does not)."""
        if feedback.predictions < self.min_predictions:
            return ""
        if feedback.error_rate > self.error_threshold:
            return f"error rate {feedback.error_rate:.3f}"
        if feedback.drift > self.drift_threshold:
            return f"drift {feedback.drift:.3f}"
        if feedback.confidence < self.confidence_floor:
            return f"confidence {feedback.confidence:.3f}"
        return ""

    def due(self, state: PolicyState, now: float, feedback: Feedback) -> bool:
        if now >= state.next_check:
            return True
        recent = state.last_check is not None and now - state.last_check < self.min_interval
        return bool(self.alarm(feedback)) and not recent

    def _next_interval(self, state: PolicyState, outcome: Outcome, feedback: Feedback) -> float:
        if self.alarm(feedback):
            return self.min_interval
        if outcome in ("installed", "rolled_back"):
            return self.interval
        current = state.interval or self.interval
        if outcome == "deferred":
            return current
        return min(self.max_interval, max(self.min_interval, current * self.backoff))


STRATEGIES: dict[StrategyName, type[Policy]] = {
    "periodic": PeriodicPolicy,
    "conditional": ConditionalPolicy,
    "smart": SmartPolicy,
}
assert set(STRATEGIES) == set(STRATEGY_NAMES)


def make_policy(strategy: str, **settings: object) -> Policy:
    """Build a strategy by name; `settings` override its dataclass fields."""
    try:
        cls = STRATEGIES[strategy]
    except KeyError:
        from litefleet.errors import UserError

        raise UserError(
            f"unknown strategy {strategy!r}; choose from {sorted(STRATEGIES)}"
        ) from None
    rules = settings.pop("rules", None)
    if isinstance(rules, dict):
        # TOML and JSON files have no null: an empty window list means "any time"
        settings["rules"] = DownloadRules(
            **{
                k: (tuple(v) or None) if k == "window" and v is not None else v
                for k, v in rules.items()
            }
        )
    elif rules is not None:
        settings["rules"] = rules
    return cls(**settings)  # type: ignore[arg-type]
