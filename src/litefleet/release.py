"""The formats shared by the build, release and device sides.

Data flows one way (pipeline -> registry -> device); this module is the only one all three
import, so it holds the contracts between them and nothing heavy (pydantic + hashlib only):

- the build folder that `litefleet build` writes and `litefleet publish` reads;
- the target paths inside a TUF repository;
- the signed target `custom` data of a model file (`VariantInfo`);
- the signed release index `<model>/releases.json` (`ReleaseIndex`), signed by the offline
  targets key, and the rollout state `<model>/rollout.json` (`RolloutState`), signed by the
  online `rollout` delegated role so the server can halt a rollout without being able to
  sign a model;
- the rollout cohort rule (`in_rollout`): a stable hash, so raising a percentage only adds
  devices, and the simulator, the server and the agent agree on who is in.

python-tuf does not validate `custom` data: every reader parses it with these models
(`extra="forbid"`), so a malformed or unexpected field is an error, not a silent default.
Every name that becomes part of a path (model, variant, channel, file, target path) is
checked against a strict pattern at parse time, and a release index whose target paths are
not exactly the ones its names imply is refused: a signed `../../escape` never reaches a
file system, on the device or at publish.
"""

from __future__ import annotations

import hashlib
from typing import Annotated, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    model_serializer,
    model_validator,
)

Precision = Literal["float32", "float16", "dynamic", "int8", "int4", "weight-int8", "weight-int4"]
"""How a `.tflite` file stores its weights and computes: the four converter recipes, then
the AI Edge quantizer's: `int4` (int4 weights, dynamic-range int8 compute) and the
weight-only ones (int8/int4 weights, float compute)."""

PRECISIONS: tuple[Precision, ...] = (
    "float32",
    "float16",
    "dynamic",
    "int8",
    "int4",
    "weight-int8",
    "weight-int4",
)


Task = Literal["classification", "detection", "segmentation", "regression", "other"]
"""What a model does: classification is one task among others."""

NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$"
"""Model, variant and channel names: one safe path segment (no '/', never '.' or '..')."""
Name = Annotated[str, Field(pattern=NAME_PATTERN)]
FileName = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}\.(tflite|npz)$")]
TargetPath = Annotated[
    str,
    Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}(/[A-Za-z0-9][A-Za-z0-9._-]{0,127}){1,2}$"),
]
"""A target path: 2 or 3 safe segments (`<model>/<version>/<file>`, `<model>/releases.json`)."""
Version = Annotated[int, Field(ge=1, le=2**31 - 1)]
"""A release counter: positive, and within `MAX_EVENT_VERSION` (telemetry, PostgreSQL)."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# --------------------------------------------------------------------------- build folder

BUILD_REPORT = "report.json"
"""File name of the build report inside a build folder."""

GOLDEN_SET = "golden.npz"
"""Golden set inside a build folder: `in0`, `in1`, ... (inputs in the model's input order),
`y` (int labels, only when labels exist) and `out0`, `out1`, ... (the float reference
outputs). Readers still accept the first format's `x`, `y`, `reference` (one input, one
output): `litefleet.golden.load_golden_file`."""


class TensorSpec(_Strict):
    """One input or output tensor of a converted model, as LiteRT reports it."""

    name: str
    shape: list[int]
    dtype: str
    scale: float = 0.0
    """Quantization scale; 0.0 for a tensor that is not quantized."""
    zero_point: int = 0


class Signature(_Strict):
    """The inputs and outputs an app feeds and reads. Shapes keep the batch axis as 1."""

    inputs: list[TensorSpec]
    outputs: list[TensorSpec]

    def compatible_with(self, other: Signature) -> bool:
        """Same number, shapes and dtypes of tensors (names differ by converter path)."""
        return _same_tensors(self.inputs, other.inputs) and _same_tensors(
            self.outputs, other.outputs
        )


def _same_tensors(a: list[TensorSpec], b: list[TensorSpec]) -> bool:
    return len(a) == len(b) and all(
        x.shape[1:] == y.shape[1:] and x.dtype == y.dtype for x, y in zip(a, b, strict=True)
    )


class CandidateReport(_Strict):
    """Every measured figure for one `.tflite` file of a build."""

    name: Name
    """Variant name, also the file stem: e.g. `pruned-int8` -> `pruned-int8.tflite`."""
    file: FileName
    source: str
    """The Keras candidate it was converted from: baseline, pruned, qat, distilled."""
    precision: Precision
    signature: Signature
    accuracy: float
    agreement: float
    """Share of test samples where its top class equals the float Keras baseline's."""
    latency_ms_p50: float
    latency_ms_p95: float
    throughput_per_s: float
    raw_bytes: int
    zstd_bytes: int
    sparsity: float
    """Share of exactly-zero values among the weights of the float Keras candidate."""
    parameters: int
    sha256: str
    output_errors: dict[str, float] = Field(default_factory=dict)
    """Per output (by tensor name): the 99th percentile of |this file's output - the float
    reference| / the reference's range on the build's samples; the gate's per-output
    tolerances are derived from it (`litefleet.tolerance`)."""


