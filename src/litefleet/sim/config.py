"""Settings of a fleet simulation: one pydantic model, every distribution with its default.

Everything random is drawn per device (or per device and release) from these settings and
the seed, so the same seed gives the same fleet, and every strategy runs on the same fleet.
A file (`--config sim.toml` or `.json`) overrides any subset:

    devices = 2000
    [releases]
    publish_days = [1, 4]
    bad_versions = []
    [[runs]]
    name = "conditional-any-time"
    strategy = "conditional"
    policy = { rules = { window = [0, 24] } }
"""

from __future__ import annotations

import json
import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from litefleet.device.policy import StrategyName
from litefleet.errors import UserError

Span = tuple[float, float]
"""A uniform draw per device in [low, high]."""


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class KindConfig(_Section):
    """One kind of device: how its network, power, load and app usage behave."""

    share: float = Field(ge=0)
    """Relative weight of this kind in the fleet."""
    network: Literal["unmetered", "metered", "home_wifi"] = "unmetered"
    """`home_wifi`: unmetered between `home_start` and `home_end` local time, metered otherwise."""
    home_start: Span = (18.0, 21.0)
    home_end: Span = (7.0, 9.0)
    power: Literal["mains", "battery"] = "mains"
    """`battery`: drains by day, charges in the nightly window `charge_start`-`charge_end`."""
    charge_start: Span = (21.0, 24.0)
    charge_end: Span = (6.0, 8.0)
    drain_per_hour: Span = (2.0, 7.0)
    """Battery percent lost per awake hour (a quarter of it while asleep)."""
    charge_per_hour: float = 30.0
    day_charge_prob: float = Field(0.03, ge=0, le=1)
    """Chance per daytime hour of being on a charger anyway (car, desk)."""
    cpu_busy_prob: float = Field(0.1, ge=0, le=1)
    """Chance per hour that the device is busy (cpu load 0.8 instead of 0.1)."""
    offline_per_day: float = Field(0.2, ge=0)
    """Rate of offline spells (Poisson), each lasting an exponential number of hours."""
    offline_hours_mean: float = Field(3.0, gt=0)
    predictions_per_hour: Span = (60.0, 1.0)
    """App usage: lognormal with (median, sigma). Feedback needs predictions to say anything."""
    free_disk_mb: Span = (200.0, 20000.0)


def _default_kinds() -> dict[str, KindConfig]:
    return {
        # routers, kiosks, cameras on Ethernet and mains power
        "gateway": KindConfig(share=0.3, network="unmetered", power="mains", cpu_busy_prob=0.15),
        # phones and tablets: Wi-Fi at home in the evening and at night, cellular by day
        "phone": KindConfig(
            share=0.5,
            network="home_wifi",
            power="battery",
            cpu_busy_prob=0.1,
            offline_per_day=0.3,
            predictions_per_hour=(30.0, 1.0),
            free_disk_mb=(100.0, 30000.0),
        ),
        # vehicles, remote sensors: a SIM card only, powered
        "cellular": KindConfig(
            share=0.2,
            network="metered",
            power="mains",
            offline_per_day=0.5,
            offline_hours_mean=2.0,
            predictions_per_hour=(120.0, 0.7),
        ),
    }


class FleetConfig(_Section):
    kinds: dict[str, KindConfig] = Field(default_factory=_default_kinds)
    tz_offsets: list[float] = Field(
        default_factory=lambda: [-8.0, -6.0, -5.0, -3.0, 0.0, 1.0, 2.0, 3.0, 5.5, 8.0, 9.0, 10.0]
    )
    """UTC offsets in hours; each device draws one uniformly."""

    @model_validator(mode="after")
    def _some_devices(self) -> FleetConfig:
        if not self.kinds or sum(k.share for k in self.kinds.values()) <= 0:
            raise ValueError("fleet.kinds needs at least one kind with a positive share")
        if not self.tz_offsets:
            raise ValueError("fleet.tz_offsets must not be empty")
        return self


class VariantConfig(_Section):
    """One variant family of every release (for the stickiness measurement)."""

    accuracy: float = Field(0.95, ge=0, le=1)
    """Its mean accuracy across releases."""
    bytes_factor: float = Field(1.0, gt=0)
    """Its file and patch sizes relative to `full_bytes` / `patch_bytes`."""
    precision: Literal["float32", "float16", "dynamic", "int8"] = "int8"


