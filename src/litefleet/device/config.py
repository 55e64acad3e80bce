"""The device's settings, `HOME/config.json`, written by `litefleet agent init`.

The whole file is validated with pydantic at `init` (nothing is written when it fails) and
on every load: an unknown key or a wrong type, here or in the strategy's `policy`, is one
line naming the key (`policy.rules.min_battery: ...`), never a TypeError at the first check.
"""

from __future__ import annotations

import socket
import uuid
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from litefleet.device.policy import StrategyName
from litefleet.device.probation import ProbationRules
from litefleet.device.profile import DeviceProfile
from litefleet.device.push import PushConfig
from litefleet.errors import UserError
from litefleet.fsutil import atomic_write_json, read_json
from litefleet.release import PRECISIONS, Precision, Signature
from litefleet.validation import one_line

CONFIG = "config.json"


class AgentConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    server: str = Field(pattern=r"^https?://[^\s/]+")
    model: str = Field(pattern=r"^[A-Za-z0-9._-]+$")
    device_id: str = Field(pattern=r"^[A-Za-z0-9._:-]+$", max_length=128)
    channel: str = "stable"
    token: str | None = None
    strategy: StrategyName = "periodic"
    policy: dict[str, Any] = Field(default_factory=dict)
    """Overrides of the strategy's dataclass fields (seconds, thresholds, `rules`)."""
    conditions_file: str | None = None
    """Read device conditions from this JSON file on every cycle instead of the machine."""
    precisions: list[Precision] = Field(default_factory=lambda: list(PRECISIONS))
    latency_budget_ms: float | None = None
    prefer: Literal["accuracy", "size", "speed"] = "accuracy"
    sticky_tolerance: float = Field(default=0.01, ge=0, le=1)
    """Stay on the installed variant (so a patch applies) while its accuracy is within this
    of the best variant that fits; 0 always takes the best."""
    keep: int = Field(default=3, ge=2)
    probation: ProbationRules = Field(default_factory=ProbationRules)
    pinned_signature: Signature | None = None
    timeout_s: int = Field(default=10, gt=0)
    # hardening (issue 9): budgets of the isolated gate, the crash-loop counter, deadlines
    gate_timeout_s: float | None = Field(default=None, gt=0)
    """Wall-clock and CPU limit of one isolated health-gate run; None: derived from the
    release's signed latency (`health.gate_limits`)."""
    gate_memory_mb: int = Field(default=1024, ge=256)
    max_attempts: int = Field(default=2, ge=1)
    """Times the agent may die while attempting one version before it blocks it."""
    check_deadline_s: float = Field(default=900.0, gt=0)
    """A whole check (metadata, downloads, gate) ends by then, whatever the server does."""
    metadata_deadline_s: float = Field(default=60.0, gt=0)
    """Overall deadline of one metadata download (on top of `timeout_s` per read)."""
    min_throughput_bytes_s: float = Field(default=8192.0, gt=0)
    """A target download may take `metadata_deadline_s` + its size / this, no longer."""
    push: PushConfig | None = None
    """The push channel (issue 23): broker URL, on/off, jitter and rate limit of nudges."""

    @model_validator(mode="after")
    def _push_needs_token(self) -> AgentConfig:
        if self.push is not None and self.push.enabled and not self.token:
            raise UserError("push needs the device's token (agent init --token)")
        return self

    @model_validator(mode="after")
    def _policy_fits_strategy(self) -> AgentConfig:
        self.make_policy()  # raises UserError naming the setting
        return self

    def make_policy(self):
        """The strategy object these settings describe (validated)."""
        from litefleet.device.policy import make_policy

        return make_policy(self.strategy, **dict(self.policy))

    def profile(self) -> DeviceProfile:
        return DeviceProfile(
            precisions=tuple(self.precisions),
            latency_budget_ms=self.latency_budget_ms,
            prefer=self.prefer,
            sticky_tolerance=self.sticky_tolerance,
        )

    @model_validator(mode="before")
    @classmethod
    def _nest_flat_probation(cls, data: Any) -> Any:
        """Configs written before `probation` was one object had `probation_<rule>` keys."""
        if isinstance(data, dict) and any(k.startswith("probation_") for k in data):
            data = dict(data)
            nested = dict(data.get("probation") or {})
            for key in [k for k in data if k.startswith("probation_")]:
                nested[key.removeprefix("probation_")] = data.pop(key)
            data["probation"] = nested
        return data


def default_device_id() -> str:
    return f"{socket.gethostname()}-{uuid.uuid4().hex[:8]}".replace("_", "-")


def validate_config(data: dict[str, Any]) -> AgentConfig:
    """Settings -> `AgentConfig`, or a `UserError` in one line naming the key at fault."""
    try:
        return AgentConfig.model_validate(data)
    except ValidationError as exc:
        raise UserError(one_line(exc, known=AgentConfig.model_fields)) from None


def load_config(home: Path) -> AgentConfig:
    path = Path(home) / CONFIG
    try:
        data = read_json(path)
    except ValueError as exc:  # not JSON (a cut write would not do it: writes are atomic)
        raise UserError(f"{path} is invalid: not JSON ({exc})") from None
    if data is None:
        raise UserError(f"{home} is not an agent home: run `litefleet agent init` first")
    if not isinstance(data, dict):
        raise UserError(f"{path} is invalid: not a JSON object")
    try:
        return validate_config(data)
    except UserError as exc:
        raise UserError(f"{path} is invalid: {exc}") from None


def read_policy_file(path: Path) -> dict[str, Any]:
    """Strategy settings from a TOML or JSON file (`--policy-file`)."""
    import json
    import tomllib

    try:
        text = Path(path).read_text()
    except OSError as exc:
        raise UserError(f"cannot read policy file {path}: {exc.strerror or exc}") from None
    try:
        data = tomllib.loads(text) if Path(path).suffix == ".toml" else json.loads(text)
    except (tomllib.TOMLDecodeError, json.JSONDecodeError) as exc:
        kind = "TOML" if Path(path).suffix == ".toml" else "JSON"
        raise UserError(f"policy file {path} is not valid {kind}: {exc}") from None
    if not isinstance(data, dict):
        raise UserError(f"policy file {path} must hold an object of settings")
    return data


def save_config(home: Path, config: AgentConfig) -> None:
    atomic_write_json(Path(home) / CONFIG, config.model_dump(mode="json", exclude_none=True))
