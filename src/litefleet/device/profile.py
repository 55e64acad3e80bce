"""Which variant of a release suits this device: precision, memory, disk, latency.

The signed index gives each variant's size, accuracy and the build machine's latency; the
device profile says what the device supports. Ranking here is a first guess from signed
numbers; the health gate then measures latency on the device itself, and the agent moves
on to the next variant when the measured one misses the budget.

Bytes to move count too: a patch exists only from the same variant of the previous release,
so a device that hops between variants (distilled-int8 -> baseline-int8 -> ...) downloads
every release in full. The installed variant therefore stays first while it still fits the
device and its accuracy is within `sticky_tolerance` of the best variant's.
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
    sticky_tolerance: float = 0.01
    """Accuracy the device gives up to keep its installed variant (and patch downloads)."""


def rank_variants(
    release: Release,
    profile: DeviceProfile,
    conditions: Conditions,
    current: str | None = None,
) -> tuple[list[tuple[str, VariantEntry]], str]:
    """Variants that fit, best first, and why the others were left out.

    `current` is the installed variant: it goes first when it fits, meets the latency budget
    and is within `profile.sticky_tolerance` of the best accuracy (see the module doc).
    """
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

    ranked = sorted(fit, key=key)
    return stick(ranked, current, profile), "; ".join(why)


def stick(
    ranked: list[tuple[str, VariantEntry]], current: str | None, profile: DeviceProfile
) -> list[tuple[str, VariantEntry]]:
    """Move the installed variant to the front when it is close enough to the best."""
    if current is None or not ranked or ranked[0][0] == current:
        return ranked
    here = next((item for item in ranked if item[0] == current), None)
    if here is None:
        return ranked
    budget = profile.latency_budget_ms
    if budget is not None and here[1].latency_ms_p50 > budget:
        return ranked
    best = max(v.accuracy for _, v in ranked)
    if here[1].accuracy < best - profile.sticky_tolerance:
        return ranked
    return [here, *(item for item in ranked if item[0] != current)]
