"""What a check cycle did (`Outcome`) and what a policy remembers between checks
(`PolicyState`, and `PolicyStates`: the same for many devices, one array row each)."""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Literal, get_args

import numpy as np

from litefleet.device.policy._common import _arr, _nan_if_none, _none_if_nan

Outcome = Literal["none", "installed", "deferred", "rejected", "rolled_back", "error"]
"""What a check cycle did; the same words as `litefleet agent check --json`'s `action`."""
OUTCOMES: tuple[Outcome, ...] = get_args(Outcome)
OUTCOME_CODES: dict[Outcome, int] = {o: i for i, o in enumerate(OUTCOMES)}
"""Outcome -> int8 code for the array methods (an index into `OUTCOMES`)."""
_NONE, _INSTALLED, _DEFERRED, _REJECTED, _ROLLED_BACK, _ERROR = range(len(OUTCOMES))


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
