"""Fetch one model file for a release: a bsdiff4 patch against what the device has when
one is signed for it, else the full file.

The patch is itself a signed target, and the patched result must match the new target's
signed length and hashes; anything else (bad patch, old file changed, bsdiff error) falls
back to the full download. Nothing lands under its real name unverified.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from litefleet.delta import apply_patch
from litefleet.device.crashpoints import crashpoint
from litefleet.device.tuf_client import Session
from litefleet.errors import UserError
from litefleet.fsutil import TMP_PREFIX, atomic_write_bytes
from litefleet.release import PatchEntry, VariantEntry


@dataclass(frozen=True)
class Plan:
    entry: VariantEntry
    patch: PatchEntry | None
    old_model: Path | None

    @property
    def size(self) -> int:
        """Bytes to download: what the conditional policy weighs."""
        return self.patch.bytes if self.patch else self.entry.bytes


def plan(
    entry: VariantEntry,
    variant: str,
    active: int | None,
    active_variant: str | None,
    active_model: Path | None,
) -> Plan:
    if active is not None and active_variant == variant and active_model is not None:
        patch = next((p for p in entry.patches if p.from_version == active), None)
        if patch is not None:
            return Plan(entry, patch, active_model)
    return Plan(entry, None, None)


def fetch(session: Session, p: Plan, dest: Path) -> tuple[str, int, str]:
    """Write the verified model to `dest`: (source, bytes downloaded, note)."""
    note = ""
    if p.patch is not None and p.old_model is not None:
        try:
            return _via_patch(session, p, dest), p.patch.bytes, ""
        except _PatchFailed as exc:
            note = f"patch failed ({exc}), full download"
    session.download(p.entry.path, dest)
    return "full", p.entry.bytes, note


class _PatchFailed(Exception):
    pass


def _via_patch(session: Session, p: Plan, dest: Path) -> str:
    assert p.patch is not None and p.old_model is not None
    patch_file = dest.parent / f"{TMP_PREFIX}patch"
    try:
        session.download(p.patch.path, patch_file)
        new = apply_patch(p.old_model.read_bytes(), patch_file.read_bytes())
    except (OSError, ValueError, UserError) as exc:  # bsdiff: ValueError on a corrupt patch
        raise _PatchFailed(str(exc)) from None
    finally:
        patch_file.unlink(missing_ok=True)
    crashpoint("patch.applied")
    if not session.verify_bytes(p.entry.path, new):
        raise _PatchFailed("result does not match the signed hashes")
    atomic_write_bytes(dest, new)
    return "patch"
