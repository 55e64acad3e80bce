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
from dataclasses import dataclass, field, fields, replace
from typing import Annotated, Literal, get_args

from pydantic import ConfigDict, Field, ValidationError, field_validator
from pydantic.dataclasses import dataclass as pydantic_dataclass

from litefleet.device.conditions import Conditions
from litefleet.drift import Feedback
from litefleet.errors import UserError
from litefleet.validation import one_line

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


SETTINGS = ConfigDict(extra="forbid", use_attribute_docstrings=True)
"""Strategy settings are validated when built: an unknown key or a wrong type is refused."""

Hours = Annotated[float, Field(ge=0, le=24)]


@pydantic_dataclass(frozen=True, config=SETTINGS)
class DownloadRules:
    """When a download may start: Firebase-style conditions, plus a fast lane for small ones.

    A download of at most `small_bytes` needs only a network, the free storage and a battery
    above `critical_battery`; a larger one waits for every rule. No rule is hidden: with the
    defaults a large download needs Wi-Fi/Ethernet, 50 % battery or a charger, and a CPU that
    is not busy, at any hour.
    """

    require_unmetered: bool = True
    """Large downloads wait for an unmetered network (Wi-Fi, Ethernet)."""
    require_charging: bool = False
    """Large downloads wait for a charger (a device without a battery counts as charging)."""
    require_idle: bool = False
    """Large downloads wait until the device is idle (CPU load below 0.1 on Linux)."""
    min_battery: float = Field(50.0, ge=0, le=100)
    """Battery percent a large download needs; a charger satisfies the rule at any level."""
    max_cpu_load: float = Field(0.5, ge=0, le=1)
    """Large downloads wait while the CPU is busier than this share (0..1)."""
    min_free_storage: int = Field(50 * 1024 * 1024, ge=0)
    """Bytes of free disk that must remain after any download."""
    window: tuple[Hours, Hours] | None = None
    """Local hours `[start, end)` when large downloads may run; wraps midnight when start >
    end (`[22, 6]`); null or `[]`: any time."""
    small_bytes: int = Field(256 * 1024, ge=0)
    """Downloads up to this size (a patch, usually) skip every rule but network, storage and
    critical battery; 0 turns the fast lane off."""
    critical_battery: float = Field(15.0, ge=0, le=100)
    """Below this battery percent (and not charging) nothing is downloaded, not even a patch."""

    @field_validator("window", mode="before")
    @classmethod
    def _empty_window_is_any_time(cls, v: object) -> object:
        # TOML and JSON files have no tuple and TOML has no null: [] means "any time"
        return None if isinstance(v, list | tuple) and len(v) == 0 else v

    def check(self, c: Conditions, size_bytes: int) -> DownloadDecision:
        if c.network == "none":
            return DownloadDecision(False, "no network")
        if c.free_disk_bytes < size_bytes + self.min_free_storage:
            return DownloadDecision(
                False,
                f"storage: {c.free_disk_bytes} B free < {size_bytes} B download"
                f" + min_free_storage {self.min_free_storage} B",
            )
        if not c.charging and c.battery_percent < self.critical_battery:
            return DownloadDecision(
                False,
                f"battery {c.battery_percent:.0f}% < critical_battery {self.critical_battery:g}%",
            )
        if size_bytes <= self.small_bytes:
            return DownloadDecision(True)
        big = f"{size_bytes} B > small_bytes {self.small_bytes} B"
        if self.require_unmetered and c.network != "unmetered":
            return DownloadDecision(False, f"require_unmetered: network is {c.network} ({big})")
        if self.require_charging and not c.charging:
            return DownloadDecision(False, f"require_charging: not charging ({big})")
        if not c.charging and c.battery_percent < self.min_battery:
            return DownloadDecision(
                False,
                f"battery {c.battery_percent:.0f}% < min_battery {self.min_battery:g}%"
                " and not charging",
            )
        if self.require_idle and not c.idle:
            return DownloadDecision(False, "require_idle: device not idle")
        if c.cpu_load > self.max_cpu_load:
            return DownloadDecision(
                False, f"device busy: cpu {c.cpu_load:.2f} > max_cpu_load {self.max_cpu_load:g}"
            )
        if self.window is not None and not in_window(c.local_hour, self.window):
            start, end = self.window
            return DownloadDecision(
                False, f"outside window {start:g}h-{end:g}h (local hour {c.local_hour:.1f})"
            )
        return DownloadDecision(True)

    def describe(self) -> str:
        """The rules in force, in words (for `agent status`)."""
        parts = []
        if self.require_unmetered:
            parts.append("unmetered network")
        if self.require_charging:
            parts.append("charging")
        if self.min_battery > 0:
            parts.append(f"battery >= {self.min_battery:g}% or charging")
        if self.require_idle:
            parts.append("idle")
        if self.max_cpu_load < 1:
            parts.append(f"cpu <= {self.max_cpu_load:g}")
        parts.append(
            f"window {self.window[0]:g}h-{self.window[1]:g}h" if self.window else "any hour"
        )
        lane = f"; up to {self.small_bytes} B: any network" if self.small_bytes else ""
        return f"large downloads need {', '.join(parts)}{lane}"


