"""Quality at publish: a per-model floor, no silent regression, never a chance-level model.

Three rules run before a release is signed (`assess`), each on golden inputs and labels,
each answered by the models themselves in the sandbox (`litefleet.goldeneval`):

1. Above chance: every variant's golden accuracy must be clearly above 1/k for k classes:
   above `1/k + 3·sqrt((1/k)(1-1/k)/n)` over n golden samples (a one-sided binomial test at
   about 0.1 % false refusals). A model trained on shuffled labels stops here.
2. The floor: a per-model accuracy floor kept in the repository (`REPO/quality/<model>.json`,
   not a signed target: the publisher's rule, not the device's). It is set at the first
   publish (the worst variant's golden accuracy minus the tolerance) or by an operator with
   `litefleet repo floor`; `fleet status` shows it.
3. No regression: on the *previous good release's* golden inputs and labels (the newest
   earlier release whose rollout is active), every variant's accuracy must not fall more
   than `tolerance` below that release's reference accuracy. The same run measures each
   variant's agreement with the previous release's answers: the band the device gate and
   the live canary compare against.

A refusal is one line naming the figure; `--allow-regression` publishes anyway and the
release records it (`QualityRecord.allowed_regression`). The default `min_accuracy` a
device requires is `max(floor, chance bound, worst golden accuracy - tolerance)`: a
chance-level release forced through is still refused by every device.

Outputs that are not class scores (a detector's boxes, a segmenter's mask, a regression)
have no labels to judge by: for each of them, and each variant, the same run measures its
closeness to the previous good release on that release's golden inputs (the share of
elements within the release's own tolerance for that output, `litefleet.tolerance`), and
the record signs it (`QualityRecord.closeness_to_previous`): the band a device re-measures
before it installs the variant (`device/agent.py`).
"""

from __future__ import annotations

import math
import tempfile
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from litefleet.errors import UserError
from litefleet.fsutil import atomic_write_json, read_json
from litefleet.golden import GoldenSet, golden_file_bytes, load_golden_files
from litefleet.goldeneval import class_answers_isolated, golden_arrays, output_closeness_isolated
from litefleet.registry.buildfolder import Build
from litefleet.registry.repository import Repository
from litefleet.release import (
    QualityRecord,
    ReleaseIndex,
    RolloutState,
    closeness_key,
    closeness_keys_clash,
)
from litefleet.tolerance import output_checks

DEFAULT_TOLERANCE = 0.03
"""How far below the previous good release a new one may fall on its golden set (absolute
accuracy): a 200-sample golden set moves by 0.005 per sample, quantization by ~0.01."""
CHANCE_SIGMAS = 3.0
"""Standard errors above chance a variant's golden accuracy must be (one-sided ~0.13 %)."""
MAX_CLOSENESS_FIGURES = 24
"""Closeness figures one release signs (variants x non-class outputs, ~35 bytes each: the
index entry stays within its few KB); past it, each variant keeps its first outputs', in
output order. A detector's 3-4 outputs in 6 variants fit."""


class QualityPolicy(BaseModel):
    """`REPO/quality/<model>.json`: the publisher's quality rules for one model."""

    model_config = ConfigDict(extra="forbid")

    floor: float | None = Field(default=None, ge=0, le=1)
    tolerance: float = Field(default=DEFAULT_TOLERANCE, ge=0, le=1)
    set_by: str = ""
    """`first publish (release N)` or `operator`."""
    updated: str = ""


def policy_path(repo: Repository, model: str) -> Path:
    return repo.path / "quality" / f"{model}.json"


def read_policy(repo: Repository, model: str) -> QualityPolicy:
    data = read_json(policy_path(repo, model))
    return QualityPolicy.model_validate(data) if data else QualityPolicy()


def set_floor(
    repo: Repository, model: str, floor: float | None, tolerance: float | None = None
) -> QualityPolicy:
    """The operator's floor (and tolerance) for `model` (`litefleet repo floor`)."""
    if floor is not None and not 0 <= floor <= 1:
        raise UserError(f"floor must be within 0..1, not {floor}")
    if tolerance is not None and not 0 <= tolerance <= 1:
        raise UserError(f"tolerance must be within 0..1, not {tolerance}")
    with repo.lock():
        old = read_policy(repo, model)
        new = old.model_copy(
            update={
                "floor": floor if floor is not None else old.floor,
                "tolerance": tolerance if tolerance is not None else old.tolerance,
                "set_by": "operator",
                "updated": _now(),
            }
        )
        _write(repo, model, new)
    return new


def _write(repo: Repository, model: str, policy: QualityPolicy) -> None:
    path = policy_path(repo, model)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_json(path, policy.model_dump(mode="json"))


