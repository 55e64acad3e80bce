"""Publish a build folder as a signed release: model files, golden set, patches, index.

One publish is one repository transaction signed by the offline targets key (model files,
`golden.npz`, patches, `<model>/releases.json`) and the online rollout key (the new
release's entry in `<model>/rollout.json`). Release counters are monotonic per model: a
repository could sign an old model as "latest" (TUF protects metadata versions, not model
versions), so publish refuses any version that is not above every published one.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from litefleet.delta import worthwhile_patch
from litefleet.errors import UserError
from litefleet.registry.buildfolder import Build, check_name, load_build
from litefleet.registry.push import notify
from litefleet.registry.repository import Repository, Transaction
from litefleet.registry.rollout import read_rollout
from litefleet.release import (
    ROLLOUT_ROLE,
    PatchEntry,
    Release,
    ReleaseIndex,
    RolloutEntry,
    RolloutState,
    Signature,
    VariantEntry,
    VariantInfo,
    golden_path,
    index_path,
    patch_path,
    rollout_path,
    tuf_custom,
    variant_path,
)

PATCH_DEPTH = 2
"""Patches from the previous release and the one before it."""
DEFAULT_ACCURACY_MARGIN = 0.1
"""Default `min_accuracy` = the least accurate variant's test accuracy minus this margin
(the golden set is small, so its accuracy is noisy)."""


@dataclass(frozen=True)
class Published:
    model: str
    version: int
    variants: list[str]
    patches: list[str]
    """Target paths of the patches kept (smaller than the full file)."""


def read_index(repo: Repository, model: str) -> ReleaseIndex | None:
    """The signed release index of `model`, or None when it was never published."""
    data = repo.read_target(index_path(model))
    return None if data is None else ReleaseIndex.model_validate_json(data)


def require_index(repo: Repository, model: str) -> ReleaseIndex:
    index = read_index(repo, model)
    if index is None:
        known = ", ".join(repo.models()) or "none yet"
        raise UserError(f"unknown model {model!r} (published models: {known})")
    return index


def publish(
    repo: Repository,
    build_dir: Path,
    model: str,
    version: int | None = None,
    channel: str = "stable",
    rollout_percent: float = 100.0,
    min_accuracy: float | None = None,
    min_agreement: float = 0.9,
    force: bool = False,
    check_models: bool = True,
    check_timeout_s: float | None = None,
) -> Published:
    """Validate `build_dir`, then sign it as release `version` of `model` (default: next).

    Refuses model bytes identical to those of a paused or aborted release (re-signing known
    bad content under a new number) unless `force`.

    Args:
        repo: the repository to sign into (its offline targets key must be available).
        build_dir: a build folder (`report.json`, `.tflite` files, `golden.npz`).
        model, version, channel: where the release goes; versions only go up.
        rollout_percent: share of the fleet offered the release at once.
        min_accuracy, min_agreement: what a device's health gate requires.
        force: publish even bytes identical to a paused or aborted release.
        check_models: False only for tests that play an attacker who holds the targets
            key and signs with their own tools (no isolated load of each model).
        check_timeout_s: seconds each model may take to load and run once (isolated).

    Returns:
        What was published (version, variants, patches).

    Raises:
        UserError: a corrupt build, a non-TFLite file, a version that does not go up.

    Example:
        >>> from litefleet import Repository, publish
        >>> publish(Repository(Path("repo")), Path("out/v1"), model="digits", rollout_percent=10)
    """
    check_name("model", model)
    check_name("channel", channel)
    if not 0 <= rollout_percent <= 100:
        raise UserError(f"rollout percent must be within 0..100, not {rollout_percent}")
    build = load_build(build_dir, load_interpreter=check_models, check_timeout_s=check_timeout_s)
    with repo.lock():
        index = read_index(repo, model)
        latest = max((r.version for r in index.releases), default=0) if index else 0
        version = latest + 1 if version is None else version
        if version <= latest:
            raise UserError(f"{model} version {version} is not above the latest, {latest}")
        signature = _check_signature(build, index)
        if not force:
            _refuse_known_bad(build, index, read_rollout(repo, model))
        now = datetime.now(UTC).replace(microsecond=0).isoformat()
        with repo.transaction(roles=("targets", ROLLOUT_ROLE)) as tx:
            entries: dict[str, VariantEntry] = {}
            patches: list[str] = []
            for cand in build.report.candidates:
                data = build.files[cand.name]
                info = VariantInfo(
                    model=model,
                    version=version,
                    variant=cand.name,
                    precision=cand.precision,
                    signature=cand.signature,
                    accuracy=cand.accuracy,
                    latency_ms_p50=cand.latency_ms_p50,
                    raw_bytes=cand.raw_bytes,
                    zstd_bytes=cand.zstd_bytes,
                    sha256=cand.sha256,
                )
                path = variant_path(model, version, cand.name)
                tx.add_target(path, data, custom=tuf_custom(info))
                kept = _patches(repo, tx, index, model, version, cand.name, data)
                patches += [p.path for p in kept]
                entries[cand.name] = VariantEntry(
                    path=path,
                    precision=cand.precision,
                    bytes=len(data),
                    accuracy=cand.accuracy,
                    latency_ms_p50=cand.latency_ms_p50,
                    sha256=cand.sha256,
                    patches=kept,
                )
            tx.add_target(golden_path(model, version), build.golden)
            release = Release(
                version=version,
                channel=channel,
                created=now,
                variants=entries,
                golden=golden_path(model, version),
                min_accuracy=_min_accuracy(build, min_accuracy),
                min_agreement=min_agreement,
                reference_stats=build.report.reference_stats,
            )
            old = index.releases if index else []
            new_index = ReleaseIndex(model=model, signature=signature, releases=[*old, release])
            tx.add_target(index_path(model), new_index.model_dump_json(indent=1).encode())
            state = read_rollout(repo, model) or RolloutState(model=model)
            rollouts = {
                **state.rollouts,
                version: RolloutEntry(percent=rollout_percent, reason="published", updated=now),
            }
            new_state = RolloutState(model=model, rollouts=rollouts)
            tx.add_target(rollout_path(model), new_state.model_dump_json(indent=1).encode())
    notify(repo, model, "release", version)  # online devices check now (issue 23)
    return Published(model, version, [c.name for c in build.report.candidates], patches)


def _refuse_known_bad(build: Build, index: ReleaseIndex | None, state: RolloutState | None) -> None:
    if index is None or state is None:
        return
    bad = {
        entry.sha256: (r.version, state.rollouts[r.version].status)
        for r in index.releases
        if r.version in state.rollouts and state.rollouts[r.version].status != "active"
        for entry in r.variants.values()
    }
    for cand in build.report.candidates:
        if cand.sha256 in bad:
            version, status = bad[cand.sha256]
            raise UserError(
                f"variant {cand.name!r} has the same bytes as release {version}, which is"
                f" {status}: refusing to sign known-bad content again (--force to publish anyway)"
            )


def _check_signature(build: Build, index: ReleaseIndex | None) -> Signature:
    """The app-facing signature: kept from the first release; a new one must match it."""
    sigs = [c.signature for c in build.report.candidates]
    if index is None:
        float_sigs = [c.signature for c in build.report.candidates if c.precision == "float32"]
        return (float_sigs or sigs)[0]
    if not any(index.signature.compatible_with(s) for s in sigs):
        raise UserError(
            "no variant of this build has the input/output signature of the published model"
        )
    return index.signature


def _patches(
    repo: Repository,
    tx: Transaction,
    index: ReleaseIndex | None,
    model: str,
    version: int,
    variant: str,
    data: bytes,
) -> list[PatchEntry]:
    """Patches from the same variant of the last `PATCH_DEPTH` releases, when smaller."""
    kept: list[PatchEntry] = []
    if index is None:
        return kept
    for old_release in sorted(index.releases, key=lambda r: -r.version)[:PATCH_DEPTH]:
        entry = old_release.variants.get(variant)
        if entry is None:
            continue
        old = repo.read_target(entry.path)
        patch = worthwhile_patch(old, data) if old is not None else None
        if patch is None:
            continue
        path = patch_path(model, version, variant, old_release.version)
        tx.add_target(path, patch)
        kept.append(PatchEntry(from_version=old_release.version, path=path, bytes=len(patch)))
    return kept


def _min_accuracy(build: Build, given: float | None) -> float:
    if given is not None:
        if not 0 <= given <= 1:
            raise UserError(f"min accuracy must be within 0..1, not {given}")
        return given
    lowest = min(c.accuracy for c in build.report.candidates)
    return round(max(0.0, lowest - DEFAULT_ACCURACY_MARGIN), 4)
