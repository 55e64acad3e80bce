"""A release's per-release files: golden inputs and reference, drift statistics, card.

Everything large about a release lives here, not in the signed index: hash-named targets
a device fetches only when it installs the release. The golden set is trimmed to a byte
budget (stratified by label), inputs unchanged since an earlier release are not stored
again (the new release's `FileRef` names the earlier target: a device that has it moves
nothing), and every file is checked against the size a device accepts before anything is
signed.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

from litefleet.drift import reference_stats
from litefleet.errors import UserError
from litefleet.golden import GoldenSet, fit_budget
from litefleet.registry.buildfolder import Build
from litefleet.release import (
    CARD_FILE,
    DRIFT_FILE,
    GOLDEN_INPUTS,
    GOLDEN_REFERENCE,
    MAX_CARD_BYTES,
    MAX_DRIFT_BYTES,
    MAX_GOLDEN_BYTES,
    FeatureStats,
    FileRef,
    ModelCard,
    ReleaseIndex,
    release_file_path,
)

FIELDS = {
    "golden_inputs": (GOLDEN_INPUTS, MAX_GOLDEN_BYTES),
    "golden_reference": (GOLDEN_REFERENCE, MAX_GOLDEN_BYTES),
    "drift": (DRIFT_FILE, MAX_DRIFT_BYTES),
    "card": (CARD_FILE, MAX_CARD_BYTES),
}
"""Release field -> (file name, the most bytes a device accepts)."""


@dataclass(frozen=True)
class ReleaseFiles:
    """The bytes of one release's files (None: the release has no such file)."""

    golden: GoldenSet
    """The golden samples kept (after the budget)."""
    dropped: int
    """Golden samples left out to fit the budget."""
    data: dict[str, bytes | None]
    """Release field (`golden_inputs`, ...) -> file bytes."""


def release_files(build: Build, golden_budget: int) -> ReleaseFiles:
    """Make the files of a release of `build`; refuse any a device would refuse."""
    if golden_budget <= 0:
        raise UserError(f"golden budget must be positive, not {golden_budget} bytes")
    if golden_budget > 2 * MAX_GOLDEN_BYTES:
        raise UserError(
            f"golden budget of {golden_budget} bytes is above what devices accept"
            f" ({2 * MAX_GOLDEN_BYTES} for inputs and reference)"
        )
    trimmed = fit_budget(build.golden, golden_budget)
    data: dict[str, bytes | None] = {
        "golden_inputs": trimmed.inputs,
        "golden_reference": trimmed.reference,
        "drift": _drift(build),
        "card": _json(card_of(build)),
    }
    for field, blob in data.items():
        name, limit = FIELDS[field]
        if blob is not None and len(blob) > limit:
            raise UserError(
                f"{name} would be {len(blob)} bytes, above the {limit} bytes a device accepts"
            )
    return ReleaseFiles(trimmed.golden, trimmed.dropped, data)


def add_release_files(
    tx, model: str, version: int, files: ReleaseFiles, index: ReleaseIndex | None
) -> dict[str, FileRef | None]:
    """Sign each file as a target of `version`, or reuse an earlier release's identical one."""
    earlier: dict[tuple[str, str], FileRef] = {}
    for r in index.releases if index else []:
        for field in FIELDS:
            ref = getattr(r, field)
            if ref is not None:
                earlier[(field, ref.sha256)] = ref
    refs: dict[str, FileRef | None] = {}
    for field, blob in files.data.items():
        if blob is None:
            refs[field] = None
            continue
        digest = hashlib.sha256(blob).hexdigest()
        reused = earlier.get((field, digest))
        if reused is not None:
            refs[field] = reused
            continue
        path = release_file_path(model, version, FIELDS[field][0])
        tx.add_target(path, blob)
        refs[field] = FileRef(path=path, bytes=len(blob), sha256=digest)
    return refs


def card_of(build: Build) -> ModelCard:
    """The card: the build report's fields of the same names (every card field is one)."""
    return ModelCard.model_validate(build.report, from_attributes=True)


def _drift(build: Build) -> bytes | None:
    """The build's bounded statistics; an old build's per-element ones are replaced by
    statistics of its golden inputs (the only training-like samples a folder holds)."""
    stats = build.report.reference_stats
    if not isinstance(stats, FeatureStats):
        try:
            stats = reference_stats(build.golden.inputs)
        except ValueError:  # more inputs than drift features: no drift monitoring
            return None
    return _json(stats)


def _json(model) -> bytes:
    return json.dumps(model.model_dump(mode="json"), separators=(",", ":")).encode()
