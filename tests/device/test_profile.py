"""Variant ranking: device constraints first, then accuracy; the installed variant sticks
while it is close enough, so the release's patch applies instead of a full download."""

from __future__ import annotations

from litefleet.device.conditions import Conditions
from litefleet.device.profile import DeviceProfile, rank_variants
from litefleet.release import Release, VariantEntry
from litefleet.testing.releases import release_fields


def variant(precision: str, accuracy: float, nbytes: int, latency: float = 1.0) -> VariantEntry:
    return VariantEntry(
        path=f"m/2/{precision}.tflite",
        precision=precision,
        bytes=nbytes,
        accuracy=accuracy,
        latency_ms_p50=latency,
        sha256="0" * 64,
    )


RELEASE = Release(
    version=2,
    created="",
    **release_fields("m", 2),
    variants={
        "baseline-int8": variant("int8", 0.960, 30_000),
        "distilled-int8": variant("int8", 0.955, 20_000, latency=5.0),
        "baseline-float32": variant("float32", 0.950, 100_000),
    },
)


def names(ranked) -> list[str]:
    return [n for n, _ in ranked]


def test_without_an_installed_variant_the_most_accurate_comes_first():
    ranked, _ = rank_variants(RELEASE, DeviceProfile(), Conditions())
    assert names(ranked)[0] == "baseline-int8"


def test_the_installed_variant_sticks_within_the_tolerance():
    ranked, _ = rank_variants(RELEASE, DeviceProfile(), Conditions(), current="distilled-int8")
    assert names(ranked)[0] == "distilled-int8"
    assert set(names(ranked)) == set(RELEASE.variants)


def test_it_does_not_stick_beyond_the_tolerance_or_the_budget():
    strict = DeviceProfile(sticky_tolerance=0.001)
    ranked, _ = rank_variants(RELEASE, strict, Conditions(), current="distilled-int8")
    assert names(ranked)[0] == "baseline-int8"
    fast = DeviceProfile(latency_budget_ms=2.0)
    ranked, _ = rank_variants(RELEASE, fast, Conditions(), current="distilled-int8")
    assert names(ranked)[0] == "baseline-int8"


def test_it_does_not_stick_to_a_variant_the_device_cannot_run():
    ints = DeviceProfile(precisions=("int8",))
    ranked, _ = rank_variants(RELEASE, ints, Conditions(), current="baseline-float32")
    assert "baseline-float32" not in names(ranked) and names(ranked)[0] == "baseline-int8"