class SkippedCandidate(_Strict):
    """A candidate a build did not make, and why (e.g. pruning a SavedModel needs Keras)."""

    name: str
    reason: str


class BuildReport(_Strict):
    """`report.json` of a build folder: what `litefleet publish` trusts about the files."""

    schema_version: Literal[1] = 1
    dataset: str
    num_classes: int
    input_shape: list[int]
    keras_accuracy: float
    """Accuracy of the float Keras baseline on the test split (the reference)."""
    candidates: list[CandidateReport]
    skipped: list[SkippedCandidate] = Field(default_factory=list)
    model_kind: str = "default"
    """What the build started from: default, tf_keras, keras3, saved_model or tflite."""
    task: Task = "classification"
    """What the model does; decides how the gate judges outputs (`GateSpec`)."""
    class_names: list[str] = Field(default_factory=list)
    preprocessing: dict = Field(default_factory=dict)
    """How raw inputs become model inputs (copied to the release's `card.json`)."""
    golden: FileName = GOLDEN_SET
    reference_stats: FeatureStats | LegacyFeatureStats | None = None
    """Drift reference; an old build's per-element `LegacyFeatureStats` is not shipped
    (publish derives bounded statistics from the golden inputs instead)."""
    environment: dict[str, str] = Field(default_factory=dict)
    recipe: dict = Field(default_factory=dict)
    seconds: float = 0.0
    test_samples: int | None = None
    """Samples the candidates' accuracies were measured on (their resolution is 1/n)."""


MAX_DRIFT_FEATURES = 64
"""Drift statistics never hold more features than this, whatever the input size or count."""
MAX_DRIFT_BINS = 32
MAX_DRIFT_PER_FEATURE = 256
"""Input elements sampled into one pooled feature, at most (bounds the monitor's cost)."""


class InputFeatures(_Strict):
    """How one model input becomes pooled drift features (`litefleet.drift.pool`).

    The sample is flattened; `features * per_feature` evenly spaced elements are taken
    (element `floor((j + 0.5) * elements / (features * per_feature))` for each j), and
    every run of `per_feature` consecutive ones is averaged into one feature: a fixed,
    small cost per sample whatever the input size.
    """

    elements: int = Field(ge=1)
    """Elements of one sample of this input (batch axis excluded): a check at runtime."""
    features: int = Field(ge=1, le=MAX_DRIFT_FEATURES)
    per_feature: int = Field(ge=1, le=MAX_DRIFT_PER_FEATURE)


class FeatureStats(_Strict):
    """`drift.json`: reference statistics of the training inputs, for on-device drift (PSI
    per pooled feature). Bounded: at most `MAX_DRIFT_FEATURES` features of at most
    `MAX_DRIFT_BINS` bins, a few KB whatever the model.

    `edges[i]` are the bin edges of feature i (len = bins + 1); `fractions[i]` the share of
    training samples in each bin. Features run over `inputs` in the model's input order.
    """

    schema_version: Literal[2] = 2
    inputs: list[InputFeatures] = Field(min_length=1, max_length=MAX_DRIFT_FEATURES)
    edges: list[Annotated[list[float], Field(min_length=2, max_length=MAX_DRIFT_BINS + 1)]]
    fractions: list[Annotated[list[float], Field(min_length=1, max_length=MAX_DRIFT_BINS)]]

    @model_validator(mode="after")
    def _bounded(self) -> FeatureStats:
        n = sum(i.features for i in self.inputs)
        if n > MAX_DRIFT_FEATURES:
            raise ValueError(f"{n} drift features, more than {MAX_DRIFT_FEATURES}")
        if len(self.edges) != n or len(self.fractions) != n:
            raise ValueError(f"drift statistics list {len(self.edges)} features, inputs {n}")
        if any(len(f) != len(e) - 1 for e, f in zip(self.edges, self.fractions, strict=True)):
            raise ValueError("drift statistics: fractions do not match their bin edges")
        return self


