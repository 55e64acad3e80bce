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


def test_conditions_are_the_device_dataclass():
    from litefleet.device.conditions import Conditions

    t = make_traces(small(), 3)
    c = t.conditions(0, 3600.0 * 5 + 30.0)
    assert isinstance(c, Conditions)
    assert 0 <= c.local_hour < 24 and c.network in ("none", "metered", "unmetered")
