"""Variant ranking: device constraints first, then accuracy; the installed variant sticks
while it is close enough, so the release's patch applies instead of a full download."""

from __future__ import annotations

from litefleet.device.conditions import Conditions
from litefleet.device.profile import (
    DeviceProfile,
    clearly_better,
    newcombe_interval,
    rank_variants,
    swap_reason,
)
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


# --------------------------------------------------------------- issue 19: resolution


def small_release(n: int | None, current_acc: float, best_acc: float) -> Release:
    """v2 where the big variant scores `best_acc` and the installed small one `current_acc`
    on `n` test samples."""
    return Release(
        version=2,
        created="",
        **release_fields("m", 2),
        accuracy_samples=n,
        variants={
            "baseline-float32": variant("float32", best_acc, 143_000),
            "distilled-int8": variant("int8", current_acc, 12_000),
        },
    )


def test_one_sample_of_80_never_swaps_to_a_much_larger_variant():
    """The issue's cameras: 80 test samples, 1 sample = 1.25 pp > the 0.01 tolerance."""
    release = small_release(80, current_acc=70 / 80, best_acc=71 / 80)
    ranked, _ = rank_variants(release, DeviceProfile(), Conditions(), current="distilled-int8")
    assert names(ranked)[0] == "distilled-int8"
    # without the sample count, the fixed tolerance alone would have swapped
    release = small_release(None, current_acc=70 / 80, best_acc=71 / 80)
    ranked, _ = rank_variants(release, DeviceProfile(), Conditions(), current="distilled-int8")
    assert names(ranked)[0] == "baseline-float32"


def test_a_difference_the_data_resolves_still_swaps_and_says_why():
    release = small_release(300, current_acc=0.80, best_acc=0.95)
    profile = DeviceProfile()
    ranked, why_not = rank_variants(release, profile, Conditions(), current="distilled-int8")
    assert names(ranked)[0] == "baseline-float32"
    reason = swap_reason(release, ranked, "baseline-float32", "distilled-int8", profile, why_not)
    assert "distilled-int8 -> baseline-float32" in reason
    assert "+15.00 pp" in reason and "on 300 test samples" in reason and "interval" in reason
    assert swap_reason(release, ranked, "distilled-int8", "distilled-int8", profile) == ""


def test_a_variant_that_no_longer_fits_is_named_in_the_swap_reason():
    release = small_release(300, current_acc=0.95, best_acc=0.95)
    tight = DeviceProfile(precisions=("float32",))
    ranked, why_not = rank_variants(release, tight, Conditions(), current="distilled-int8")
    reason = swap_reason(release, ranked, "baseline-float32", "distilled-int8", tight, why_not)
    assert "int8 unsupported" in reason


def test_the_interval_narrows_with_more_samples():
    """Newcombe's interval (checked against his 1998 paper's example 56/70 - 48/80:
    0.0524 to 0.3339) and its width shrinking as n grows."""
    low, high = newcombe_interval(56 / 70, 48 / 80, 70, 80)
    assert round(low, 4) == 0.0524 and round(high, 4) == 0.3339
    intervals = [newcombe_interval(0.95, 0.93, n) for n in (80, 300, 3000)]
    widths = [high - low for low, high in intervals]
    assert widths[0] > widths[1] > widths[2]
    assert clearly_better(0.95, 0.93, 30_000, 0.01) and not clearly_better(0.95, 0.93, 300, 0.01)
