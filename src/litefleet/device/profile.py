"""Which variant of a release suits this device: precision, memory, disk, latency.

The signed index gives each variant's size, accuracy and the build machine's latency; the
device profile says what the device supports. Ranking here is a first guess from signed
numbers; the health gate then measures latency on the device itself, and the agent moves
on to the next variant when the measured one misses the budget.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from litefleet.device.conditions import Conditions
from litefleet.release import PRECISIONS, Precision, Release, VariantEntry

Preference = Literal["accuracy", "size", "speed"]


@dataclass(frozen=True)
class DeviceProfile:
    precisions: tuple[Precision, ...] = PRECISIONS
    latency_budget_ms: float | None = None
    prefer: Preference = "accuracy"
    ram_factor: float = 3.0
    """RAM needed per byte of model file (weights + arena), a conservative rule of thumb."""
    max_model_bytes: int | None = None


def rank_variants(
    release: Release, profile: DeviceProfile, conditions: Conditions
) -> tuple[list[tuple[str, VariantEntry]], str]:
    """Variants that fit, best first, and why the others were left out."""
    fit: list[tuple[str, VariantEntry]] = []
    why: list[str] = []
    for name, v in sorted(release.variants.items()):
        if v.precision not in profile.precisions:
            why.append(f"{name}: {v.precision} unsupported")
        elif v.bytes * profile.ram_factor > conditions.free_ram_bytes:
            why.append(f"{name}: needs ~{int(v.bytes * profile.ram_factor)} B RAM")
        elif v.bytes > conditions.free_disk_bytes:
            why.append(f"{name}: {v.bytes} B > free disk")
        elif profile.max_model_bytes is not None and v.bytes > profile.max_model_bytes:
            why.append(f"{name}: {v.bytes} B > max model size")
        else:
            fit.append((name, v))
    budget = profile.latency_budget_ms

    def key(item: tuple[str, VariantEntry]) -> tuple:
        v = item[1]
        over = budget is not None and v.latency_ms_p50 > budget
        if profile.prefer == "size":
            return (over, v.bytes, -v.accuracy)
        if profile.prefer == "speed":
            return (over, v.latency_ms_p50, -v.accuracy)
        return (over, -v.accuracy, v.bytes)

    return sorted(fit, key=key), "; ".join(why)
