"""When to check for an update and when to download it: the three strategies.

A policy is a pure decision object: frozen settings, no I/O, no clock, no randomness of
its own. The caller passes the state, the time, the device's conditions, the on-device
feedback and an RNG, and gets a decision back. The agent drives it with the system clock;
the fleet simulator drives the same objects for a million devices on a virtual clock.

Every decision is implemented once, on numpy arrays with one element per device
(`start_many`, `due_many`, `may_download_many`, `after_many`); the scalar methods the
agent calls wrap them with length-1 arrays, so the simulator and the device cannot
disagree.

    policy = SmartPolicy()
    state = policy.start(now, rng)
    if policy.due(state, now, feedback):
        gate = policy.may_download(now, conditions, size_bytes,     # after reading the index
                                   full_bytes=full, behind_since=state.behind_since)
        state = policy.after(state, now, outcome, feedback, rng)  # "none", "installed", ...
    sleep_until(state.next_check)
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field, fields
from enum import IntEnum
from typing import Annotated, Literal, get_args

import numpy as np
from pydantic import ConfigDict, Field, ValidationError, field_validator
from pydantic.dataclasses import dataclass as pydantic_dataclass

from litefleet.device.conditions import (
    NET_METERED,
    NET_NONE,
    NET_UNMETERED,
    NETWORK_NAMES,
    Conditions,
    ConditionsArray,
)
from litefleet.drift import Feedback
from litefleet.errors import UserError
from litefleet.validation import one_line

__all__ = ["NETWORK_NAMES", "NET_METERED", "NET_NONE", "NET_UNMETERED", "ConditionsArray"]

Outcome = Literal["none", "installed", "deferred", "rejected", "rolled_back", "error"]
"""What a check cycle did; the same words as `litefleet agent check --json`'s `action`."""
OUTCOMES: tuple[Outcome, ...] = get_args(Outcome)
OUTCOME_CODES: dict[Outcome, int] = {o: i for i, o in enumerate(OUTCOMES)}
"""Outcome -> int8 code for the array methods (an index into `OUTCOMES`)."""
_NONE, _INSTALLED, _DEFERRED, _REJECTED, _ROLLED_BACK, _ERROR = range(len(OUTCOMES))

StrategyName = Literal["periodic", "conditional", "smart"]
"""The names of the update strategies (`STRATEGIES` maps each to its policy class)."""
STRATEGY_NAMES: tuple[StrategyName, ...] = get_args(StrategyName)

HOUR = 3600.0
DAY = 24 * HOUR


class Rule(IntEnum):
    """Why a download waits (0 = it may go): the array form of `DownloadDecision.reason`.

    The values follow the order in which the rules are checked; the simulator tallies them
    to say why its stragglers waited.
    """

    GO = 0
    NO_NETWORK = 1
    STORAGE = 2
    CRITICAL_BATTERY = 3
    UNMETERED = 4
    CHARGING = 5
    BATTERY = 6
    IDLE = 7
    BUSY = 8
    WINDOW = 9


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
    behind_since: float | None = None
    """When this device first deferred the download it still waits for (None: not behind).
    Set by the first `deferred`, kept through `deferred` and `error`, cleared by any other
    outcome; the escalation of the download rules counts from it."""


def _nan_if_none(x: float | None) -> float:
    return math.nan if x is None else float(x)


def _none_if_nan(x: float) -> float | None:
    return None if math.isnan(x) else float(x)


