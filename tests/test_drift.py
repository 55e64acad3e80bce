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


def test_statistics_are_bounded_for_any_input_size():
    """A 224x224x3 input gives the same few KB of statistics as an 8x8 one."""
    from litefleet.release import MAX_DRIFT_FEATURES

    rng = np.random.default_rng(0)
    big = rng.random((64, 224, 224, 3), dtype=np.float32)
    stats = reference_stats(big)
    assert len(stats.edges) <= MAX_DRIFT_FEATURES
    assert len(stats.model_dump_json()) < 16 * 1024
    small = reference_stats(rng.random((64, 8, 8), dtype=np.float32))
    assert len(small.edges) == 64 and small.inputs[0].per_feature == 1  # one per pixel


def test_monitor_sees_a_shift_of_an_image_input_and_of_a_second_input():
    rng = np.random.default_rng(1)
    train = [rng.random((400, 64, 64, 3), dtype=np.float32), rng.normal(0, 1, (400, 3))]
    stats = reference_stats(train)
    assert len(stats.inputs) == 2 and sum(i.features for i in stats.inputs) <= 64
    same, darker, second = DriftMonitor(stats), DriftMonitor(stats), DriftMonitor(stats)
    for _ in range(300):
        img, vec = rng.random((64, 64, 3), dtype=np.float32), rng.normal(0, 1, 3)
        same.observe([img, vec], None)
        darker.observe([img * 0.5, vec], None)
        second.observe([img[None], rng.normal(2, 1, (1, 3))], None)  # batch axis of 1 too
    assert same.drift() < 0.1 < 0.25 < darker.drift()
    assert second.drift() > same.drift() + 0.1


def test_an_input_of_another_shape_or_old_statistics_count_no_drift():
    from litefleet.release import LegacyFeatureStats

    stats = reference_stats(np.random.default_rng(2).random((50, 16)))
    m = DriftMonitor(stats)
    m.observe(np.ones(17), None)  # not the shape the statistics describe: not binned
    assert m.drift() == 0.0 and m.predictions == 1
    legacy = DriftMonitor(LegacyFeatureStats(edges=[[0.0, 1.0]], fractions=[[1.0]]))
    legacy.observe(np.ones(1), None)
    assert legacy.drift() == 0.0


def test_the_monitor_keeps_to_its_share_of_the_inference_time():
    """With the inference time given, a monitor skips inputs on a model that runs in
    microseconds and looks at every one on a slow model; the first inputs are always seen."""
    import numpy as np

    from litefleet.drift import WARMUP, DriftMonitor, reference_stats

    rng = np.random.default_rng(0)
    train = rng.random((200, 32, 32, 3), dtype=np.float32)
    x = rng.random((32, 32, 3), dtype=np.float32)
    fast, slow = DriftMonitor(reference_stats(train)), DriftMonitor(reference_stats(train))
    for _ in range(2000):
        fast.observe(x, None, inference_s=1e-7)  # 0.1 µs: no budget to speak of
        slow.observe(x, None, inference_s=1.0)  # a second: every input fits
    assert fast.skipped > 1000 and fast.snapshot().predictions == 2000
    assert slow.skipped == 0
    assert fast.drift() > 0  # the first inputs were binned all the same
    first = DriftMonitor(reference_stats(train))
    for _ in range(WARMUP):
        first.observe(x, None, inference_s=1e-9)
    assert first.skipped == 0


def test_one_slow_look_does_not_stop_the_monitor_looking():
    """A look that took 50 ms (a busy device, a pause) on a model whose inference takes a
    second: the next input pays it back, every later one is looked at. The credit was capped
    at 2 ms, below the measured cost, so the monitor skipped every input from then on (seen
    under load)."""
    import time

    import numpy as np

    from litefleet.drift import WARMUP, DriftMonitor, reference_stats

    rng = np.random.default_rng(0)
    train = rng.random((200, 32, 32, 3), dtype=np.float32)
    x = rng.random((32, 32, 3), dtype=np.float32)
    monitor = DriftMonitor(reference_stats(train))
    gather = monitor._gather
    calls = []

    def slow_once(*args):
        calls.append(1)
        if len(calls) == WARMUP + 5:
            time.sleep(0.05)
        return gather(*args)

    monitor._gather = slow_once
    for _ in range(WARMUP + 200):
        monitor.observe(x, None, inference_s=1.0)
    assert monitor.skipped <= 1 and len(calls) == WARMUP + 200 - monitor.skipped, monitor.skipped
