"""Which variant of a release suits this device: precision, memory, disk, latency.

The signed index gives each variant's size, accuracy and the build machine's latency; the
device profile says what the device supports. Ranking here is a first guess from signed
numbers; the health gate then measures latency on the device itself, and the agent moves
on to the next variant when the measured one misses the budget.

Bytes to move count too: a patch exists only from the same variant of the previous release,
so a device that hops between variants (distilled-int8 -> baseline-int8 -> ...) downloads
every release in full. The installed variant therefore stays first while it still fits the
device, meets the latency budget and the data cannot tell it is worse than the best variant
by more than `sticky_tolerance`.

"Cannot tell" is a confidence interval, not a fixed margin: the signed accuracies were
measured on `Release.accuracy_samples` test samples (80 samples resolve 1.25 pp, more than a
0.01 tolerance). The device leaves its variant only when the lower end of Newcombe's 95 %
interval (hybrid score method, from two Wilson intervals) on best − installed exceeds the
tolerance; `swap_reason` says in words why it did. Without a sample count (older releases)
the fixed tolerance applies as before.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

from litefleet.device.conditions import Conditions
from litefleet.release import PRECISIONS, Precision, Release, VariantEntry

Preference = Literal["accuracy", "size", "speed"]

Z_95 = 1.959964
"""Two-sided 95 % normal quantile."""


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
    and is not provably worse than the best by more than `profile.sticky_tolerance` (see the
    module doc).
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
    return stick(ranked, current, profile, release.accuracy_samples), "; ".join(why)


def stick(
    ranked: list[tuple[str, VariantEntry]],
    current: str | None,
    profile: DeviceProfile,
    samples: int | None = None,
) -> list[tuple[str, VariantEntry]]:
    """Move the installed variant to the front unless it is provably worse than the best.

    `samples` is the test set size behind the accuracies (`Release.accuracy_samples`)."""
    if current is None or not ranked or ranked[0][0] == current:
        return ranked
    here = next((item for item in ranked if item[0] == current), None)
    if here is None:
        return ranked
    budget = profile.latency_budget_ms
    if budget is not None and here[1].latency_ms_p50 > budget:
        return ranked
    best = max(v.accuracy for _, v in ranked)
    if clearly_better(best, here[1].accuracy, samples, profile.sticky_tolerance):
        return ranked
    return [here, *(item for item in ranked if item[0] != current)]


def clearly_better(best: float, current: float, samples: int | None, tolerance: float) -> bool:
    """Is `best` more than `tolerance` above `current`, beyond what `samples` can resolve?"""
    if not samples:
        return current < best - tolerance
    low, _ = newcombe_interval(best, current, samples)
    return low > tolerance


def wilson_interval(p: float, n: int, z: float = Z_95) -> tuple[float, float]:
    """Wilson score interval of a proportion `p` observed on `n` samples."""
    denominator = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denominator
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denominator
    return max(0.0, centre - half), min(1.0, centre + half)


def newcombe_interval(
    p1: float, p2: float, n1: int, n2: int | None = None, z: float = Z_95
) -> tuple[float, float]:
    """Newcombe's hybrid score interval (1998, method 10) of p1 − p2, measured on `n1` and
    `n2` samples (`n2` = `n1` when omitted).

    The variants share one test set (paired samples) and the index carries no per-sample
    agreement, so the unpaired interval is used: wider, i.e. more reluctant to swap."""
    l1, u1 = wilson_interval(p1, n1, z)
    l2, u2 = wilson_interval(p2, n2 or n1, z)
    d = p1 - p2
    return (
        d - math.sqrt((p1 - l1) ** 2 + (u2 - p2) ** 2),
        d + math.sqrt((u1 - p1) ** 2 + (p2 - l2) ** 2),
    )


def swap_reason(
    release: Release,
    ranked: list[tuple[str, VariantEntry]],
    chosen: str,
    current: str | None,
    profile: DeviceProfile,
    why_not: str = "",
) -> str:
    """Why the device installs `chosen` instead of its installed variant `current` ("" when
    it keeps its variant or has none): for the CheckResult reason and the log."""
    if current is None or chosen == current:
        return ""
    entry = release.variants.get(chosen)
    here = dict(ranked).get(current)
    if here is None:
        gone = next((w for w in why_not.split("; ") if w.startswith(f"{current}:")), "")
        if current not in release.variants:
            return f"switched {current} -> {chosen}: release {release.version} has no {current}"
        return f"switched {current} -> {chosen}: {gone or f'{current} does not fit this device'}"
    budget = profile.latency_budget_ms
    if budget is not None and here.latency_ms_p50 > budget:
        return (
            f"switched {current} -> {chosen}: {current} takes {here.latency_ms_p50:.3g} ms, "
            f"over the {budget:g} ms budget"
        )
    if entry is None:
        return f"switched {current} -> {chosen}"
    n = release.accuracy_samples
    gain = (entry.accuracy - here.accuracy) * 100
    size = f"{here.bytes:,} -> {entry.bytes:,} B"
    if n:
        low, high = newcombe_interval(entry.accuracy, here.accuracy, n)
        return (
            f"switched {current} -> {chosen} ({size}): {gain:+.2f} pp accuracy, 95 % interval "
            f"[{low * 100:+.2f}, {high * 100:+.2f}] pp on {n} test samples, above the "
            f"{profile.sticky_tolerance * 100:g} pp tolerance"
        )
    return (
        f"switched {current} -> {chosen} ({size}): {gain:+.2f} pp accuracy, more than the "
        f"{profile.sticky_tolerance * 100:g} pp tolerance"
    )
