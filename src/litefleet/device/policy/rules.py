"""When a download may start: the download rules, their escalation (the freshness
guarantee) and the decision with its reason in words. Pure functions of the conditions."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import IntEnum
from typing import Literal, get_args

import numpy as np
from pydantic import Field, field_validator
from pydantic.dataclasses import dataclass as pydantic_dataclass

from litefleet.device.conditions import (
    NET_METERED,
    NET_NONE,
    NET_UNMETERED,
    Conditions,
    ConditionsArray,
)
from litefleet.device.policy._common import HOUR, SETTINGS, Hours, Seconds, _first


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
