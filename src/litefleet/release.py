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
"""Golden set inside a build folder: arrays `x` (float32 inputs), `y` (int labels) and
`reference` (the float Keras model's output probabilities for `x`)."""


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
    golden: FileName = GOLDEN_SET
    reference_stats: FeatureStats | None = None
    environment: dict[str, str] = Field(default_factory=dict)
    recipe: dict = Field(default_factory=dict)
    seconds: float = 0.0


class FeatureStats(_Strict):
    """Reference statistics of the training inputs, for on-device drift (PSI per feature).

    `edges[i]` are the bin edges of feature i (len = bins + 1); `fractions[i]` the share of
    training samples in each bin. Features are the flattened input.
    """

    edges: list[list[float]]
    fractions: list[list[float]]


BuildReport.model_rebuild()


# --------------------------------------------------------------------------- repository


def variant_path(model: str, version: int, variant: str) -> str:
    return f"{model}/{version}/{variant}.tflite"


def golden_path(model: str, version: int) -> str:
    return f"{model}/{version}/{GOLDEN_SET}"


def patch_path(model: str, version: int, variant: str, old_version: int) -> str:
    return f"{model}/{version}/{variant}.from-{old_version}.patch"


def index_path(model: str) -> str:
    return f"{model}/releases.json"


def rollout_path(model: str) -> str:
    return f"{model}/rollout.json"


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


class Release(_Strict):
    version: Version
    channel: Name = "stable"
    created: str
    """ISO 8601 UTC time of publishing."""
    variants: dict[Name, VariantEntry]
    golden: TargetPath
    min_accuracy: float
    """A device refuses the release when its golden-set accuracy is below this."""
    min_agreement: float = 0.9
    """A device refuses the release when fewer golden outputs agree with the reference."""
    reference_stats: FeatureStats | None = None


class ReleaseIndex(_Strict):
    """`<model>/releases.json`, signed by the offline targets role."""

    schema_version: Literal[1] = 1
    model: Name
    signature: Signature
    """The signature the app expects; every release of this model keeps it."""
    releases: list[Release]

    @model_validator(mode="after")
    def _paths_follow_names(self) -> ReleaseIndex:
        """Every target path is exactly the one its model, version and names imply."""
        for r in self.releases:
            if r.golden != golden_path(self.model, r.version):
                raise ValueError(f"release {r.version}: golden path {r.golden!r} is not canonical")
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
    "installed", "activated", "health_failed", "rolled_back", "rejected", "heartbeat"
]


MAX_EVENT_VERSION = 2**31 - 1
"""Release counters fit a 32-bit signed integer (a PostgreSQL `integer` column)."""
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
