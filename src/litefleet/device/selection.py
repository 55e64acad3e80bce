"""Which release this device should run: channel, rollout cohort, status, monotonic counter.

Pure functions of the signed index, the signed rollout state and the local journal.
- A release is offered when it is on the device's channel, has a rollout entry that is
  `active` and the device's stable bucket falls inside its percentage (`in_rollout`).
- Only releases above the highest version ever installed are offered (a repository can
  sign an old model as new; the counter refuses it), and never a locally blocked one. The
  exception is `allowed_again`: versions this device ran before, still on its disk, that
  an operator unblocked (`agent unblock`): their bytes were verified and gated here already.
- The one way down: the active release is `aborted` in the signed rollout state; then the
  device goes back to the newest earlier release that is not aborted.
- A rollout entry with `tags` is offered only to members of those groups (`groups` in the
  same signed state). A pin (`pins["device:ID"]`, else `pins["tag:NAME"]`) names the one
  release the device runs, whatever the rollouts and the channel say; a pinned release that
  is aborted, blocked or gone from the index is ignored.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from litefleet.release import ReleaseIndex, RolloutState, in_rollout


@dataclass(frozen=True)
class Choice:
    kind: Literal["none", "install", "back"]
    version: int | None = None
    reason: str = ""


def choose_release(
    index: ReleaseIndex,
    rollout: RolloutState | None,
    *,
    device_id: str,
    channel: str,
    active: int | None,
    highest: int,
    blocked: set[int] | dict[int, str],
    in_cohort: Callable[[int, float], bool] | None = None,
    allowed_again: set[int] = frozenset(),
) -> Choice:
    """What this device should do. `in_cohort(version, percent)` says whether the device
    falls inside a rollout (default: `in_rollout` of its id); a simulator passes a predicate
    over precomputed buckets to ask once for a whole group of devices."""
    if in_cohort is None:

        def in_cohort(version: int, percent: float) -> bool:
            return in_rollout(device_id, index.model, version, percent)

    entries = rollout.rollouts if rollout else {}
    groups = rollout.tags_of(device_id) if rollout else set()

    def aborted(v: int) -> bool:
        e = entries.get(v)
        return e is not None and e.status == "aborted"

    if active is not None and aborted(active):
        older = [
            r.version
            for r in index.releases
            if r.version < active
            and r.channel == channel
            and not aborted(r.version)
            and r.version not in blocked
        ]
        if older:
            return Choice("back", max(older), f"release {active} was aborted")
        return Choice("none", None, f"release {active} was aborted and nothing older is left")
    pinned = _pinned(rollout, device_id, groups) if rollout else None
    if (
        pinned is not None
        and index.release(pinned) is not None
        and not aborted(pinned)
        and pinned not in blocked
    ):
        if pinned == active:
            return Choice("none", None, f"pinned to release {pinned}")
        kind = "install" if pinned > highest else "back"
        return Choice(kind, pinned, f"pinned to release {pinned}")
    offered = []
    for r in index.releases:
        e = entries.get(r.version)
        if (
            r.channel == channel
            and e is not None
            and e.status == "active"
            and (not e.tags or groups.intersection(e.tags))
            and (r.version > highest or _again(r.version, allowed_again, active))
            and r.version not in blocked
            and in_cohort(r.version, e.percent)
        ):
            offered.append(r.version)
    if not offered:
        return Choice("none", None, _why_none(index, entries, channel, highest, active, blocked))
    return Choice("install", max(offered), "")


def _pinned(rollout: RolloutState, device_id: str, groups: set[str]) -> int | None:
    if f"device:{device_id}" in rollout.pins:
        return rollout.pins[f"device:{device_id}"]
    tag_pins = sorted(k for k in rollout.pins if k.startswith("tag:") and k[4:] in groups)
    return rollout.pins[tag_pins[0]] if tag_pins else None


def _again(version: int, allowed_again: set[int], active: int | None) -> bool:
    return version in allowed_again and (active is None or version > active)


def _why_none(index, entries, channel, highest, active, blocked) -> str:
    """Why nothing is offered, naming a paused, aborted or blocked release as such."""
    newer = [r.version for r in index.releases if r.version > highest and r.channel == channel]
    if not newer:
        return f"up to date (active {active}, highest installed {highest})"
    v = max(newer)
    e = entries.get(v)
    if v in blocked:
        return f"release {v} is blocked on this device (`litefleet agent unblock {v}`)"
    if e is None:
        return f"release {v} is not rolled out yet"
    if e.status == "paused":
        return f"release {v} is paused ({e.reason or 'no reason given'})"
    if e.status == "aborted":
        return f"release {v} was aborted ({e.reason or 'no reason given'})"
    return f"release {v} is rolled out to {e.percent:g} % and this device is not in it yet"