ANY_NETWORK = DownloadRules(
    require_unmetered=False,
    min_battery=0.0,
    max_cpu_load=1.0,
    min_free_storage=0,
    window=None,
    critical_battery=0.0,
)
"""The periodic strategy's rules: download whenever there is a network and the space."""


def in_window(hour: float, window: tuple[float, float]) -> bool:
    start, end = window
    if start <= end:
        return start <= hour < end
    return hour >= start or hour < end


Seconds = Annotated[float, Field(gt=0)]


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

    def start(self, now: float, rng: random.Random) -> PolicyState:
        """First check at a random point of the first interval: a fleet that boots at
        once does not hit the server at once."""
        return PolicyState(
            next_check=now + rng.uniform(0, self.jitter) * self.interval, interval=self.interval
        )

    def due(self, state: PolicyState, now: float, feedback: Feedback) -> bool:
        return now >= state.next_check

    def why_due(self, state: PolicyState, now: float, feedback: Feedback) -> str:
        """Why a check runs now, in words (`agent run` prints it)."""
        if state.failures:
            return f"retry after {state.failures} failed check(s)"
        if state.deferrals:
            return f"retry after {state.deferrals} deferral(s)"
        return "schedule"

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


@pydantic_dataclass(frozen=True, config=SETTINGS)
class PeriodicPolicy(Policy):
    """Check every `interval` (± jitter); download whenever there is a network."""

    name = "periodic"


@pydantic_dataclass(frozen=True, config=SETTINGS)
class ConditionalPolicy(Policy):
    """Check on a period, download only when the `rules` hold (small patches go sooner)."""

    rules: DownloadRules = field(default_factory=DownloadRules)
    name = "conditional"


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

    def alarm(self, feedback: Feedback) -> str:
        """Why the feedback calls for a check now ('' when it does not)."""
        if feedback.predictions < self.min_predictions:
            return ""
        if feedback.error_rate > self.error_threshold:
            return f"error rate {feedback.error_rate:.3f} > {self.error_threshold:g}"
        if feedback.drift > self.drift_threshold:
            return f"drift {feedback.drift:.3f} > {self.drift_threshold:g}"
        if feedback.confidence < self.confidence_floor:
            return f"confidence {feedback.confidence:.3f} < {self.confidence_floor:g}"
        return ""

    def why_due(self, state: PolicyState, now: float, feedback: Feedback) -> str:
        alarm = self.alarm(feedback)
        recent = state.last_check is not None and now - state.last_check < self.min_interval
        if alarm and not recent:
            return alarm
        return super().why_due(state, now, feedback)

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
        known = {(): setting_names(cls), ("rules",): setting_names(DownloadRules)}
        raise UserError(one_line(exc, "policy", known)) from None
    except TypeError as exc:  # not a mapping where one is expected
        raise UserError(f"policy: {exc}") from None


def setting_names(cls: type) -> list[str]:
    return [f.name for f in fields(cls)]


def setting_docs(cls: type) -> list[tuple[str, str, object, str]]:
    """(name, type, default, meaning) of every setting of a strategy or of the rules: the
    table in docs/device.md is checked against this."""
    out = []
    for f in fields(cls):
        info = None
        for klass in cls.__mro__:
            info = getattr(klass, "__pydantic_fields__", {}).get(f.name)
            if info is not None and info.description:
                break
        default = info.get_default(call_default_factory=True) if info else None
        if isinstance(default, DownloadRules):
            default = "see rules"
        typ = getattr(f.type, "__name__", None) or str(f.type)
        out.append((f.name, str(typ), default, (info.description or "") if info else ""))
    return out


def _type_name(typ: str) -> str:
    return {
        "Seconds": "seconds",
        "float": "number",
        "int": "integer",
        "bool": "true/false",
        "DownloadRules": "table",
    }.get(typ, "[start, end] hours or []" if "tuple" in typ else typ)


def _default(value: object) -> str:
    if value is None:
        return "none (any time)"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def settings_markdown() -> str:
    """The settings tables of docs/device.md, generated from the classes themselves (a test
    checks that the page holds exactly this text, so the docs cannot drift)."""
    rows = [
        "| setting | type | default | strategies | meaning |",
        "|---|---|---|---|---|",
    ]
    smart_only = {f.name for f in fields(SmartPolicy)} - {f.name for f in fields(Policy)}
    for name, typ, default, meaning in setting_docs(SmartPolicy):
        where = "smart" if name in smart_only else "all"
        if name == "rules":
            where, default = "conditional, smart", "see below"
        text = " ".join(meaning.split())
        rows.append(f"| `{name}` | {_type_name(typ)} | {_default(default)} | {where} | {text} |")
    rows += [
        "",
        "Download rules (`[rules]`; the conditional and smart strategies):",
        "",
        "| rule | type | default | meaning |",
        "|---|---|---|---|",
    ]
    for name, typ, default, meaning in setting_docs(DownloadRules):
        text = " ".join(meaning.split())
        rows.append(f"| `{name}` | {_type_name(typ)} | {_default(default)} | {text} |")
    return "\n".join(rows) + "\n"
