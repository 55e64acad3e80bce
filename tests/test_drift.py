"""PSI drift: zero on the reference distribution, large on a shifted one."""

from __future__ import annotations

import numpy as np

from litefleet.drift import DriftMonitor, psi, reference_stats


def test_psi_is_zero_for_identical_and_grows_with_shift():
    q = np.array([[0.25, 0.25, 0.25, 0.25]])
    assert psi(q, q)[0] == 0
    assert psi(q, np.array([[0.1, 0.2, 0.3, 0.4]]))[0] < psi(q, np.array([[0.0, 0.0, 0.2, 0.8]]))[0]


def test_monitor_on_reference_vs_shifted_inputs():
    rng = np.random.default_rng(0)
    train = rng.normal(0, 1, (2000, 4))
    stats = reference_stats(train, bins=10)
    same, shifted = DriftMonitor(stats), DriftMonitor(stats)
    for row in rng.normal(0, 1, (500, 4)):
        same.observe(row, np.array([0.9, 0.1]))
    for row in rng.normal(1.5, 1, (500, 4)):
        shifted.observe(row, np.array([0.6, 0.4]))
    assert same.drift() < 0.1 < 0.25 < shifted.drift()
    fb = shifted.snapshot()
    assert fb.predictions == 500 and abs(fb.confidence - 0.6) < 1e-9
    shifted.error()
    assert shifted.snapshot().error_rate == 1 / 501


def test_monitor_without_reference_reports_no_drift():
    m = DriftMonitor(None)
    m.observe(np.ones(3), None)
    assert m.drift() == 0.0 and m.snapshot().predictions == 1


def test_constant_feature_gets_a_bin():
    stats = reference_stats(np.zeros((10, 2)))
    assert all(len(e) == 2 for e in stats.edges)