class LegacyFeatureStats(_Strict):
    """The first format's per-element statistics (one feature per input element, unbounded).
    Read only so that old build folders still publish; never signed again."""

    edges: list[list[float]]
    fractions: list[list[float]]


BuildReport.model_rebuild()


# --------------------------------------------------------------------------- repository


def variant_path(model: str, version: int, variant: str) -> str:
    return f"{model}/{version}/{variant}.tflite"


GOLDEN_INPUTS = "golden-inputs.npz"
GOLDEN_REFERENCE = "golden-reference.npz"
DRIFT_FILE = "drift.json"
CARD_FILE = "card.json"


def release_file_path(model: str, version: int, name: str) -> str:
    """`<model>/<version>/<name>`: a per-release file (golden inputs/reference, drift, card)."""
    return f"{model}/{version}/{name}"


def golden_path(model: str, version: int) -> str:
    """The first format's single golden target (read only by `repo migrate`)."""
    return f"{model}/{version}/{GOLDEN_SET}"


def patch_path(model: str, version: int, variant: str, old_version: int) -> str:
    return f"{model}/{version}/{variant}.from-{old_version}.patch"


def index_path(model: str) -> str:
    return f"{model}/releases.json"


def rollout_path(model: str) -> str:
    return f"{model}/rollout.json"


# Size limits a device enforces on what it reads; publish refuses (before signing) anything
# above them, so a release can never be one that every device refuses.
MAX_INDEX_BYTES = 1 << 20
"""`<model>/releases.json` and `<model>/rollout.json`."""
MAX_GOLDEN_BYTES = 16 << 20
"""Each golden file (inputs, reference); the publish budget (default 1 MiB) is far below."""
MAX_DRIFT_BYTES = 256 << 10
MAX_CARD_BYTES = 256 << 10
MAX_TARGETS_METADATA_BYTES = 5_000_000
"""python-tuf's default `UpdaterConfig.targets_max_length`: a larger targets.json is refused."""
DEFAULT_GOLDEN_BUDGET = 1 << 20
"""Default byte budget of one release's golden files (inputs + reference)."""

ROLLOUT_ROLE = "rollout"
"""Name of the delegated TUF role (online key) that signs only `*/rollout.json`."""


class VariantInfo(_Strict):
    """Signed target `custom` data of a `.tflite` target: what a device may trust about it."""

    model: Name
    version: Version
    """Release counter: monotonic per model, never reused."""
    variant: Name
    precision: Precision
    signature: Signature
    accuracy: float
    latency_ms_p50: float
    raw_bytes: int
    zstd_bytes: int
    sha256: str


class PatchEntry(_Strict):
    """A bsdiff4 patch that turns the same variant of `from_version` into this one."""

    from_version: Version
    path: TargetPath
    bytes: int = Field(ge=0)


class VariantEntry(_Strict):
    path: TargetPath
    precision: Precision
    bytes: int = Field(ge=0)
    accuracy: float
    latency_ms_p50: float
    sha256: str
    patches: list[PatchEntry] = Field(default_factory=list)


class QualityRecord(_Strict):
    """What publish measured against the truth and the previous good release
    (`registry/quality.py`); signed with the release so devices and operators see it."""

    golden_accuracy: dict[Name, float] = Field(default_factory=dict, max_length=64)
    floor: float | None = None
    tolerance: float = 0.0
    chance_bound: float = 0.0
    previous: Version | None = None
    """The previous good release compared against (newest earlier active rollout)."""
    previous_accuracy: float | None = None
    accuracy_on_previous: dict[Name, float] = Field(default_factory=dict, max_length=64)
    agreement_with_previous: dict[Name, float] = Field(default_factory=dict, max_length=64)
    """How each variant agrees with the previous release on that release's golden inputs:
    the band the device gate and the live canary compare with. Two kinds of key:

    - `<variant>`: the share of inputs where its top class equals the previous release's
      (the class output);
    - `<variant>.out<k>` (`closeness_key`): for a non-class output k, the share of its
      elements within the release's tolerance for that output (`GateSpec.outputs[k]`,
      `litefleet.tolerance.close_share`) of the previous release's reference.

    The second kind shares this field rather than having its own because every reader
    forbids unknown fields: an agent of before it reads the index unchanged and, looking
    up only `<variant>`, never sees it (`closeness_to_previous` reads it)."""
    band: float = Field(default=0.02, ge=0, le=1)
    """A device refuses a variant whose agreement (or an output's closeness) with
    `previous` on that release's golden inputs falls more than this below the figure here
    (the device's own gate)."""
    allowed_regression: bool = False
    """True when a refusal was overridden (`publish --allow-regression`)."""
    refusals: list[str] = Field(default_factory=list, max_length=8)

    def closeness_to_previous(self, variant: str) -> dict[int, float]:
        """Per non-class output index: the variant's measured closeness to `previous`."""
        prefix = f"{variant}.out"
        return {
            int(key[len(prefix) :]): share
            for key, share in self.agreement_with_previous.items()
            if key.startswith(prefix) and key[len(prefix) :].isdigit()
        }


