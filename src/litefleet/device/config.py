"""The device's settings, `HOME/config.json`, written once by `litefleet agent init`."""

from __future__ import annotations

import socket
import uuid
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from litefleet.device.policy import StrategyName
from litefleet.device.probation import ProbationRules
from litefleet.device.profile import DeviceProfile
from litefleet.errors import UserError
from litefleet.fsutil import atomic_write_json, read_json
from litefleet.release import PRECISIONS, Precision, Signature

CONFIG = "config.json"


class AgentConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    server: str
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
    keep: int = Field(default=3, ge=2)
    probation: ProbationRules = Field(default_factory=ProbationRules)
    pinned_signature: Signature | None = None
    timeout_s: int = 10

    def profile(self) -> DeviceProfile:
        return DeviceProfile(
            precisions=tuple(self.precisions),
            latency_budget_ms=self.latency_budget_ms,
            prefer=self.prefer,
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


def load_config(home: Path) -> AgentConfig:
    data = read_json(Path(home) / CONFIG)
    if data is None:
        raise UserError(f"{home} is not an agent home: run `litefleet agent init` first")
    try:
        return AgentConfig.model_validate(data)
    except ValidationError as exc:
        raise UserError(f"{Path(home) / CONFIG} is invalid: {exc}") from None


def save_config(home: Path, config: AgentConfig) -> None:
    atomic_write_json(Path(home) / CONFIG, config.model_dump(mode="json", exclude_none=True))