class ReleaseConfig(_Section):
    """The release schedule, the file sizes and which releases are bad.

    Default sizes come from real litefleet builds of the digits model with a wider baseline
    (recipe `[model] hidden = [1024, 1024]`, so the file is larger than the conditional
    strategy's 256 KiB fast lane, as a production model is): `baseline-int8.tflite` of
    `litefleet build` is 1,184,392 bytes; a last-layer fine-tune of it (`--model
    baseline.keras --fine-tune-last-layer`) gives a bsdiff4 patch of 6,261 bytes; a retrain
    with another seed (`--seed 1`) a patch of 1,119,908 bytes. The default 128-64 digits
    model is 25,096 bytes with an 839-byte fine-tune patch: every download of it takes the
    fast lane. `--sizes-from OLD NEW` measures any two builds.
    """

    model: str = "digits"
    variant: str = "baseline-int8"
    full_bytes: int = Field(1_184_392, gt=0)
    patch_bytes: int = Field(6_261, gt=0)
    """Size of a patch from either of the two previous releases (the registry publishes
    patches from the last two, and only when smaller than the file)."""
    patch_depth: int = Field(2, ge=0)
    publish_days: list[float] = Field(default_factory=lambda: [1.0, 8.0, 15.0, 22.0])
    """Day of each new release (v2, v3, ...); v1 runs everywhere at the start."""
    rollout_stages: list[tuple[float, float]] = Field(
        default_factory=lambda: [(0.0, 10.0), (24.0, 50.0), (72.0, 100.0)]
    )
    """(hours after publishing, percent): the staged rollout of every release."""
    bad_versions: list[int] = Field(default_factory=lambda: [3])
    """Versions that misbehave in the field (one of four by default: v3, published day 8)."""
    retrain_versions: list[int] = Field(default_factory=lambda: [4])
    """Full retrains (the others are last-layer fine-tunes): every weight moves, so a patch
    across one is `retrain_patch_bytes`."""
    retrain_patch_bytes: int = Field(1_119_908, gt=0)
    """bsdiff4 between two independent trainings of the same architecture; the registry
    publishes no patch that is not smaller than the file."""
    variants: dict[str, VariantConfig] = Field(default_factory=dict)
    """Several variant families per release (empty: `variant` alone). Devices rank them with
    the agent's own `rank_variants`, with the run's `sticky_tolerance`."""
    accuracy_jitter: float = Field(0.0, ge=0)
    """Std-dev of each variant's accuracy from one release to the next: a retrain moves
    each variant by a test sample or two, so which one is best changes between releases."""
    accuracy_samples: int | None = Field(None, ge=1)
    """Test samples each accuracy is measured on: accuracies become multiples of 1/n and the
    release carries n (`Release.accuracy_samples`); None = exact accuracies, no count."""

    @model_validator(mode="after")
    def _check(self) -> ReleaseConfig:
        if any(d < 0 for d in self.publish_days):
            raise ValueError("releases.publish_days must be >= 0")
        if not self.rollout_stages or any(not 0 <= p <= 100 for _, p in self.rollout_stages):
            raise ValueError("releases.rollout_stages needs (hours, percent 0..100) pairs")
        return self


class BadReleaseConfig(_Section):
    """What a device on a bad release sees: the feedback the smart policy and probation read."""

    error_rate: float = 0.08
    drift: float = 0.4
    confidence: float = 0.55
    healthy_error_rate: float = 0.002
    healthy_drift: float = 0.05
    healthy_confidence: float = 0.9
    latent_share: float = Field(0.5, ge=0, le=1)
    """Share of devices where the symptoms start only after probation (rarer inputs):
    probation cannot catch it there, only the fleet's halt or the smart alarm can."""
    latent_hours: Span = (1.0, 24.0)
    """Symptoms of a latent device start this long after probation ended."""
    gate_catch: float = Field(0.0, ge=0, le=1)
    """Chance that the golden-set health gate refuses a bad release before it runs."""


class ServerConfig(_Section):
    """The registry's automatic halt (`litefleet.registry.halt.HaltRule`) and what follows."""

    halt_threshold: float = 0.2
    halt_min_devices: int = 5
    abort_after_hours: float | None = Field(1.0, ge=0)
    """The server pauses a failing rollout; an operator aborts it this long after, which
    sends devices back. None: paused only (devices stay until the next release)."""


