"""Traces: the world is drawn once per seed and every kind behaves as configured."""

from __future__ import annotations

import numpy as np

from litefleet.sim.traces import METERED, NONE, UNMETERED, make_traces
from tests.sim.conftest import small


def test_same_seed_same_world_other_seed_other_world():
    a, b = make_traces(small(), 3), make_traces(small(), 3)
    c = make_traces(small(seed=1), 3)
    for name in ("network", "battery", "charging", "cpu", "tz", "usage", "latent", "bucket"):
        assert np.array_equal(getattr(a, name), getattr(b, name)), name
    assert not np.array_equal(a.network, c.network)


def test_kinds_keep_their_networks_and_power():
    t = make_traces(small(devices=2000), 3)
    kind = {name: t.kind == k for k, name in enumerate(t.kind_names)}
    gw, phone, cell = kind["gateway"], kind["phone"], kind["cellular"]
    assert set(np.unique(t.network[gw])) <= {NONE, UNMETERED}
    assert set(np.unique(t.network[cell])) <= {NONE, METERED}
    assert {METERED, UNMETERED} <= set(np.unique(t.network[phone]))
    assert t.charging[gw].all() and (t.battery[gw] == 100).all()
    assert t.battery[phone].min() >= 1.0 and t.battery[phone].max() <= 100.0
    assert not t.charging[phone].all()
    # offline spells exist but are the exception
    offline = (t.network == NONE).mean()
    assert 0.001 < offline < 0.2
    assert len(np.unique(t.tz)) > 5


def test_conditions_read_the_device_hour_from_the_traces():
    from litefleet.device.conditions import ConditionsArray

    t = make_traces(small(), 3)
    idx = np.repeat(np.arange(0, t.devices, 7), 5)
    hours = np.tile([0, 5, 13, 30, 100], len(idx) // 5)
    now = 3600.0 * hours + 30.0
    c = t.conditions_many(idx, now)
    assert isinstance(c, ConditionsArray)
    assert np.array_equal(c.network, t.network[idx, hours])
    assert np.array_equal(c.battery_percent, t.battery[idx, hours])
    assert np.array_equal(c.charging, t.charging[idx, hours])
    assert np.array_equal(c.cpu_load, t.cpu[idx, hours])
    assert np.array_equal(c.free_disk_bytes, t.free_disk[idx])
    assert np.allclose(c.local_hour, (now / 3600.0 + t.tz[idx]) % 24.0)
    # the fleet is varied: a default Conditions() for everyone would fail here
    assert len(np.unique(c.network)) == 3
    assert len(np.unique(c.battery_percent)) > 10
    assert len(np.unique(np.round(c.local_hour))) > 5
    assert set(np.unique(c.charging)) == {True, False}


def test_traces_on_disk_are_the_traces_in_memory(tmp_path):
    """Workers map the files the parent's pool drew: the same arrays as drawn in memory."""
    from dataclasses import fields

    from litefleet.sim.traces import Traces

    cfg = small(devices=40_000, days=2)  # more than one chunk
    a, b = make_traces(cfg, 3), make_traces(cfg, 3, tmp_path)
    for f in fields(Traces):
        if f.name != "kind_names":
            assert np.array_equal(getattr(a, f.name), getattr(b, f.name)), f.name
    assert isinstance(b.state, np.memmap) and not b.state.flags.writeable


def test_dark_hours_are_a_full_day_without_network():
    t = make_traces(small(devices=3000, days=20), 3)
    off = t.network == NONE
    for d, h in zip(t.dark_device[:50], t.dark_hour[:50], strict=True):
        assert off[d, max(0, h - 23) : h + 1].all()
    # and every such hour is listed
    d = int(t.dark_device[0]) if len(t.dark_device) else 0
    run = np.convolve(off[d].astype(int), np.ones(24, dtype=int), "full")[: t.hours]
    listed = set(t.dark_hour[t.dark_device == d].tolist())
    assert listed == {h for h in range(23, t.hours) if run[h] == 24} | {
        h for h in range(23) if off[d, : h + 1].all()
    }
