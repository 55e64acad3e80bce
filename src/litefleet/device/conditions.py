"""What the device is like right now: network, battery, load, storage, local time.

Policies never read the machine themselves; they get a `Conditions` snapshot from a
provider. On Linux `SystemConditions` reads psutil and `/sys/class/net`; `JsonConditions`
re-reads a JSON file on every call, so a test or a demo can change the device's situation
while the agent runs; the simulator builds `Conditions` directly.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import time
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Literal, Protocol, get_args

import numpy as np

from litefleet.errors import UserError

Network = Literal["none", "metered", "unmetered"]
NETWORK_NAMES: tuple[Network, ...] = get_args(Network)
"""The network words, indexed by their codes in `ConditionsArray.network`."""
NET_NONE, NET_METERED, NET_UNMETERED = 0, 1, 2
assert NETWORK_NAMES[NET_METERED] == "metered" and NETWORK_NAMES[NET_UNMETERED] == "unmetered"
IDLE_LOAD = 0.1
"""A Linux box whose load per core is below this counts as idle (`require_idle`)."""


@dataclass(frozen=True)
class Conditions:
    """One snapshot of the device. Defaults describe a plugged-in box on Ethernet."""

    network: Network = "unmetered"
    battery_percent: float = 100.0
    charging: bool = True
    cpu_load: float = 0.0
    """Share of CPU busy, 0..1 (load average / cores on Linux)."""
    free_disk_bytes: int = 1 << 40
    free_ram_bytes: int = 1 << 40
    local_hour: float = 12.0
    """Hour of the local day, 0 <= h < 24 (fractional: 1.5 is 01:30)."""
    idle: bool = True
    """Nothing else is running (on Linux: CPU load below `IDLE_LOAD`)."""

    def with_(self, **changes: object) -> Conditions:
        return replace(self, **changes)


@dataclass(frozen=True)
class ConditionsArray:
    """Conditions of many devices at once, one array element per device.

    The download rules are decided on these arrays (`DownloadRules.check_many`) so a fleet
    simulator can ask a million devices in one call; the agent wraps its one snapshot with
    `ConditionsArray.of`.
    """

    network: np.ndarray
    """int8 codes: `NET_NONE`, `NET_METERED`, `NET_UNMETERED` (index into `NETWORK_NAMES`)."""
    battery_percent: np.ndarray
    charging: np.ndarray
    cpu_load: np.ndarray
    free_disk_bytes: np.ndarray
    local_hour: np.ndarray
    idle: np.ndarray

    @classmethod
    def of(cls, c: Conditions) -> ConditionsArray:
        """One device's snapshot as length-1 arrays."""
        return cls(
            network=np.array([NETWORK_NAMES.index(c.network)], dtype=np.int8),
            battery_percent=np.array([c.battery_percent], dtype=np.float64),
            charging=np.array([c.charging], dtype=bool),
            cpu_load=np.array([c.cpu_load], dtype=np.float64),
            free_disk_bytes=np.array([c.free_disk_bytes], dtype=np.int64),
            local_hour=np.array([c.local_hour], dtype=np.float64),
            idle=np.array([c.idle], dtype=bool),
        )

    def __len__(self) -> int:
        return len(self.network)


class ConditionsProvider(Protocol):
    def read(self) -> Conditions: ...


class StaticConditions:
    def __init__(self, conditions: Conditions | None = None) -> None:
        self.conditions = conditions or Conditions()

    def read(self) -> Conditions:
        return self.conditions


class JsonConditions:
    """Conditions from a JSON object with any subset of the `Conditions` fields.

    Missing fields fall back to the real machine's values (or the defaults), so a file with
    `{"network": "metered"}` changes only the network.
    """

    def __init__(self, path: Path, base: ConditionsProvider | None = None) -> None:
        self.path = Path(path)
        self.base = base or StaticConditions()

    def read(self) -> Conditions:
        try:
            data = json.loads(self.path.read_text())
        except FileNotFoundError:
            raise UserError(f"conditions file not found: {self.path}") from None
        except json.JSONDecodeError as exc:
            raise UserError(f"conditions file {self.path} is not JSON: {exc}") from None
        known = {f.name for f in fields(Conditions)}
        unknown = set(data) - known
        if unknown:
            raise UserError(f"unknown fields in {self.path}: {sorted(unknown)}")
        return replace(self.base.read(), **data)


class SystemConditions:
    """The real machine (Linux first; anything missing falls back to the defaults)."""

    def __init__(self, disk_path: Path | str = "/", sys_net: Path | str = "/sys/class/net"):
        self.disk_path = str(disk_path)
        self.sys_net = Path(sys_net)

    def read(self) -> Conditions:
        import psutil

        battery = None
        with contextlib.suppress(AttributeError, NotImplementedError, OSError):
            battery = psutil.sensors_battery()
        try:
            load = os.getloadavg()[0] / (os.cpu_count() or 1)
        except OSError:
            load = psutil.cpu_percent(interval=None) / 100.0
        t = time.localtime()
        return Conditions(
            network=self._network(),
            battery_percent=float(battery.percent) if battery else 100.0,
            charging=bool(battery.power_plugged) if battery else True,
            cpu_load=min(1.0, float(load)),
            idle=float(load) < IDLE_LOAD,
            free_disk_bytes=shutil.disk_usage(self.disk_path).free,
            free_ram_bytes=int(psutil.virtual_memory().available),
            local_hour=t.tm_hour + t.tm_min / 60.0,
        )

    def _network(self) -> Network:
        """Up interfaces other than loopback; Wi-Fi and Ethernet count as unmetered,
        cellular (wwan*, rmnet*, ppp*) as metered."""
        best: Network = "none"
        try:
            names = sorted(p.name for p in self.sys_net.iterdir())
        except OSError:
            return "unmetered"  # no sysfs: assume a wired box rather than never updating
        for name in names:
            if name == "lo":
                continue
            try:
                state = (self.sys_net / name / "operstate").read_text().strip()
            except OSError:
                continue
            if state not in ("up", "unknown"):
                continue
            if name.startswith(("wwan", "rmnet", "ppp", "usb")):
                best = "metered" if best == "none" else best
            else:
                return "unmetered"
        return best
