"""Settings: defaults, files, and bad input as one clear UserError."""

from __future__ import annotations

import json

import pytest

from litefleet.errors import UserError
from litefleet.sim.config import load_config


def test_defaults_match_the_issue(default_cfg):
    assert default_cfg.devices == 10_000 and default_cfg.days == 30
    assert [r.name for r in default_cfg.runs] == [
        "periodic",
        "conditional",
        "smart",
        "periodic-no-jitter",
    ]
    assert default_cfg.releases.publish_days == [1.0, 8.0, 15.0, 22.0]
    # the default model file is above the conditional strategy's fast lane, a patch below it
    from litefleet.device.policy import DownloadRules

    assert default_cfg.releases.patch_bytes < DownloadRules().small_bytes
    assert default_cfg.releases.full_bytes > DownloadRules().small_bytes


def test_toml_and_json_files_override_any_subset(tmp_path):
    toml = tmp_path / "sim.toml"
    toml.write_text(
        'devices = 50\n[releases]\nbad_versions = []\n[[runs]]\nname = "c"\n'
        'strategy = "conditional"\npolicy = { rules = { require_unmetered = false } }\n'
    )
    cfg = load_config(toml, days=2)
    assert (cfg.devices, cfg.days, cfg.releases.bad_versions) == (50, 2, [])
    assert cfg.runs[0].policy == {"rules": {"require_unmetered": False}}
    js = tmp_path / "sim.json"
    js.write_text(json.dumps({"seed": 7, "bad": {"latent_share": 1.0}}))
    cfg = load_config(js, seed=None)
    assert cfg.seed == 7 and cfg.bad.latent_share == 1.0


@pytest.mark.parametrize(
    ("text", "overrides", "words"),
    [
        ("", {"devices": 0}, "devices"),
        ("", {"days": -1}, "days"),
        ("unknown = 1\n", {}, "unknown"),
        ("[releases]\nrollout_stages = [[0, 150]]\n", {}, "rollout_stages"),
        ('[[runs]]\nname = "x"\nstrategy = "sometimes"\n', {}, "strategy"),
        ("devices = [\n", {}, "not valid"),
    ],
)
def test_bad_settings_are_one_user_error(tmp_path, text, overrides, words):
    path = tmp_path / "sim.toml"
    path.write_text(text)
    with pytest.raises(UserError, match=words):
        load_config(path, **overrides)


def test_missing_file_is_a_user_error(tmp_path):
    with pytest.raises(UserError, match="cannot read"):
        load_config(tmp_path / "nope.toml")
