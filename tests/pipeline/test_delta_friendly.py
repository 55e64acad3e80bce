"""A fine-tune of the last layer changes only the last layer of every variant, so each
variant's delta patch is small (≤ 10 % of the file; measured 1.6–7.9 % in bench_delta)."""

from __future__ import annotations

import numpy as np
import pytest

from litefleet.delta import make_patch
from litefleet.release import BuildReport

pytestmark = pytest.mark.slow


def test_every_variant_patch_of_a_last_layer_fine_tune_is_small(build_factory):
    v1 = build_factory("v1")
    v2 = build_factory("v2", fine_tune_from="v1")
    report = BuildReport.model_validate_json((v1 / "report.json").read_text())
    ratios = {}
    for cand in report.candidates:
        old, new = (v1 / cand.file).read_bytes(), (v2 / cand.file).read_bytes()
        assert old != new, f"{cand.name} did not change: the fine-tune did nothing"
        ratios[cand.name] = len(make_patch(old, new)) / len(new)
    assert {"pruned-int8", "distilled-int8", "distilled-pruned-int8", "qat-int8"} <= set(ratios)
    assert max(ratios.values()) <= 0.10, ratios


def test_fine_tuned_pruned_candidates_keep_their_mask(build_factory):
    from litefleet.pipeline.models import load_model

    v1 = build_factory("v1")
    v2 = build_factory("v2", fine_tune_from="v1")
    for name in ("pruned", "distilled-pruned"):
        before, after = load_model(v1 / f"{name}.keras"), load_model(v2 / f"{name}.keras")
        kernels = [
            (a, b)
            for a, b in zip(before.get_weights(), after.get_weights(), strict=True)
            if a.ndim > 1
        ]
        for old, new in kernels[:-1]:
            np.testing.assert_array_equal(old, new)  # frozen layers: bit-identical
        old, new = kernels[-1]
        np.testing.assert_array_equal(old == 0, new == 0)  # the last layer keeps its zeros
        assert not np.array_equal(old, new)
