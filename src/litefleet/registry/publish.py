"""Publish a build folder as a signed release: model files, golden set, patches, index.

One publish is one repository transaction signed by the offline targets key (model files,
the release's files, patches, `<model>/releases.json`) and the online rollout key (the new
release's entry in `<model>/rollout.json`). Release counters are monotonic per model: a
repository could sign an old model as "latest" (TUF protects metadata versions, not model
versions), so publish refuses any version that is not above every published one.

The signed metadata stays small for ever (release format 2): an index entry holds only
what a device needs to choose; the golden set (within its byte budget), drift statistics
and the model card are per-release targets (`registry.releasefiles`); the index keeps a
compacted history (`registry.compaction`) and targets only dropped releases used leave
`targets.json` too. Anything a device would refuse for its size is refused here, before
signing, with one line naming it.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from pydantic import ValidationError

from litefleet.delta import worthwhile_patch
from litefleet.errors import UserError
from litefleet.registry.buildfolder import Build, check_name, load_build
from litefleet.registry.compaction import INDEX_KEEP, drop_unreferenced, kept_releases
from litefleet.registry.gatespec import gate_spec
from litefleet.registry.push import notify
from litefleet.registry.quality import assess, remember_first_floor
from litefleet.registry.releasefiles import add_release_files, release_files
from litefleet.registry.repository import Repository, Transaction
from litefleet.registry.rollout import read_rollout
from litefleet.release import (
    DEFAULT_GOLDEN_BUDGET,
    MAX_INDEX_BYTES,
    MAX_TARGETS_METADATA_BYTES,
    ROLLOUT_ROLE,
    CandidateReport,
    PatchEntry,
    Release,
    ReleaseIndex,
    RolloutEntry,
    RolloutState,
    Signature,
    VariantEntry,
    VariantInfo,
    index_path,
    patch_path,
    rollout_path,
    tuf_custom,
    variant_path,
)

PATCH_DEPTH = 2
"""Patches from the previous release and the one before it."""


@dataclass(frozen=True)
class Published:
    model: str
    version: int
    variants: list[str]
    patches: list[str]
    """Target paths of the patches kept (smaller than the full file)."""
    golden_samples: int = 0
    golden_dropped: int = 0
    """Golden samples left out to fit the golden budget."""
    reused: list[str] = field(default_factory=list)
    """Release files signed by an earlier release and reused unchanged (target paths)."""
    compacted: list[int] = field(default_factory=list)
    """Releases that left the index with this publish."""
    notes: list[str] = field(default_factory=list)
    """Quality lines for the publisher (a floor set, an override used)."""


def read_index(repo: Repository, model: str) -> ReleaseIndex | None:
    """The signed release index of `model`, or None when it was never published."""
    data = repo.read_target(index_path(model))
    if data is None:
        return None
    try:
        return ReleaseIndex.model_validate_json(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        raise UserError(f"{model}/releases.json: {first['msg']}") from None


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
    golden_budget: int = DEFAULT_GOLDEN_BUDGET,
    index_keep: int = INDEX_KEEP,
    allow_regression: bool = False,
    tolerance: float | None = None,
    stages: list[float] | None = None,
    bake_s: float = 0.0,
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
        golden_budget: bytes the golden inputs and reference may take together; samples
            are trimmed (stratified by label) to fit.
        index_keep: newest releases the index always keeps (`registry.compaction`).
        allow_regression: publish even a release the quality rules refuse (chance-level,
            below the floor, worse than the previous good release); recorded in the release.
        tolerance: how far below the previous good release a release may fall (default:
            the model's quality policy, `registry/quality.py`).
        stages: automatic rollout stages in percent (`[1, 10, 50, 100]`): the release
            starts at the first and the server promotes it (`registry/promote.py`);
            `rollout_percent` is then ignored.
        bake_s: seconds each stage bakes before the server may move on.

    Returns:
        What was published (version, variants, patches).

    Raises:
        UserError: a corrupt build, a non-TFLite file, a version that does not go up,
            a file or metadata above a device's size limits, a quality regression (one
            line naming the figure).

    Example:
        >>> from litefleet import Repository, publish
        >>> publish(Repository(Path("repo")), Path("out/v1"), model="digits", rollout_percent=10)
    """
    check_name("model", model)
    check_name("channel", channel)
    if not 0 <= rollout_percent <= 100:
        raise UserError(f"rollout percent must be within 0..100, not {rollout_percent}")
    build = load_build(build_dir, load_interpreter=check_models, check_timeout_s=check_timeout_s)
    gate = gate_spec(
        build.report, build.golden, min_accuracy=min_accuracy, min_agreement=min_agreement
    )
    files = release_files(build, golden_budget)
    with repo.lock():
        index = read_index(repo, model)
        latest = max((r.version for r in index.releases), default=0) if index else 0
        version = latest + 1 if version is None else version
        if version <= latest:
            raise UserError(f"{model} version {version} is not above the latest, {latest}")
        signature = _check_signature(build, index)
        if not force:
            _refuse_known_bad(build, index, read_rollout(repo, model))
        quality = (
            assess(
                repo,
                model,
                build,
                files.golden,
                index,
                read_rollout(repo, model),
                allow_regression=allow_regression,
                tolerance=tolerance,
            )
            if check_models
            else None  # an attacker's models are never run here
        )
        if min_accuracy is None and quality is not None and gate.min_accuracy is not None:
            # never below chance or the floor (the first format's "worst - 0.1" let a
            # chance-level model through)
            gate = gate.model_copy(update={"min_accuracy": quality.min_accuracy})
        now = datetime.now(UTC).replace(microsecond=0).isoformat()
        with repo.transaction(roles=("targets", ROLLOUT_ROLE)) as tx:
            entries = {
                cand.name: _add_variant(
                    repo, tx, index, model, version, cand, build.files[cand.name]
                )
                for cand in build.report.candidates
            }
            patches = [p.path for entry in entries.values() for p in entry.patches]
            refs = add_release_files(tx, model, version, files, index)
            release = Release(
                version=version,
                channel=channel,
                created=now,
                variants=entries,
                gate=gate,
                accuracy_samples=build.report.test_samples,
                quality=quality.record if quality else None,
                **refs,
            )
            state = read_rollout(repo, model) or RolloutState(model=model)
            rollouts = {
                **state.rollouts,
                version: _first_entry(rollout_percent, stages, bake_s, now),
            }
            old = index.releases if index else []
            kept_list = kept_releases(
                [*old, release], RolloutState(model=model, rollouts=rollouts), index_keep
            )
            new_index = ReleaseIndex(model=model, signature=signature, releases=kept_list)
            dropped = drop_unreferenced(tx, index, new_index)
            index_bytes = new_index.model_dump_json(indent=1).encode()
            _refuse_oversize(f"{model}/releases.json", len(index_bytes), MAX_INDEX_BYTES)
            tx.add_target(index_path(model), index_bytes)
            # rollout entries of releases that left the index go too, except an abort (a
            # device still running one must learn it may not)
            live = {r.version for r in kept_list}
            rollouts = {v: e for v, e in rollouts.items() if v in live or e.status == "aborted"}
            new_state = state.model_copy(update={"rollouts": rollouts})  # pins, groups kept
            state_bytes = new_state.model_dump_json(indent=1).encode()
            _refuse_oversize(f"{model}/rollout.json", len(state_bytes), MAX_INDEX_BYTES)
            tx.add_target(rollout_path(model), state_bytes)
            for role in ("targets", ROLLOUT_ROLE):
                _refuse_oversize(f"{role}.json", tx.signed_bytes(role), MAX_TARGETS_METADATA_BYTES)
        if quality is not None:
            remember_first_floor(repo, model, quality, version)
    notify(repo, model, "release", version)  # online devices check now (issue 23)
    return Published(
        model,
        version,
        [c.name for c in build.report.candidates],
        patches,
        golden_samples=len(files.golden),
        golden_dropped=files.dropped,
        reused=[
            ref.path for ref in release.files() if not ref.path.startswith(f"{model}/{version}/")
        ],
        compacted=dropped,
        notes=quality.notes if quality else [],
    )