def chance_bound(num_classes: int, samples: int) -> float:
    """Golden accuracy a classifier must exceed not to be called chance-level."""
    if num_classes < 2 or samples < 1:
        return 0.0
    p = 1.0 / num_classes
    return p + CHANCE_SIGMAS * math.sqrt(p * (1 - p) / samples)


@dataclass
class Assessment:
    """What `assess` decided: the record signed in the release and the default gate."""

    record: QualityRecord | None
    min_accuracy: float | None
    """The default golden accuracy a device requires (None: no labels, no default)."""
    notes: list[str] = field(default_factory=list)
    """Lines for the publisher (an override used, a floor set)."""
    first_floor: float | None = None
    """The floor to store after a successful first publish."""


def assess(
    repo: Repository,
    model: str,
    build: Build,
    golden_set: GoldenSet,
    index: ReleaseIndex | None,
    rollout: RolloutState | None,
    *,
    allow_regression: bool = False,
    tolerance: float | None = None,
) -> Assessment:
    """Apply the three rules (module doc) to `build` on `golden_set` (the golden samples
    the release will sign) and measure its non-class outputs' closeness to the previous
    good release; raise a one-line `UserError` on a refusal unless `allow_regression`."""
    policy = read_policy(repo, model)
    tol = policy.tolerance if tolerance is None else tolerance
    with tempfile.TemporaryDirectory(prefix="litefleet-quality-") as tmp:
        work = Path(tmp)
        golden = work / "golden.npz"
        golden.write_bytes(golden_file_bytes(golden_set))
        inputs, labels, _ = golden_arrays(golden)
        models = {}
        for cand in build.report.candidates:
            models[cand.name] = work / f"{cand.name}.tflite"
            models[cand.name].write_bytes(build.files[cand.name])
        previous = _previous_good(index, rollout)
        closeness = _closeness(build, models, repo, previous, work)
        if labels is None or build.report.num_classes < 2 or len(inputs) != 1:
            # not a one-input classifier: no labels to judge by, only the previous release
            return Assessment(record=_closeness_record(previous, closeness), min_accuracy=None)
        before = _previous_golden(repo, previous, work) if previous is not None else None
        goldens = [golden] if before is None else [golden, before[0]]
        answers = _answers(list(models.values()), goldens)
    own = {
        name: float((answers[i][0] == labels[: len(answers[i][0])]).mean())
        for i, name in enumerate(models)
    }
    prev = None
    if before is not None:
        _, prev_labels, reference = before
        prev_accuracy = float((reference == prev_labels).mean())
        accuracy = {
            name: float((answers[i][1] == prev_labels[: len(answers[i][1])]).mean())
            for i, name in enumerate(models)
        }
        agreement = {
            name: float((answers[i][1] == reference[: len(answers[i][1])]).mean())
            for i, name in enumerate(models)
        }
        prev = (accuracy, agreement, prev_accuracy)
    refusals: list[str] = []
    n = len(answers[0][0])
    bound = chance_bound(build.report.num_classes, n)
    worst_name = min(own, key=lambda k: own[k])
    worst = own[worst_name]
    if worst <= bound:
        refusals.append(
            f"variant {worst_name!r}: golden accuracy {worst:.3f} is at chance level"
            f" (1/{build.report.num_classes} = {1 / build.report.num_classes:.3f}; needs more"
            f" than {bound:.3f} over {n} samples)"
        )
    if policy.floor is not None and worst < policy.floor:
        refusals.append(
            f"variant {worst_name!r}: golden accuracy {worst:.3f} is below the {model} floor"
            f" {policy.floor:.3f} (`litefleet repo floor` to change it)"
        )
    if prev is not None:
        accuracy, agreement, prev_accuracy = prev
        name = min(accuracy, key=lambda k: accuracy[k])
        if accuracy[name] < prev_accuracy - tol:
            refusals.append(
                f"variant {name!r}: accuracy {accuracy[name]:.3f} on release"
                f" {previous.version}'s golden inputs is {prev_accuracy - accuracy[name]:.3f}"
                f" below release {previous.version}'s {prev_accuracy:.3f}"
                f" (tolerance {tol:.3f})"
            )
    notes: list[str] = []
    if refusals and not allow_regression:
        raise UserError(f"refusing a quality regression: {refusals[0]} (--allow-regression)")
    if refusals:
        notes.append(f"published despite: {'; '.join(refusals)} (--allow-regression)")
    gate = max(bound, policy.floor or 0.0, worst - tol)
    record = QualityRecord(
        golden_accuracy={k: round(v, 4) for k, v in own.items()},
        floor=policy.floor,
        tolerance=tol,
        chance_bound=round(bound, 4),
        previous=previous.version if previous is not None else None,
        previous_accuracy=round(prev[2], 4) if prev else None,
        accuracy_on_previous={k: round(v, 4) for k, v in prev[0].items()} if prev else {},
        agreement_with_previous={
            **({k: round(v, 4) for k, v in prev[1].items()} if prev else {}),
            **closeness,
        },
        allowed_regression=bool(refusals),
        refusals=refusals,
    )
    first = None
    if policy.floor is None:
        first = round(max(bound, worst - tol), 4)
        notes.append(f"quality floor of {model} set to {first:.3f} (worst variant - {tol:g})")
    return Assessment(record, round(min(1.0, gate), 4), notes, first)


