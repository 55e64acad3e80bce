"""Variant stickiness in the simulator: the agent's own `rank_variants` picks each device's
variant; staying on the installed family lets the patches apply."""

from __future__ import annotations

from litefleet.sim.engine import FleetRun
from litefleet.sim.traces import make_traces

from .conftest import small

FAMILIES = {
    "a-int8": {"accuracy": 0.970, "bytes_factor": 1.0},
    "b-int8": {"accuracy": 0.969, "bytes_factor": 0.8},
    "c-int8": {"accuracy": 0.968, "bytes_factor": 0.3},
}


def run(tolerance: float):
    cfg = small(
        **{
            "releases.variants": FAMILIES,
            "releases.accuracy_jitter": 0.004,
            "releases.bad_versions": [],
            "runs": [{"name": "r", "strategy": "periodic", "sticky_tolerance": tolerance}],
        }
    )
    traces = make_traces(cfg, len(cfg.releases.publish_days) + 1)
    return moved(FleetRun(cfg, traces, cfg.runs[0]).run().bytes)


def moved(counter) -> dict[str, int]:
    return {
        "total": sum(counter.values()),
        "full": sum(v for k, v in counter.items() if k.endswith("/full")),
    }


def test_sticky_devices_apply_patches_and_move_fewer_bytes():
    today, sticky = run(0.0), run(0.02)
    assert sticky["full"] == 0, "every sticky update goes through a patch"
    assert today["full"] > 0, "hopping between variants forces full downloads"
    assert sticky["total"] < today["total"]


def test_one_variant_config_is_unchanged_by_the_tolerance():
    cfg = small(runs=[{"name": "r", "strategy": "periodic", "sticky_tolerance": 0.0}])
    traces = make_traces(cfg, len(cfg.releases.publish_days) + 1)
    a = FleetRun(cfg, traces, cfg.runs[0]).run().bytes
    cfg2 = small(runs=[{"name": "r", "strategy": "periodic", "sticky_tolerance": 0.5}])
    b = FleetRun(cfg2, traces, cfg2.runs[0]).run().bytes
    assert a == b