def closeness_key(variant: str, output: int) -> str:
    """The `QualityRecord.agreement_with_previous` key of a non-class output's closeness."""
    return f"{variant}.out{output}"


def closeness_keys_clash(variants: list[str]) -> bool:
    """A variant named like another's closeness key (`a` and `a.out1`): a release with
    such names carries no closeness figures (publish leaves them out)."""
    return any(v.startswith(f"{w}.out") for v in variants for w in variants if v != w)


class FileRef(_Strict):
    """A per-release, hash-verified target fetched only when a device installs the release.

    `path` may name an EARLIER release's file of the same model when the bytes are
    unchanged (golden inputs reused across releases): a device that has those bytes already
    moves nothing."""

    path: TargetPath
    bytes: int = Field(ge=0)
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")


class OutputCheck(_Strict):
    """How the gate judges one output (by tensor name)."""

    name: str = Field(max_length=256)
    kind: Literal["class", "close"]
    """class: argmax accuracy/agreement; close: numeric closeness to the reference."""
    atol: float = 0.0
    """close: max |a - ref| allowed per element (scaled by the reference's range)."""
    rtol: float = 0.0
    min_share: float = 0.99
    """close: share of elements that must be within tolerance."""


class GateSpec(_Strict):
    """What a device's health gate requires of a release on its golden set."""

    task: Task = "classification"
    class_output: int | None = 0
    """Index of the output that carries class scores, or None (no class output)."""
    min_accuracy: float | None = None
    """A device refuses the release when its golden-set accuracy is below this; None when
    the golden set has no labels."""
    min_agreement: float = 0.9
    """A device refuses the release when fewer golden outputs agree with the reference."""
    outputs: list[OutputCheck] = Field(default_factory=list, max_length=64)
    """Per-output checks (empty: the class output alone, as `min_accuracy`/`min_agreement`)."""


class ModelCard(_Strict):
    """`card.json`: what an app may want to know about a release and no device needs to
    choose one (fetched at install, kept beside the model)."""

    task: Task = "classification"
    dataset: str = ""
    num_classes: int = 0
    class_names: list[str] = Field(default_factory=list)
    input_shape: list[int] = Field(default_factory=list)
    model_kind: str = "default"
    keras_accuracy: float | None = None
    preprocessing: dict = Field(default_factory=dict)
    environment: dict[str, str] = Field(default_factory=dict)


class Release(_Strict):
    """One entry of the signed index: only what a device needs to choose (a few KB at most
    whatever the model); everything large is a per-release `FileRef` target."""

    version: Version
    channel: Name = "stable"
    created: str
    """ISO 8601 UTC time of publishing."""
    variants: dict[Name, VariantEntry]
    golden_inputs: FileRef
    """`<model>/<v>/golden-inputs.npz` (an earlier release's when unchanged)."""
    golden_reference: FileRef
    """`<model>/<v>/golden-reference.npz`: this release's float outputs, every output."""
    drift: FileRef | None = None
    """`<model>/<v>/drift.json` (bounded `FeatureStats`)."""
    card: FileRef | None = None
    """`<model>/<v>/card.json` (`ModelCard`)."""
    gate: GateSpec
    accuracy_samples: int | None = None
    """Test samples behind the variants' accuracies: a device's variant choice treats
    differences within their confidence interval as noise (`device/profile.py`)."""
    quality: QualityRecord | None = None
    """What publish measured against the truth and the previous good release."""

    def files(self) -> list[FileRef]:
        """The release's per-release files, beside its models (what an install fetches)."""
        return [f for f in (self.golden_inputs, self.golden_reference, self.drift, self.card) if f]

    def target_paths(self) -> set[str]:
        """Every target this release refers to: models, patches, files."""
        paths = {f.path for f in self.files()}
        for v in self.variants.values():
            paths.add(v.path)
            paths.update(p.path for p in v.patches)
        return paths