def remember_first_floor(
    repo: Repository, model: str, assessment: Assessment, version: int
) -> None:
    """Store the floor a first publish set (after the release was signed)."""
    if assessment.first_floor is None:
        return
    policy = read_policy(repo, model)
    if policy.floor is not None:
        return
    _write(
        repo,
        model,
        policy.model_copy(
            update={
                "floor": assessment.first_floor,
                "set_by": f"first publish (release {version})",
                "updated": _now(),
            }
        ),
    )


def _previous_good(index: ReleaseIndex | None, rollout: RolloutState | None):
    """The newest release whose rollout is active (a paused or aborted one is not good)."""
    if index is None or rollout is None:
        return None
    good = [
        r
        for r in index.releases
        if r.version in rollout.rollouts and rollout.rollouts[r.version].status == "active"
    ]
    return max(good, key=lambda r: r.version, default=None)


def _answers(models: list[Path], goldens: list[Path]) -> list[list[np.ndarray]]:
    outcome = class_answers_isolated(models, goldens)
    if not outcome.ok:
        raise UserError(f"the build's models do not run on the golden sets: {outcome.reason}")
    return [[np.asarray(a, dtype=np.int64) for a in per] for per in outcome.value]


def _previous_golden_file(repo: Repository, previous, work: Path) -> Path | None:
    """The previous release's golden set (its two signed files as one), or None when they
    are gone or unreadable."""
    golden = work / "previous-golden.npz"
    if golden.is_file():
        return golden
    inputs = repo.read_target(previous.golden_inputs.path)
    reference = repo.read_target(previous.golden_reference.path)
    if inputs is None or reference is None:
        return None
    (work / "previous-inputs.npz").write_bytes(inputs)
    (work / "previous-reference.npz").write_bytes(reference)
    try:
        ins, labels, outs = load_golden_files(
            work / "previous-inputs.npz", work / "previous-reference.npz"
        )
    except UserError:
        return None
    golden.write_bytes(golden_file_bytes(GoldenSet(ins, labels, outs)))
    return golden


def _previous_golden(repo: Repository, previous, work: Path):
    """(path, labels, reference answers) of the previous release's golden set; None when
    it is gone or has no labels or reference."""
    golden = _previous_golden_file(repo, previous, work)
    if golden is None:
        return None
    _, labels, answers = golden_arrays(golden)
    if labels is None or answers is None:
        return None
    return golden, labels, answers


def _closeness(
    build: Build, models: dict[str, Path], repo: Repository, previous, work: Path
) -> dict[str, float]:
    """Each variant's closeness to the previous good release on its golden inputs, per
    non-class output (keys `closeness_key`): the release's own tolerance for that output
    (`tolerance.output_checks`, what its gate applies), the previous release's reference."""
    checks = {
        k: check for k, check in enumerate(output_checks(build.report)) if check.kind == "close"
    }
    if previous is None or not checks or closeness_keys_clash(list(models)):
        return {}
    golden = _previous_golden_file(repo, previous, work)
    if golden is None:
        return {}
    outcome = output_closeness_isolated(list(models.values()), golden, checks)
    if not outcome.ok:
        raise UserError(f"the build's models do not run on the golden sets: {outcome.reason}")
    per_variant = MAX_CLOSENESS_FIGURES // len(models)
    figures: dict[str, float] = {}
    for name, shares in zip(models, outcome.value, strict=True):
        for key in sorted(shares, key=int)[:per_variant]:
            figures[closeness_key(name, int(key))] = round(float(shares[key]), 4)
    return figures


def _closeness_record(previous, closeness: dict[str, float]) -> QualityRecord | None:
    """The record of a release without labels: only its closeness to the previous."""
    if not closeness:
        return None
    return QualityRecord(previous=previous.version, agreement_with_previous=closeness)


def _now() -> str:
    return datetime.now(UTC).replace(microsecond=0).isoformat()