class PushSim(_Section):
    """Push nudges (issue 23; `litefleet.device.push`): a device online when the signed state
    changes checks at once for a pause or an abort, within `release_spread_s` for a release
    or a stage; a device offline then checks when it is back online (within
    `reconnect_spread_s`). Polling goes on as configured. The device's rate limit never
    binds here (a few nudges a day)."""

    halt_spread_s: float = Field(0.0, ge=0)
    release_spread_s: float = Field(180.0, ge=0)
    reconnect_spread_s: float = Field(30.0, ge=0)


class RunConfig(_Section):
    """One simulated strategy: a name in the report and overrides of the policy's fields."""

    name: str = Field(pattern=r"^[A-Za-z0-9._-]+$")
    strategy: StrategyName
    policy: dict[str, Any] = Field(default_factory=dict)
    push: PushSim | None = None
    """Push nudges on top of the strategy's polling (None: polling only)."""
    sticky_tolerance: float = Field(0.01, ge=0, le=1)
    """The agent's `--sticky-tolerance`: 0 always takes the most accurate variant."""
    sample_aware: bool = True
    """False: devices ignore the release's test sample count (the fixed tolerance alone,
    as before issue 19), for comparisons."""


def _default_runs() -> list[RunConfig]:
    return [
        RunConfig(name="periodic", strategy="periodic"),
        RunConfig(name="conditional", strategy="conditional"),
        RunConfig(name="smart", strategy="smart"),
        RunConfig(name="periodic-no-jitter", strategy="periodic", policy={"jitter": 0.0}),
    ]


ONE_MACHINE_DEVICES = 1_000_000
"""The largest fleet `simulate` runs without Ray: about 4.5 GB and 5 minutes on 2 cores."""


class SimConfig(_Section):
    devices: int = Field(10_000, ge=1, le=100_000_000)
    """One machine simulates up to `ONE_MACHINE_DEVICES`; more need `--ray` (sim/shard.py)."""
    days: float = Field(30.0, gt=0, le=365)
    seed: int = 0
    tick_minutes: float = Field(5.0, gt=0)
    """How often a device looks at its feedback while it runs a bad release (probation
    verdict, smart alarm). The agent's loop ticks every 5 s; feedback moves far slower."""
    step_minutes: float = Field(5.0, gt=0)
    """The engine's time step: each device is decided at its own exact time, but telemetry
    reaches the server (and may halt a release) only at the end of each round of a step."""
    probation: dict[str, Any] = Field(default_factory=dict)
    """Overrides of `litefleet.device.probation.ProbationRules`."""
    fleet: FleetConfig = Field(default_factory=FleetConfig)
    releases: ReleaseConfig = Field(default_factory=ReleaseConfig)
    bad: BadReleaseConfig = Field(default_factory=BadReleaseConfig)
    server: ServerConfig = Field(default_factory=ServerConfig)
    runs: list[RunConfig] = Field(default_factory=_default_runs, min_length=1)

    @model_validator(mode="after")
    def _unique_runs(self) -> SimConfig:
        names = [r.name for r in self.runs]
        if len(set(names)) != len(names):
            raise ValueError(f"run names must be unique: {names}")
        return self


def load_config(path: Path | None, **overrides: Any) -> SimConfig:
    """Read a TOML or JSON file (or nothing), then apply top-level overrides that are not None."""
    data: dict[str, Any] = {}
    if path is not None:
        path = Path(path)
        try:
            text = path.read_text()
        except OSError as exc:
            raise UserError(f"cannot read simulation config {path}: {exc.strerror}") from None
        try:
            data = json.loads(text) if path.suffix == ".json" else tomllib.loads(text)
        except (json.JSONDecodeError, tomllib.TOMLDecodeError) as exc:
            kind = "JSON" if path.suffix == ".json" else "TOML"
            raise UserError(f"{path} is not valid {kind}: {exc}") from None
    for key, value in overrides.items():
        if value is None:
            continue
        section, _, field = key.partition(".")
        if field:
            data.setdefault(section, {})[field] = value
        else:
            data[key] = value
    try:
        return SimConfig.model_validate(data)
    except ValidationError as exc:
        where = f" in {path}" if path else ""
        first = exc.errors()[0]
        loc = ".".join(str(p) for p in first["loc"]) or "config"
        raise UserError(f"invalid simulation setting{where}: {loc}: {first['msg']}") from None
