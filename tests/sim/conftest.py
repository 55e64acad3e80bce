"""Small fleets for fast tests: a few hundred devices over a week, every figure still moving."""

from __future__ import annotations

from typing import Any

import pytest

from litefleet.sim.config import SimConfig, load_config


def small(**sections: Any) -> SimConfig:
    """300 devices × 7 days, releases on days 1 and 3 (v3 bad), rollout 50 % then 100 %.

    `sections` are dotted overrides: `small(**{"releases.patch_depth": 0})`.
    """
    base: dict[str, Any] = {
        "devices": 300,
        "days": 7,
        "seed": 0,
        "releases": {
            "publish_days": [1.0, 3.0],
            "bad_versions": [3],
            "retrain_versions": [],
            "rollout_stages": [(0.0, 50.0), (12.0, 100.0)],
        },
    }
    for key, value in sections.items():
        section, _, field = key.partition(".")
        if field:
            base.setdefault(section, {})[field] = value
        else:
            base[key] = value
    return SimConfig.model_validate(base)


@pytest.fixture
def cfg() -> SimConfig:
    return small()


@pytest.fixture
def default_cfg() -> SimConfig:
    return load_config(None)
