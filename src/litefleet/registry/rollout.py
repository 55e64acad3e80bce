"""Rollout state of each model: who gets which release, signed by the online `rollout` role.

`<model>/rollout.json` maps a release to a percentage and a status (active, paused,
aborted). Both the CLI (`litefleet rollout`) and the server's automatic halt change it
through `change_rollout`, under the repository lock, with only the rollout, snapshot and
timestamp keys: so the server can stop a bad release but never sign a model file.
Each signed change then nudges the model's online devices (`push.notify`, issue 23).

Rules: an aborted release stays aborted (publish a new version instead); a paused one can
be resumed; the percentage may go up or down (the cohort hash makes raising it only add
devices).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Literal

from litefleet.errors import UserError
from litefleet.nudge import Kind
from litefleet.registry.push import notify
from litefleet.registry.repository import Repository
from litefleet.release import (
    ROLLOUT_ROLE,
    ReleaseIndex,
    RolloutEntry,
    RolloutState,
    index_path,
    rollout_path,
)

Action = Literal["percent", "pause", "resume", "abort"]
NUDGE_OF: dict[str, Kind] = {
    "percent": "stage",
    "pause": "pause",
    "resume": "resume",
    "abort": "abort",
}


def read_rollout(repo: Repository, model: str) -> RolloutState | None:
    data = repo.read_target(rollout_path(model))
    return None if data is None else RolloutState.model_validate_json(data)


def change_rollout(
    repo: Repository,
    model: str,
    version: int,
    action: Action,
    percent: float | None = None,
    reason: str = "",
) -> RolloutState:
    """Apply one rollout action to a published release and sign the new state.

    Args:
        repo: the repository (signs with its online `rollout` key).
        model, version: the published release.
        action: the rollout action (set a percent, pause, resume, abort).
        percent: the new share of the fleet for a percent change.
        reason: recorded in the signed state.

    Returns:
        The new signed `RolloutState` of the model.

    Raises:
        UserError: unknown model or release, an action the current state does not allow.

    Example:
        >>> from litefleet import Repository, change_rollout
        >>> change_rollout(Repository(Path("repo")), "digits", 2, "percent", 50)
    """
    with repo.lock():
        data = repo.read_target(index_path(model))
        if data is None:
            known = ", ".join(repo.models()) or "none yet"
            raise UserError(f"unknown model {model!r} (published models: {known})")
        if ReleaseIndex.model_validate_json(data).release(version) is None:
            raise UserError(f"{model} has no release {version}")
        state = read_rollout(repo, model) or RolloutState(model=model)
        current = state.rollouts.get(version, RolloutEntry(percent=0.0))
        entry = _apply(current, action, percent, reason or action, f"{model} {version}")
        new = RolloutState(model=model, rollouts={**state.rollouts, version: entry})
        with repo.transaction(roles=(ROLLOUT_ROLE,)) as tx:
            tx.add_target(rollout_path(model), new.model_dump_json(indent=1).encode())
    notify(repo, model, NUDGE_OF[action], version)
    return new


def pause_if_active(repo: Repository, model: str, version: int, reason: str) -> RolloutEntry | None:
    """The automatic halt: pause an active rollout and return the signed entry; None when
    there was nothing to pause (already paused or aborted, or no rollout)."""
    with repo.lock():
        state = read_rollout(repo, model)
        entry = state.rollouts.get(version) if state else None
        if state is None or entry is None or entry.status != "active":
            return None
        paused = entry.model_copy(update={"status": "paused", "reason": reason, "updated": _now()})
        new = RolloutState(model=model, rollouts={**state.rollouts, version: paused})
        with repo.transaction(roles=(ROLLOUT_ROLE,)) as tx:
            tx.add_target(rollout_path(model), new.model_dump_json(indent=1).encode())
    notify(repo, model, "pause", version)
    return paused


def _apply(
    entry: RolloutEntry, action: Action, percent: float | None, reason: str, what: str
) -> RolloutEntry:
    if entry.status == "aborted" and action != "abort":
        raise UserError(f"{what} was aborted; publish a new version instead")
    update: dict[str, object] = {"reason": reason, "updated": _now()}
    if action == "percent":
        if percent is None or not 0 <= percent <= 100:
            raise UserError(f"rollout percent must be within 0..100, not {percent}")
        update["percent"] = percent
    elif action == "pause":
        update["status"] = "paused"
    elif action == "resume":
        if entry.status != "paused":
            raise UserError(f"{what} is not paused (status: {entry.status})")
        update["status"] = "active"
    else:
        update["status"] = "aborted"
    return entry.model_copy(update=update)


def _now() -> str:
    return datetime.now(UTC).replace(microsecond=0).isoformat()