def _refuse_oversize(name: str, size: int, limit: int) -> None:
    if size > limit:
        raise UserError(
            f"{name} would be {size} bytes, above the {limit} bytes a device accepts:"
            " refusing to sign it"
        )


def _first_entry(
    percent: float, stages: list[float] | None, bake_s: float, now: str
) -> RolloutEntry:
    """The new release's rollout entry: a fixed percentage, or the first automatic stage."""
    if not stages:
        return RolloutEntry(percent=percent, reason="published", updated=now)
    if any(not 0 < p <= 100 for p in stages) or stages != sorted(set(stages)):
        raise UserError(f"stages must rise within (0, 100], not {stages}")
    if bake_s < 0:
        raise UserError(f"bake time must not be negative, not {bake_s}")
    return RolloutEntry(
        percent=stages[0],
        reason=f"published: stages {', '.join(f'{p:g}' for p in stages)}%",
        updated=now,
        stages=stages,
        bake_s=bake_s,
        stage_since=time.time(),
    )


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


def _add_variant(
    repo: Repository,
    tx: Transaction,
    index: ReleaseIndex | None,
    model: str,
    version: int,
    cand: CandidateReport,
    data: bytes,
) -> VariantEntry:
    """Sign one variant's model file (its `VariantInfo` as the target's custom data) and
    its patches; the variant's index entry."""
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
    return VariantEntry(
        path=path,
        precision=cand.precision,
        bytes=len(data),
        accuracy=cand.accuracy,
        latency_ms_p50=cand.latency_ms_p50,
        sha256=cand.sha256,
        patches=_patches(repo, tx, index, model, version, cand.name, data),
    )


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
