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


def run_on_samples(n: int, sample_aware: bool):
    """Accuracies measured on n test samples (one sample's std-dev between releases)."""
    run_cfg = {"name": "r", "strategy": "periodic", "sticky_tolerance": 0.01}
    cfg = small(
        **{
            "releases.variants": FAMILIES,
            "releases.accuracy_jitter": 1.0 / n,
            "releases.accuracy_samples": n,
            "releases.bad_versions": [],
            "runs": [{**run_cfg, "sample_aware": sample_aware}],
        }
    )
    traces = make_traces(cfg, len(cfg.releases.publish_days) + 1)
    return moved(FleetRun(cfg, traces, cfg.runs[0]).run().bytes)


def test_a_small_test_set_cannot_make_devices_hop():
    """80 samples: one sample is 1.25 pp, over the fixed 0.01 tolerance (issue 19)."""
    fixed, interval = run_on_samples(80, False), run_on_samples(80, True)
    assert fixed["full"] > 0, "the fixed tolerance follows one-sample differences"
    assert interval["full"] == 0 and interval["total"] < fixed["total"]