_RELEASE_FILES = {
    "golden_inputs": GOLDEN_INPUTS,
    "golden_reference": GOLDEN_REFERENCE,
    "drift": DRIFT_FILE,
    "card": CARD_FILE,
}


class ReleaseIndex(_Strict):
    """`<model>/releases.json`, signed by the offline targets role.

    A compacted history: publish keeps the newest `INDEX_KEEP` releases plus those the
    rollout state still lists as active, so the index stays a few tens of KB for ever."""

    schema_version: Literal[2] = 2
    model: Name
    signature: Signature
    """The signature the app expects; every release of this model keeps it."""
    releases: list[Release]

    @model_validator(mode="before")
    @classmethod
    def _name_old_format(cls, data: object) -> object:
        if isinstance(data, dict) and data.get("schema_version", 2) != 2:
            raise ValueError(
                f"release index format {data.get('schema_version')!r} is not 2:"
                " the repository needs `litefleet repo migrate`"
            )
        return data

    @model_validator(mode="after")
    def _paths_follow_names(self) -> ReleaseIndex:
        """Every target path is exactly the one its model, version and names imply; a
        per-release file may name the same file of an earlier release of this model."""
        for r in self.releases:
            for field, name in _RELEASE_FILES.items():
                ref = getattr(r, field)
                if ref is not None and not _canonical_file(ref.path, self.model, r.version, name):
                    raise ValueError(
                        f"release {r.version}: {field} path {ref.path!r} is not canonical"
                    )
            for name, v in r.variants.items():
                if v.path != variant_path(self.model, r.version, name):
                    raise ValueError(f"variant {name!r}: path {v.path!r} is not canonical")
                for p in v.patches:
                    if p.path != patch_path(self.model, r.version, name, p.from_version):
                        raise ValueError(
                            f"variant {name!r}: patch path {p.path!r} is not canonical"
                        )
        return self

    def release(self, version: int) -> Release | None:
        return next((r for r in self.releases if r.version == version), None)

    def target_paths(self) -> set[str]:
        """Every target the index refers to (what compaction must keep signed)."""
        return set().union(*(r.target_paths() for r in self.releases))


def _canonical_file(path: str, model: str, version: int, name: str) -> bool:
    """`<model>/<w>/<name>` with 1 <= w <= version (w < version: reused bytes)."""
    parts = path.split("/")
    if len(parts) != 3 or parts[0] != model or parts[2] != name or not parts[1].isdigit():
        return False
    w = int(parts[1])
    return str(w) == parts[1] and 1 <= w <= version


RolloutStatus = Literal["active", "paused", "aborted"]


Tag = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")]
PinKey = Annotated[str, Field(pattern=r"^(device|tag):[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$")]


class RolloutEntry(_Strict):
    percent: float = Field(ge=0, le=100)
    status: RolloutStatus = "active"
    reason: str = ""
    updated: str = ""
    tags: list[Tag] = Field(default_factory=list)
    """Only devices in one of these groups are offered it (empty: every device)."""

    @model_serializer(mode="wrap")
    def _omit_empty_tags(self, handler):
        return _omit_empty(handler(self), ("tags",))

    stages: list[float] = Field(default_factory=list, max_length=16)
    """Automatic stages (`publish --stages 1,10,50,100`): the server moves to the next one
    when the current one has baked and the canary judge says good (`registry/promote.py`);
    empty: an operator moves the percentage."""
    bake_s: float = Field(default=0.0, ge=0)
    """Seconds each stage bakes before the server may move on."""
    stage_since: float | None = None
    """Unix time the current stage started."""
    hold: bool = False
    """An operator's hold: no automatic step until released."""


