"""Golden files: exact round trips, deterministic bytes, the first format, the byte budget."""

from __future__ import annotations

import io

import numpy as np
import pytest

from litefleet.errors import UserError
from litefleet.golden import (
    GoldenSet,
    fit_budget,
    golden_file_bytes,
    inputs_bytes,
    load_golden_file,
    load_golden_files,
    reference_bytes,
    stratified_order,
)


def sample_set(n: int = 40, side: int = 8, labels: bool = True) -> GoldenSet:
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (n, side, side, 3)).astype(np.float32) / np.float32(255)
    extra = rng.normal(size=(n, 5)).astype(np.float32)
    y = (np.arange(n) % 4) if labels else None
    return GoldenSet([images, extra], y, [rng.random((n, 4), dtype=np.float32), extra * 2])


def test_two_inputs_two_outputs_round_trip_bit_for_bit(tmp_path):
    g = sample_set()
    (tmp_path / "i.npz").write_bytes(inputs_bytes(g))
    (tmp_path / "r.npz").write_bytes(reference_bytes(g))
    inputs, labels, reference = load_golden_files(tmp_path / "i.npz", tmp_path / "r.npz")
    assert all(np.array_equal(a, b) for a, b in zip(inputs, g.inputs, strict=True))
    assert all(a.dtype == np.float32 for a in inputs)
    assert np.array_equal(labels, g.labels)
    assert all(np.array_equal(a, b) for a, b in zip(reference, g.reference, strict=True))
    with np.load(tmp_path / "i.npz") as z:  # images exact in 1/255 steps: stored as uint8
        assert z["in0"].dtype == np.uint8 and z["in1"].dtype == np.float32


def test_bytes_depend_only_on_the_arrays():
    """Same arrays, same bytes (no time stamp): an unchanged golden set keeps its hash."""
    g = sample_set()
    assert inputs_bytes(g) == inputs_bytes(sample_set())
    assert reference_bytes(g) == reference_bytes(sample_set())


def test_the_first_format_still_reads(tmp_path):
    x = np.random.default_rng(1).random((6, 8), dtype=np.float32)
    np.savez(tmp_path / "golden.npz", x=x, y=np.arange(6), reference=x[:, :3])
    g = load_golden_file(tmp_path / "golden.npz")
    assert np.array_equal(g.inputs[0], x) and np.array_equal(g.reference[0], x[:, :3])
    new = io.BytesIO(golden_file_bytes(g))
    assert np.array_equal(load_golden_file(new).labels, np.arange(6))


def test_unreadable_or_inconsistent_files_are_one_line_errors(tmp_path):
    (tmp_path / "junk.npz").write_bytes(b"not a zip")
    with pytest.raises(UserError, match="unreadable"):
        load_golden_files(tmp_path / "junk.npz", None)
    np.savez(tmp_path / "uneven.npz", in0=np.zeros((3, 2)), y=np.zeros(4))
    with pytest.raises(UserError, match="different sample counts"):
        load_golden_files(tmp_path / "uneven.npz", None)


def test_stratified_order_keeps_every_label_in_any_prefix():
    labels = np.array([0] * 30 + [1] * 5 + [2] * 5)
    order = stratified_order(labels, len(labels))
    assert sorted(order.tolist()) == list(range(40))
    assert set(labels[order[:3]].tolist()) == {0, 1, 2}


def test_budget_trims_stratified_and_fits():
    g = sample_set(n=200, side=16)
    full = len(inputs_bytes(g)) + len(reference_bytes(g))
    budget = full // 4
    t = fit_budget(g, budget)
    assert len(t.inputs) + len(t.reference) <= budget
    assert 0 < len(t.golden) < 200 and t.dropped == 200 - len(t.golden)
    assert len(t.golden) > 200 // 4 * 0.8  # near the most that fits, not a few samples
    counts = np.bincount(t.golden.labels, minlength=4)
    assert counts.max() - counts.min() <= 1  # the label mix is kept
    assert fit_budget(g, full).dropped == 0
    with pytest.raises(UserError, match="not even one sample"):
        fit_budget(g, 100)
