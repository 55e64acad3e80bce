"""`litefleet repo migrate REPO`: re-sign release indexes of format 1 as format 2.

Format 1 carried per-element drift statistics in every index entry (megabytes per release
for an image model) and one `golden.npz` per release. Migration keeps every model file and
patch as signed, splits each golden set into the format-2 files (trimmed to the default
budget; identical inputs stored once), derives bounded drift statistics from the golden
inputs, compacts the history, and takes the old `golden.npz` targets out of the signed
metadata. One transaction per model, signed by the offline targets key.
"""

from __future__ import annotations

import json

from pydantic import BaseModel, ConfigDict

from litefleet.drift import reference_stats
from litefleet.errors import UserError
from litefleet.golden import fit_budget, golden_from_bytes
from litefleet.registry.compaction import INDEX_KEEP, drop_unreferenced, kept_releases
from litefleet.registry.releasefiles import ReleaseFiles, add_release_files
from litefleet.registry.repository import Repository
from litefleet.registry.rollout import read_rollout
from litefleet.release import (
    DEFAULT_GOLDEN_BUDGET,
    ROLLOUT_ROLE,
    GateSpec,
    Release,
    ReleaseIndex,
    Signature,
    VariantEntry,
    index_path,
)


class _OldRelease(BaseModel):
    """A format-1 index entry (only the fields migration carries over)."""

    model_config = ConfigDict(extra="ignore")

    version: int
    channel: str = "stable"
    created: str
    variants: dict[str, VariantEntry]
    golden: str
    min_accuracy: float
    min_agreement: float = 0.9


class _OldIndex(BaseModel):
    model_config = ConfigDict(extra="ignore")

    schema_version: int
    model: str
    signature: Signature
    releases: list[_OldRelease]


def migrate(repo: Repository, golden_budget: int = DEFAULT_GOLDEN_BUDGET) -> list[str]:
    """Migrate every model whose index is format 1; one line per model migrated."""
    lines = []
    for model in repo.models():
        raw = json.loads(repo.read_target(index_path(model)) or b"{}")
        if raw.get("schema_version") == 2:
            continue
        lines.append(_migrate_model(repo, _OldIndex.model_validate(raw), golden_budget))
    return lines


def _migrate_model(repo: Repository, old: _OldIndex, budget: int) -> str:
    model = old.model
    before = len(repo.read_target(index_path(model)) or b"")
    with repo.lock(), repo.transaction(roles=("targets", ROLLOUT_ROLE)) as tx:
        state = read_rollout(repo, model)
        new = ReleaseIndex(model=model, signature=old.signature, releases=[])
        for r in sorted(old.releases, key=lambda r: r.version):
            data = repo.read_target(r.golden)
            if data is None:
                raise UserError(f"{model} release {r.version}: golden set {r.golden} is missing")
            golden = golden_from_bytes(data)
            trimmed = fit_budget(golden, budget)
            files = ReleaseFiles(
                trimmed.golden,
                trimmed.dropped,
                {
                    "golden_inputs": trimmed.inputs,
                    "golden_reference": trimmed.reference,
                    "drift": reference_stats(golden.inputs).model_dump_json().encode(),
                    "card": None,
                },
            )
            refs = add_release_files(tx, model, r.version, files, new)
            release = Release(
                version=r.version,
                channel=r.channel,
                created=r.created,
                variants=r.variants,
                gate=GateSpec(
                    task="classification",
                    min_accuracy=r.min_accuracy if golden.labels is not None else None,
                    min_agreement=r.min_agreement,
                ),
                **refs,
            )
            new = ReleaseIndex(
                model=model, signature=old.signature, releases=[*new.releases, release]
            )
            tx.remove_target(r.golden)
        kept = kept_releases(new.releases, state, INDEX_KEEP)
        final = ReleaseIndex(model=model, signature=old.signature, releases=kept)
        drop_unreferenced(tx, new, final)
        data = final.model_dump_json(indent=1).encode()
        tx.add_target(index_path(model), data)
    return (
        f"{model}: index format 1 -> 2, {before} -> {len(data)} bytes,"
        f" {len(kept)} of {len(old.releases)} releases kept"
    )
