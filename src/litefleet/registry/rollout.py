"""Rollout state of each model: who gets which release, signed by the online `rollout` role.

`<model>/rollout.json` maps a release to a percentage and a status (active, paused,
aborted). Both the CLI (`litefleet rollout`) and the server's automatic halt change it
through `change_rollout`, under the repository lock, with only the rollout, snapshot and
timestamp keys: so the server can stop a bad release but never sign a model file.
Each signed change then nudges the model's online devices (`push.notify`, issue 23).

Device groups: a rollout may name `tags` (only those groups are offered it) and a device or
a group may be pinned to one release (`set_pin`); every signature refreshes `groups`, the
members of each tag the state names, from the enrollment book (`tokens.py`), so devices
learn their groups from the same signed file.

Rules: an aborted release stays aborted (publish a new version instead); a paused one can
be resumed; the percentage may go up or down (the cohort hash makes raising it only add
devices). A staged release (`publish --stages`) is moved on by the server (`promote.py`,
`promote_if_due` here); an operator may `hold` it (no automatic step until `release`),
pause it, or override it with a percentage (which ends the automatic stages).
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

Action = Literal["percent", "pause", "resume", "abort", "hold", "release"]
NUDGE_OF: dict[str, Kind] = {
    "percent": "stage",
    "pause": "pause",
    "resume": "resume",
    "abort": "abort",
    "hold": "stage",
    "release": "stage",
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
    tags: list[str] | None = None,
) -> RolloutState:
    """Apply one rollout action to a published release and sign the new state.

    Args:
        repo: the repository (signs with its online `rollout` key).
        model, version: the published release.
        action: the rollout action (set a percent, pause, resume, abort).
        percent: the new share of the fleet for a percent change.
        reason: recorded in the signed state.
        tags: when given, only devices in these groups are offered it ([] = every device).

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
        if tags is not None:
            entry = entry.model_copy(update={"tags": sorted(set(tags))})
        new = state.model_copy(update={"rollouts": {**state.rollouts, version: entry}})
        signed = _sign(repo, new)
    notify(repo, model, NUDGE_OF[action], version)
    return signed


def set_pin(
    repo: Repository, model: str, target: str, version: int | None, reason: str = ""
) -> RolloutState:
    """Pin `target` (`device:ID` or `tag:NAME`) to a published release; None unpins it."""
    if not target.startswith(("device:", "tag:")):
        raise UserError(f"pin target {target!r} must look like device:ID or tag:NAME")
    with repo.lock():
        data = repo.read_target(index_path(model))
        if data is None:
            raise UserError(f"unknown model {model!r}")
        if version is not None and ReleaseIndex.model_validate_json(data).release(version) is None:
            raise UserError(f"{model} has no release {version}")
        state = read_rollout(repo, model) or RolloutState(model=model)
        pins = {k: v for k, v in state.pins.items() if k != target}
        if version is not None:
            pins[target] = version
        try:
            new = RolloutState.model_validate({**state.model_dump(), "pins": pins})
        except ValueError as exc:
            raise UserError(f"pin target {target!r}: not a valid device id or tag") from exc
        signed = _sign(repo, new)
    notify(repo, model, "stage", version)
    return signed


def refresh_groups(repo: Repository, model: str) -> RolloutState | None:
    """Re-sign the model's state when the members of a tag it names changed."""
    with repo.lock():
        state = read_rollout(repo, model)
        if state is None or not _named_tags(state):
            return state
        if _with_groups(repo, state).groups == state.groups:
            return state
        return _sign(repo, state)


def _named_tags(state: RolloutState) -> set[str]:
    tags = {t for e in state.rollouts.values() for t in e.tags}
    return tags | {k[4:] for k in state.pins if k.startswith("tag:")}


def _with_groups(repo: Repository, state: RolloutState) -> RolloutState:
    from litefleet.registry.tokens import DeviceTokens

    members = DeviceTokens(repo.keys.path).members(_named_tags(state))
    return state.model_copy(update={"groups": {t: sorted(ids) for t, ids in members.items()}})


def _sign(repo: Repository, state: RolloutState) -> RolloutState:
    """Sign `state` (groups refreshed) as the model's rollout.json; caller holds the lock."""
    new = _with_groups(repo, state)
    with repo.transaction(roles=(ROLLOUT_ROLE,)) as tx:
        tx.add_target(rollout_path(new.model), new.model_dump_json(indent=1).encode())
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
        new = state.model_copy(update={"rollouts": {**state.rollouts, version: paused}})
        with repo.transaction(roles=(ROLLOUT_ROLE,)) as tx:
            tx.add_target(rollout_path(model), new.model_dump_json(indent=1).encode())
    notify(repo, model, "pause", version)
    return paused


def promote_if_due(
    repo: Repository, model: str, version: int, now: float, why: str
) -> tuple[float, RolloutEntry] | None:
    """Move a staged release to its next stage when the current one has baked; signed with
    the online rollout key. Returns (percent before, the signed entry), or None when there
    is nothing to do (not staged, held, paused, not baked yet, already at the last stage)."""
    with repo.lock():
        state = read_rollout(repo, model)
        entry = state.rollouts.get(version) if state else None
        if state is None or entry is None or not due_stage(entry, now):
            return None
        nxt = next(p for p in entry.stages if p > entry.percent)
        moved = entry.model_copy(
            update={
                "percent": nxt,
                "stage_since": now,
                "reason": f"auto-promote {entry.percent:g}% -> {nxt:g}%: {why}",
                "updated": _now(),
            }
        )
        new = state.model_copy(update={"rollouts": {**state.rollouts, version: moved}})
        with repo.transaction(roles=(ROLLOUT_ROLE,)) as tx:
            tx.add_target(rollout_path(model), new.model_dump_json(indent=1).encode())
    notify(repo, model, "stage", version)
    return entry.percent, moved


def due_stage(entry: RolloutEntry, now: float) -> bool:
    """Whether a staged, active, unheld release has baked its current stage."""
    return (
        entry.status == "active"
        and not entry.hold
        and any(p > entry.percent for p in entry.stages)
        and now - (entry.stage_since or 0.0) >= entry.bake_s
    )


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
        update["stages"] = []  # an operator's override ends the automatic stages
    elif action in ("hold", "release"):
        update["hold"] = action == "hold"
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
