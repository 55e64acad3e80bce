"""Traces: the world is drawn once per seed and every kind behaves as configured."""

from __future__ import annotations

import numpy as np

from litefleet.sim.traces import METERED, NONE, UNMETERED, make_traces
from tests.sim.conftest import small


def test_same_seed_same_world_other_seed_other_world():
    a, b = make_traces(small(), 3), make_traces(small(), 3)
    c = make_traces(small(seed=1), 3)
    for name in ("network", "battery", "charging", "cpu", "tz", "usage", "latent"):
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
    from litefleet.device.conditions import Conditions
    from litefleet.sim.traces import NETWORKS

    t = make_traces(small(), 3)
    seen = []
    for i in range(0, t.network.shape[0], 7):
        for hour in (0, 5, 13, 30, 100):
            now = 3600.0 * hour + 30.0
            c = t.conditions(i, now)
            assert isinstance(c, Conditions)
            assert c.network == NETWORKS[t.network[i, hour]]
            assert c.battery_percent == t.battery[i, hour]
            assert c.charging == t.charging[i, hour]
            assert c.cpu_load == t.cpu[i, hour]
            assert c.free_disk_bytes == t.free_disk[i]
            assert c.local_hour == (now / 3600.0 + t.tz[i]) % 24.0
            seen.append(c)
    # the fleet is varied: a default Conditions() for everyone would fail here
    assert len({c.network for c in seen}) == 3
    assert len({c.battery_percent for c in seen}) > 10
    assert len({round(c.local_hour) for c in seen}) > 5
    assert {c.charging for c in seen} == {True, False}
