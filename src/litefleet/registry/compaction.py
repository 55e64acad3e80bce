"""Which releases stay in the signed index: a compacted history, bounded for ever.

Every device reads `<model>/releases.json` and `targets.json` after each publish, so both
must not grow with the number of releases. The index keeps the newest `INDEX_KEEP`
releases (room to roll back) plus every release a device may still be offered or be told
to return to: an `active` rollout (percent > 0) that no newer release of its channel
replaces for the whole fleet (active at 100 %). Targets only the dropped releases referred
to leave the signed targets metadata with them.
"""

from __future__ import annotations

from litefleet.registry.repository import Transaction
from litefleet.release import Release, ReleaseIndex, RolloutState

INDEX_KEEP = 8
"""Newest releases the index always keeps, whatever their rollout state."""


def kept_releases(
    releases: list[Release], state: RolloutState | None, keep: int = INDEX_KEEP
) -> list[Release]:
    """`releases` (oldest first) without those no device needs any more."""
    ordered = sorted(releases, key=lambda r: r.version)
    newest = {r.version for r in ordered[-keep:]} if keep > 0 else set()
    entries = state.rollouts if state else {}

    def live(r: Release) -> bool:
        e = entries.get(r.version)
        return e is not None and e.status == "active" and e.percent > 0

    def replaced(r: Release) -> bool:
        return any(
            n.version > r.version
            and n.channel == r.channel
            and (e := entries.get(n.version)) is not None
            and e.status == "active"
            and e.percent >= 100
            for n in ordered
        )

    return [r for r in ordered if r.version in newest or (live(r) and not replaced(r))]


def drop_unreferenced(tx: Transaction, old: ReleaseIndex | None, new: ReleaseIndex) -> list[int]:
    """Remove from the signed targets what only releases that left the index referred to;
    the versions of those releases."""
    if old is None:
        return []
    keep = new.target_paths()
    gone = [r for r in old.releases if new.release(r.version) is None]
    for r in gone:
        for path in r.target_paths() - keep:
            tx.remove_target(path)
    return [r.version for r in gone]
