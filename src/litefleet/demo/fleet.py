"""The demo's devices: one story each, told by its strategy and its injected conditions.

Each device is a real agent process (`litefleet agent run`) with its own home; its
conditions come from a JSON file the demo rewrites between steps (the agent re-reads it
every cycle), which is how a phone leaves Wi-Fi or a sensor's battery runs low.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from litefleet.device.status import status_of
from litefleet.fsutil import atomic_write_json, read_json
from litefleet.release import rollout_bucket

IDLE = {"cpu_load": 0.05, "local_hour": 3.0}
"""Every preset names the CPU load and the hour: a busy demo machine must not leak into the
story through the real load average (fields a file leaves out come from the machine)."""
WIFI_CHARGING = {**IDLE, "network": "unmetered", "charging": True, "battery_percent": 100.0}
METERED_ON_BATTERY = {**IDLE, "network": "metered", "charging": False, "battery_percent": 70.0}
LOW_BATTERY = {**IDLE, "network": "unmetered", "charging": False, "battery_percent": 9.0}

STAGES = (20.0, 50.0, 100.0)
"""The fine-tune's automatic rollout stages (percent of the fleet): each device's id is
chosen so that its stable bucket for release 2 falls in the stage its story needs."""
FINE_TUNE = 2

FAST = {"interval": 2.0, "jitter": 0.25, "retry_base": 1.0, "retry_max": 4.0, "defer_retry": 2.0}
"""Seconds instead of hours: the strategies' real code on a demo's time scale."""


@dataclass
class DemoDevice:
    name: str
    role: str
    strategy: str
    policy: dict[str, Any] = field(default_factory=dict)
    precisions: list[str] | None = None
    stage: int = 0
    """The index in `STAGES` of the stage that first offers it release 2."""
    device_id: str = ""
    home: Path = Path()

    @property
    def conditions_file(self) -> Path:
        return self.home.parent / f"{self.name}.conditions.json"

    def set_conditions(self, conditions: dict[str, Any]) -> None:
        atomic_write_json(self.conditions_file, conditions)

    def conditions(self) -> dict[str, Any]:
        return read_json(self.conditions_file) or {}

    def status(self) -> dict[str, Any]:
        return status_of(self.home)

    def active(self) -> int | None:
        try:
            return self.status()["active"]
        except Exception:  # a half-initialised home while the agent starts
            return None

    def results(self, log: Path) -> list[dict[str, Any]]:
        """Every check result the agent printed (one JSON object per line of its log)."""
        out = []
        if not log.exists():
            return out
        for line in log.read_text(errors="replace").splitlines():
            if line.startswith("{"):
                try:
                    out.append(json.loads(line))
                except json.JSONDecodeError:
                    continue
        return out


def demo_fleet(model: str) -> list[DemoDevice]:
    devices = [
        DemoDevice(
            "gateway",
            "factory gateway: mains power, Ethernet; checks on a fixed period",
            "periodic",
            dict(FAST),
            stage=0,
        ),
        DemoDevice(
            "camera",
            "smart camera: checks follow on-device drift and errors",
            "smart",
            {**FAST, "interval": 3.0, "min_interval": 1.0, "max_interval": 6.0},
            stage=0,
        ),
        DemoDevice(
            "kiosk",
            "kiosk with a float16-only accelerator delegate",
            "periodic",
            dict(FAST),
            precisions=["float16"],
            stage=1,
        ),
        DemoDevice(
            "phone",
            "phone: leaves Wi-Fi for a metered network; only small patches may go there",
            "conditional",
            # a patch plus the release's new golden reference and metadata (~15 KB) fits
            {**FAST, "rules": {"small_bytes": 24576, "window": None, "min_free_storage": 0}},
            precisions=["dynamic"],
            stage=1,
        ),
        DemoDevice(
            "sensor",
            "battery sensor: waits while its battery is critical, updates once charging",
            "conditional",
            {**FAST, "rules": {"window": None, "min_free_storage": 0}},
            stage=2,
        ),
    ]
    for device in devices:
        device.device_id = _cohort_id(device, model)
    return devices


def _cohort_id(device: DemoDevice, model: str) -> str:
    """The first `name-NN` whose stable rollout bucket for release 2 falls in its stage."""
    low = STAGES[device.stage - 1] if device.stage else 0.0
    for i in range(1, 1000):
        candidate = f"{device.name}-{i:02d}"
        if low <= rollout_bucket(candidate, model, FINE_TUNE) < STAGES[device.stage]:
            return candidate
    raise RuntimeError("no device id fits")  # 1000 draws never missing a 20 % band
