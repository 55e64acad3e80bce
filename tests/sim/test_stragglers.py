"""Stragglers: who reached a release late or never, and why, from the real policy's rule codes."""

from __future__ import annotations

import numpy as np

from litefleet.sim.config import RunConfig
from litefleet.sim.engine import FleetRun
from litefleet.sim.runner import releases_of, run_one
from litefleet.sim.stragglers import online_share
from litefleet.sim.traces import NONE, make_traces
from tests.sim.conftest import small

STRICT = RunConfig(name="strict", strategy="conditional", policy={"rules": {"escalation": None}})
ESCALATING = RunConfig(name="conditional", strategy="conditional")


def _full_file_fleet(**more):
    # v2 is a full retrain with no patch (1.2 MB): only an unmetered network may fetch it
    return small(
        days=9,
        **{"releases.retrain_versions": [2], "releases.retrain_patch_bytes": 10**9},
        **more,
    )


def test_cellular_devices_never_update_without_an_unmetered_network():
    cfg = _full_file_fleet()
    traces = make_traces(cfg, len(releases_of(cfg)))
    out = run_one(cfg, STRICT, traces).summary
    never = out["stragglers"]
    assert never["versions"] == [2] and never["devices"] > 0
    top = never["releases"]["2"]["groups"][0]
    assert (top["kind"], top["reason"]) == ("cellular", "unmetered")
    # the finding is checked against the world: those devices never had Wi-Fi at all
    assert top["never_unmetered"] == top["devices"]
    cellular = traces.kind == traces.kind_names.index("cellular")
    assert top["devices"] <= int(cellular.sum())
    assert "never saw an unmetered network" in " ".join(never["lines"])
    v2 = out["staleness"]["releases"]["2"]
    assert v2["online_hours_to_95"] is None
    cellular_late = v2["stragglers"]["by_kind_reason"]["cellular"]
    assert cellular_late["unmetered"] >= 0.9 * v2["stragglers"]["by_kind"]["cellular"]
    # with the escalation (the default) the same devices get it
    escalated = run_one(cfg, ESCALATING, traces).summary
    assert escalated["stragglers"]["devices"] < never["devices"]
    assert escalated["staleness"]["releases"]["2"]["online_hours_to_95"] is not None


def test_online_share_leaves_out_devices_without_network_for_a_day():
    # long offline spells, so that some devices are dark (no network for 24 h) at times
    cfg = small(
        devices=400,
        **{
            "fleet.kinds": {
                "box": {"share": 1.0, "offline_per_day": 0.4, "offline_hours_mean": 30.0}
            }
        },
    )
    traces = make_traces(cfg, len(releases_of(cfg)))
    sim = FleetRun(cfg, traces, cfg.runs[0])
    sim.run()
    times, share = online_share(sim, 2)
    assert len(traces.dark_device) > 0
    off = traces.network == NONE
    first = int(sim.server.published[2] // 3600)
    for k in range(0, len(times), 7):
        h = first + k
        dark = np.array([off[d, max(0, h - 23) : h + 1].all() for d in range(cfg.devices)])
        reached = sim.waits.reach[:, 2] <= times[k]
        expected = (reached & ~dark).sum() / max(1, (~dark).sum())
        assert share[k] == expected