@dataclass(frozen=True)
class PolicyStates:
    """`PolicyState` of many devices, one array element per device (nan stands for None).

    Frozen as a record, but the arrays are the caller's: `put` writes rows in place.
    """

    next_check: np.ndarray
    interval: np.ndarray
    failures: np.ndarray
    last_check: np.ndarray
    deferrals: np.ndarray
    behind_since: np.ndarray

    @classmethod
    def empty(cls, n: int) -> PolicyStates:
        """n devices that never checked (`PolicyState()` each)."""
        return cls(
            next_check=np.zeros(n),
            interval=np.zeros(n),
            failures=np.zeros(n, dtype=np.int32),
            last_check=np.full(n, np.nan),
            deferrals=np.zeros(n, dtype=np.int32),
            behind_since=np.full(n, np.nan),
        )

    @classmethod
    def of(cls, state: PolicyState) -> PolicyStates:
        """One device's state as length-1 arrays."""
        return cls(
            next_check=np.array([state.next_check], dtype=np.float64),
            interval=np.array([state.interval], dtype=np.float64),
            failures=np.array([state.failures], dtype=np.int32),
            last_check=np.array([_nan_if_none(state.last_check)]),
            deferrals=np.array([state.deferrals], dtype=np.int32),
            behind_since=np.array([_nan_if_none(state.behind_since)]),
        )

    def one(self, i: int = 0) -> PolicyState:
        """Row `i` as a `PolicyState` (plain Python numbers)."""
        return PolicyState(
            next_check=float(self.next_check[i]),
            interval=float(self.interval[i]),
            failures=int(self.failures[i]),
            last_check=_none_if_nan(float(self.last_check[i])),
            deferrals=int(self.deferrals[i]),
            behind_since=_none_if_nan(float(self.behind_since[i])),
        )

    def take(self, idx: np.ndarray) -> PolicyStates:
        """The rows `idx` (an index or boolean array), as new arrays."""
        return PolicyStates(**{f.name: getattr(self, f.name)[idx] for f in fields(self)})

    def put(self, idx: np.ndarray, other: PolicyStates) -> None:
        """Write `other`'s rows into rows `idx` of these arrays (in place)."""
        for f in fields(self):
            getattr(self, f.name)[idx] = getattr(other, f.name)

    def __len__(self) -> int:
        return len(self.next_check)


@dataclass(frozen=True)
class DownloadDecision:
    go: bool
    reason: str = ""
    """Why not (empty when `go`): recorded as the `deferred` reason."""
    rule: Rule = Rule.GO
    """The rule that holds the download back (`Rule.GO` when it may go)."""
    level: int = 0
    """The escalation level in force (0: the normal rules)."""
    lifted_by: str = ""
    """The escalation step that let this download through ('' when the normal rules do)."""


SETTINGS = ConfigDict(extra="forbid", use_attribute_docstrings=True)
"""Strategy settings are validated when built: an unknown key or a wrong type is refused."""

Hours = Annotated[float, Field(ge=0, le=24)]
Seconds = Annotated[float, Field(gt=0)]

Step = Literal["any_time", "metered_patches", "any_network"]
"""An escalation step: which rules it lifts is explained in `Escalation`."""
STEPS: tuple[Step, ...] = get_args(Step)