class RolloutState(_Strict):
    """`<model>/rollout.json`, signed by the online `rollout` role: who gets which release.

    A release with no entry is not rolled out to anyone. An `aborted` release must not run:
    devices on it go back to the newest earlier release that is not aborted.
    """

    schema_version: Literal[1] = 1
    model: Name
    rollouts: dict[Version, RolloutEntry] = Field(default_factory=dict)
    pins: dict[PinKey, Version] = Field(default_factory=dict)
    """`device:ID` or `tag:NAME` -> the release those devices run, whatever the rollouts say
    (a device pin wins over a tag pin; an aborted pinned release is not run)."""
    groups: dict[Tag, list[str]] = Field(default_factory=dict)
    """Members of every tag a rollout or a pin names (the server's device groups, signed
    here so a device learns its groups from the same signature)."""

    def tags_of(self, device_id: str) -> set[str]:
        return {tag for tag, members in self.groups.items() if device_id in members}

    @model_serializer(mode="wrap")
    def _omit_empty_groups(self, handler):
        return _omit_empty(handler(self), ("pins", "groups"))


def _omit_empty(data: dict, keys: tuple[str, ...]) -> dict:
    """Leave out empty fields added later: a state that uses none of them reads the same
    as before, so agents of an older version still accept it."""
    return {k: v for k, v in data.items() if k not in keys or v}


def in_rollout(device_id: str, model: str, version: int, percent: float) -> bool:
    """Whether a device falls in a rollout of `percent` %: a stable hash, monotone in percent.

    The device's bucket is a number in [0, 100) derived from sha256(device, model, version):
    independent of the percentage, so raising it only adds devices, and a different draw per
    release, so the same devices are not always first.
    """
    return rollout_bucket(device_id, model, version) < percent


def rollout_bucket(device_id: str, model: str, version: int) -> float:
    digest = hashlib.sha256(f"{device_id}\x00{model}\x00{version}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64 * 100.0


# --------------------------------------------------------------------------- telemetry

EventType = Literal[
    "installed",
    "activated",
    "health_failed",
    "rolled_back",
    "rejected",
    "heartbeat",
    "canary",
    "operator_rollback",
]
"""`rolled_back`: the device left a release it judged bad (probation, crash loop);
`operator_rollback`: an operator moved the device (`agent rollback`, an aborted release):
never a failure of the release; `canary`: a live agreement summary (metrics `agreement`,
`samples`, `confidence_delta`)."""


MAX_EVENT_VERSION = 2**31 - 1
"""Release counters fit a 32-bit signed integer (a PostgreSQL `integer` column)."""
MAX_EVENT_SEQ = 2**62
"""Sequence numbers fit a signed 64-bit integer (a PostgreSQL `bigint` column)."""
MetricName = Annotated[str, StringConstraints(min_length=1, max_length=64)]
FiniteNumber = Annotated[float, Field(allow_inf_nan=False, ge=-1e15, le=1e15)]


class TelemetryEvent(BaseModel):
    """One event a device reports: `POST /v1/devices/{device_id}/events` with an `EventBatch`.

    `metrics` carries numbers only (drift score, latency, confidence, bytes downloaded).
    Every field is bounded (the server answers 422, never 500, to anything else): no
    NaN/Infinity (not JSON, and they break every strict reader of the database).
    """

    model_config = ConfigDict(extra="forbid")

    type: EventType
    model: str = Field(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9._-]+$")
    version: int | None = Field(default=None, ge=0, le=MAX_EVENT_VERSION)
    time: float = Field(ge=0, le=1e11, allow_inf_nan=False, description="Unix time on the device.")
    reason: str = Field(default="", max_length=1000)
    metrics: dict[MetricName, FiniteNumber] = Field(default_factory=dict, max_length=32)
    id: str | None = Field(default=None, pattern=r"^[0-9a-f]{32}$")
    """A uuid4 hex made on the device: the server stores each id once per device (an event
    without one, from an older agent, is identified by the hash of its content)."""
    seq: int | None = Field(default=None, ge=0, le=MAX_EVENT_SEQ)
    """Per-device monotonic counter (`device/telemetry.py`): an event with a lower `seq`
    than one already applied never changes the device's state on the server."""


class EventBatch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    events: list[TelemetryEvent] = Field(min_length=1, max_length=500)


def tuf_custom(info: BaseModel) -> dict:
    """`info` as TUF target `custom` data: `{"litefleet": {...}}` with floats as strings.

    TUF signs canonical JSON, which has no floats; every float is written as its exact
    decimal string (`repr`), and `Model.model_validate(custom["litefleet"])` reads it back
    to the same float (pydantic's lax mode parses numeric strings).
    """
    return {"litefleet": _floats_to_str(info.model_dump(mode="json"))}


def _floats_to_str(value: object) -> object:
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, dict):
        return {k: _floats_to_str(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_floats_to_str(v) for v in value]
    return value