@pydantic_dataclass(frozen=True, config=SETTINGS)
class Escalation:
    """The freshness guarantee: a device kept behind by the download rules for `after`
    seconds has its rules relaxed, one step every `every` seconds, until the download goes.

    Steps (cumulative): `any_time` lifts every large-download rule but the network
    (charging, battery, idle, CPU, window); `metered_patches` lets a patch of at most
    `max_patch_share` of the full file use a metered network; `any_network` lets any
    download use any network. Free storage and the critical battery never lift.
    """

    after: Seconds = 12 * HOUR
    """Seconds a device may stay behind (from its first deferral) before its rules relax."""
    every: Seconds = 6 * HOUR
    """Seconds between two relaxation steps."""
    steps: tuple[Step, ...] = ("any_time", "metered_patches", "any_network")
    """The relaxation steps, in order (`any_time`, `metered_patches`, `any_network`);
    `[]`: never relax."""
    max_patch_share: float = Field(0.5, ge=0, le=1)
    """`metered_patches`: a patch of at most this share of the full file may use a metered
    network."""

    @field_validator("steps")
    @classmethod
    def _each_step_once(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        if len(set(v)) != len(v):
            raise ValueError(f"a step is listed twice: {list(v)}")
        return v

    def level_many(self, now: np.ndarray, behind_since: np.ndarray) -> np.ndarray:
        """int8 level per device: 0 before `after` (or not behind), then k = the first k
        steps are in force, one more every `every` seconds."""
        waited = np.asarray(now, dtype=np.float64) - np.asarray(behind_since, dtype=np.float64)
        k = np.zeros(waited.shape, dtype=np.int8)
        if not self.steps:
            return k
        late = waited >= self.after  # False where behind_since is nan
        steps = 1 + np.floor((waited[late] - self.after) / self.every)
        k[late] = np.minimum(steps, len(self.steps)).astype(np.int8)
        return k

    def step_name(self, level: int) -> str:
        return self.steps[level - 1] if level > 0 else ""


@pydantic_dataclass(frozen=True, config=SETTINGS)
class DownloadRules:
    """When a download may start: Firebase-style conditions, plus a fast lane for small ones.

    A download of at most `small_bytes` needs only a network, the free storage and a battery
    above `critical_battery`; a larger one waits for every rule. No rule is hidden: with the
    defaults a large download needs Wi-Fi/Ethernet, 50 % battery or a charger, and a CPU that
    is not busy, at any hour. A device kept waiting too long gets the rules relaxed step by
    step (`escalation`), so a frugal rule never leaves it behind for good.
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
    escalation: Escalation | None = field(default_factory=Escalation)
    """How the rules relax for a device kept behind too long (`[rules.escalation]`, below);
    `steps = []`: never."""

    @field_validator("window", mode="before")
    @classmethod
    def _empty_window_is_any_time(cls, v: object) -> object:
        # TOML and JSON files have no tuple and TOML has no null: [] means "any time"
        return None if isinstance(v, list | tuple) and len(v) == 0 else v

    def check_many(
        self, c: ConditionsArray, size: np.ndarray, full: np.ndarray, level: np.ndarray
    ) -> np.ndarray:
        """int8 `Rule` code per device: the first rule that holds its download back.

        `size` is the download's bytes, `full` the full file's (a patch has size < full),
        `level` the escalation level in force (`Escalation.level_many`).
        """
        size = np.asarray(size, dtype=np.int64)
        full = np.asarray(full, dtype=np.int64)
        level = np.broadcast_to(np.asarray(level), size.shape)
        steps = self.escalation.steps if self.escalation else ()

        def in_force(step: Step) -> np.ndarray:
            return level > steps.index(step) if step in steps else np.zeros(level.shape, bool)

        any_network = in_force("any_network")
        any_time = in_force("any_time") | any_network
        share = self.escalation.max_patch_share if self.escalation else 0.0
        metered_patch = (
            in_force("metered_patches")
            & (c.network == NET_METERED)
            & (size < full)
            & (size <= share * full)
        )
        not_charging = ~c.charging
        large = size > self.small_bytes
        strict = large & ~any_time
        window = (
            _in_window_many(c.local_hour, self.window)
            if self.window is not None
            else np.ones(size.shape, dtype=bool)
        )
        conditions = [
            c.network == NET_NONE,
            c.free_disk_bytes < size + self.min_free_storage,
            not_charging & (c.battery_percent < self.critical_battery),
            large
            & self.require_unmetered
            & (c.network != NET_UNMETERED)
            & ~(any_network | metered_patch),
            strict & self.require_charging & not_charging,
            strict & not_charging & (c.battery_percent < self.min_battery),
            strict & self.require_idle & ~c.idle,
            strict & (c.cpu_load > self.max_cpu_load),
            strict & ~window,
        ]
        codes = [
            Rule.NO_NETWORK,
            Rule.STORAGE,
            Rule.CRITICAL_BATTERY,
            Rule.UNMETERED,
            Rule.CHARGING,
            Rule.BATTERY,
            Rule.IDLE,
            Rule.BUSY,
            Rule.WINDOW,
        ]
        return _first(conditions, codes, np.shape(size))

    def check(
        self,
        c: Conditions,
        size_bytes: int,
        *,
        full_bytes: int | None = None,
        level: int = 0,
    ) -> DownloadDecision:
        """`check_many` for one device, with the reason in words.

        `full_bytes` None: the download is the full file. When the download goes only
        thanks to the escalation, `lifted_by` names the step that let it through.
        """
        full = size_bytes if full_bytes is None else full_bytes
        arrays = ConditionsArray.of(c)

        def rule_at(k: int) -> Rule:
            return Rule(int(self.check_many(arrays, [size_bytes], [full], [k])[0]))

        rule = rule_at(level)
        if rule != Rule.GO:
            reason = self._reason(rule, c, size_bytes)
            if level:
                reason += f" ({self.escalation_text(level)})"
            return DownloadDecision(False, reason, rule, level)
        lifted_by = ""
        if level and rule_at(0) != Rule.GO:
            first = next(k for k in range(1, level + 1) if rule_at(k) == Rule.GO)
            lifted_by = self.escalation.step_name(first) if self.escalation else ""
        return DownloadDecision(True, "", Rule.GO, level, lifted_by)

    def escalation_text(self, level: int | str) -> str:
        """'escalation 1/3: any_time' for a level > 0 (or for a step's name)."""
        steps = self.escalation.steps if self.escalation else ()
        if isinstance(level, str):
            level = steps.index(level) + 1  # type: ignore[arg-type]
        return f"escalation {level}/{len(steps)}: {steps[level - 1]}"

    def _reason(self, rule: Rule, c: Conditions, size_bytes: int) -> str:
        big = f"{size_bytes} B > small_bytes {self.small_bytes} B"
        match rule:
            case Rule.NO_NETWORK:
                return "no network"
            case Rule.STORAGE:
                return (
                    f"storage: {c.free_disk_bytes} B free < {size_bytes} B download"
                    f" + min_free_storage {self.min_free_storage} B"
                )
            case Rule.CRITICAL_BATTERY:
                return (
                    f"battery {c.battery_percent:.0f}% < critical_battery"
                    f" {self.critical_battery:g}%"
                )
            case Rule.UNMETERED:
                return f"require_unmetered: network is {c.network} ({big})"
            case Rule.CHARGING:
                return f"require_charging: not charging ({big})"
            case Rule.BATTERY:
                return (
                    f"battery {c.battery_percent:.0f}% < min_battery {self.min_battery:g}%"
                    " and not charging"
                )
            case Rule.IDLE:
                return "require_idle: device not idle"
            case Rule.BUSY:
                return f"device busy: cpu {c.cpu_load:.2f} > max_cpu_load {self.max_cpu_load:g}"
            case Rule.WINDOW:
                assert self.window is not None
                start, end = self.window
                return f"outside window {start:g}h-{end:g}h (local hour {c.local_hour:.1f})"
        return ""

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
    escalation=None,
)
"""The periodic strategy's rules: download whenever there is a network and the space
(nothing to escalate: they never wait for anything else)."""


def in_window(hour: float, window: tuple[float, float]) -> bool:
    return bool(_in_window_many(np.array([hour]), window)[0])


def _in_window_many(hour: np.ndarray, window: tuple[float, float]) -> np.ndarray:
    start, end = window
    if start <= end:
        return (start <= hour) & (hour < end)
    return (hour >= start) | (hour < end)


def _arr(x: object, dtype: type = np.float64) -> np.ndarray:
    return np.asarray(x, dtype=dtype)


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


def behind_since_many(behind_since: np.ndarray, now: np.ndarray, outcome: np.ndarray) -> np.ndarray:
    """`PolicyState.behind_since` after a check ended in `outcome` (codes): set by the first
    `deferred`, kept through `deferred` and `error`, cleared (nan) by any other outcome."""
    behind_since, now, outcome = _arr(behind_since), _arr(now), np.asarray(outcome)
    first = np.where(np.isnan(behind_since), now, behind_since)
    return np.where(outcome == _DEFERRED, first, np.where(outcome == _ERROR, behind_since, np.nan))


def next_behind_since(behind_since: float | None, now: float, outcome: Outcome) -> float | None:
    """`behind_since_many` for one device: a one-shot `agent check` keeps it current."""
    code = np.array([OUTCOME_CODES[outcome]])
    return _none_if_nan(float(behind_since_many([_nan_if_none(behind_since)], [now], code)[0]))


def _first(conditions: list, values: list, shape: tuple[int, ...]) -> np.ndarray:
    """int8 per element: the value of the first true condition, else 0 (`np.select`,
    cheaper on the length-1 arrays of the scalar wrappers)."""
    out = np.zeros(shape, dtype=np.int8)
    for cond, value in zip(reversed(conditions), reversed(values), strict=True):
        out = np.where(cond, np.int8(value), out)
    return out


def _pow2(exponent: np.ndarray) -> np.ndarray:
    # 2**e without overflow warnings: the waits are capped far below 2**1000 seconds
    return np.exp2(np.clip(exponent, -1, 1000).astype(np.float64))


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
        if isinstance(default, DownloadRules | Escalation):
            default = "see below"
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
        "Escalation | None": "table",
        "tuple[Step, ...]": "list of steps",
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
    rows += _nested_table("Download rules (`[rules]`", "rule", DownloadRules)
    rows += _nested_table("Escalation (`[rules.escalation]`", "setting", Escalation)
    return "\n".join(rows) + "\n"


def _nested_table(title: str, column: str, cls: type) -> list[str]:
    """The settings table of a nested section (`[rules]`, `[rules.escalation]`)."""
    rows = [
        "",
        f"{title}; the conditional and smart strategies):",
        "",
        f"| {column} | type | default | meaning |",
        "|---|---|---|---|",
    ]
    for name, typ, default, meaning in setting_docs(cls):
        text = " ".join(meaning.split())
        if isinstance(default, tuple):
            default = "[" + ", ".join(f'"{x}"' for x in default) + "]"
        rows.append(f"| `{name}` | {_type_name(typ)} | {_default(default)} | {text} |")
    return rows
