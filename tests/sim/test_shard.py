"""One run's devices sharded over Ray actors gives the single-process figures.

With one shard the random draws are the single process's, so every figure is the same, and
a halt is decided at the same instant on the same counts (it only takes effect at the end of
the step). With several shards each shard draws its own random numbers (a different sample
of the same fleet), so figures agree within seed noise; the halt rule is set so that no
shard holds enough devices to halt the bad release alone.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import sys

import numpy as np
import pytest
import typer
from typer.testing import CliRunner

from litefleet.cli.simulate import register
from litefleet.errors import UserError
from litefleet.sim.engine import FleetRun
from litefleet.sim.runner import releases_of, run_one
from litefleet.sim.shard import merge_metrics, shard_bounds, slice_traces
from litefleet.sim.traces import CHUNK, make_traces
from tests.sim.conftest import small

CONDITIONAL = [{"name": "conditional", "strategy": "conditional"}]
SHARDS = 3
DEVICES = 3000
MIN_DEVICES = 1100
"""More devices than any of the three shards holds: the halt needs several shards' reports."""
RAY_STEP = {"step_minutes": 15.0}
"""Runs on Ray step every 15 simulated minutes, not 5: each step is a round trip to every
shard, which on a busy 2-core machine took most of these tests' minutes. Single-process
and sharded runs of a test share the step, so they still compare like with like."""


def _figures(summary: dict) -> dict:
    s = dict(summary)
    s.pop("wall_seconds")
    return s


# ---------------------------------------------------------------------- without Ray


@pytest.mark.parametrize(("devices", "shards"), [(3000, 3), (2 * CHUNK + 500, 2)])
def test_a_shard_draws_exactly_its_rows_of_the_fleet(devices, shards):
    cfg = small(devices=devices, days=1)
    r = len(releases_of(cfg))
    whole = make_traces(cfg, r)
    bounds = shard_bounds(devices, shards)
    assert bounds[0][0] == 0 and bounds[-1][1] == devices
    assert all(a[1] == b[0] for a, b in itertools.pairwise(bounds))
    if devices > shards * CHUNK // 2:
        assert all(lo % CHUNK == 0 for lo, _ in bounds)  # whole chunks: none drawn twice
    for lo, hi in bounds:
        part = slice_traces(cfg, r, lo, hi)
        for f in dataclasses.fields(whole):
            if f.name in ("dark_device", "dark_hour", "kind_names"):
                continue
            assert np.array_equal(getattr(whole, f.name)[lo:hi], getattr(part, f.name)), f.name
        mine = (whole.dark_device >= lo) & (whole.dark_device < hi)
        assert np.array_equal(whole.dark_device[mine] - lo, part.dark_device)
        assert np.array_equal(whole.dark_hour[mine], part.dark_hour)


def test_merged_metrics_add_the_shards_counts():
    cfg = small(devices=400, days=2, runs=CONDITIONAL)
    traces = make_traces(cfg, len(releases_of(cfg)))
    parts = [FleetRun(cfg, traces, cfg.runs[0]).run() for _ in range(2)]
    merged = merge_metrics(parts, 2 * cfg.devices)
    assert merged.installs == 2 * parts[0].installs
    assert merged.checks == 2 * parts[0].checks
    assert np.array_equal(merged.byte_counts, 2 * parts[0].byte_counts)
    assert merged.defer_reasons == parts[0].defer_reasons + parts[1].defer_reasons
    assert len(merged.transitions) == 2 * len(parts[0].transitions)
    assert merged.devices == 2 * cfg.devices


# ---------------------------------------------------------------------- on a local Ray


@pytest.fixture(scope="module")
def local_ray():
    ray = pytest.importorskip("ray")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, logging_level="ERROR")
    yield ray
    ray.shutdown()


def test_one_shard_gives_the_single_process_figures(local_ray):
    from litefleet.sim.shard import simulate_sharded

    # no escalation: the cellular devices never update, so the never-updated finding
    # (kinds, reasons, "never saw an unmetered network") has something to say
    strict = {"name": "strict", "strategy": "conditional"}
    strict["policy"] = {"rules": {"escalation": None}}
    over = {"releases.bad_versions": [], "releases.retrain_versions": [2]}  # a large download
    cfg = small(devices=600, days=10, runs=[strict], **over, **RAY_STEP)
    single = run_one(cfg, cfg.runs[0])
    sharded = simulate_sharded(cfg, shards=1).runs["strict"]
    never = single.summary["stragglers"]["releases"]["2"]["groups"]
    assert any(g["never_unmetered"] for g in never)
    assert _figures(sharded.summary) == _figures(single.summary)
    assert np.array_equal(sharded.per_minute, single.per_minute)
    assert np.array_equal(sharded.running, single.running)


def test_one_shard_halts_at_the_same_instant(local_ray):
    from litefleet.sim.shard import simulate_sharded

    cfg = small(devices=600, runs=CONDITIONAL, **RAY_STEP)
    single = run_one(cfg, cfg.runs[0]).summary["bad_release"]["halts"]
    sharded = simulate_sharded(cfg, shards=1).runs["conditional"].summary["bad_release"]["halts"]
    assert len(single) == 1
    assert sharded == single  # same hour, same counts: the rule saw the same reports


@pytest.fixture(scope="module")
def across(local_ray):
    """The bad release halted only by reports from several shards; single vs sharded."""
    from litefleet.sim.shard import simulate_sharded

    cfg = small(
        devices=DEVICES, runs=CONDITIONAL, **{"server.halt_min_devices": MIN_DEVICES}, **RAY_STEP
    )
    single = run_one(cfg, cfg.runs[0])
    result = simulate_sharded(cfg, shards=SHARDS)
    return cfg, single, result


def test_the_halt_needs_several_shards_and_comes_when_a_single_process_halts(across):
    cfg, single, result = across
    bounds = result.machine["ray"]["shards"]
    assert len(bounds) == SHARDS
    assert max(hi - lo for lo, hi in bounds) < MIN_DEVICES  # no shard could halt it alone
    (h1,) = single.summary["bad_release"]["halts"]
    (h2,) = result.runs["conditional"].summary["bad_release"]["halts"]
    assert h2["tried"] >= MIN_DEVICES and h2["version"] == 3
    # seed noise (each shard has its own draws) plus at most one step of lag
    assert abs(h2["hour"] - h1["hour"]) <= 3 * cfg.step_minutes / 60.0


def test_sharded_figures_agree_with_one_process(across):
    _, single, result = across
    a, b = single.summary, result.runs["conditional"].summary
    sharded = result.runs["conditional"]
    assert abs(b["bytes"]["total"] / a["bytes"]["total"] - 1) < 0.03
    assert abs(b["bytes"]["metered"] / a["bytes"]["metered"] - 1) < 0.05
    assert abs(b["decisions"]["installs"] / a["decisions"]["installs"] - 1) < 0.03
    assert abs(b["load"]["checks"] / a["load"]["checks"] - 1) < 0.03
    # devices per release, over the whole run (hourly shares of the fleet)
    assert np.abs(sharded.running - single.running).max() < 0.03
    for v in ("2", "3"):
        ra, rb = a["staleness"]["releases"][v], b["staleness"]["releases"][v]
        assert abs(rb["peak_share"] - ra["peak_share"]) < 0.03
    assert abs(b["bad_release"]["device_hours"] / a["bad_release"]["device_hours"] - 1) < 0.10
    good = a["staleness"]["releases"]["2"], b["staleness"]["releases"]["2"]
    assert good[1]["online_hours_to_95"] == pytest.approx(good[0]["online_hours_to_95"], abs=1)
    assert set(b["stragglers"]) == set(a["stragglers"])
    mem = result.memory["shard_peak_rss_bytes"]
    assert len(mem) == SHARDS and all(m > 0 for m in mem)


def _app() -> typer.Typer:
    app = typer.Typer(pretty_exceptions_enable=False)

    @app.callback()
    def _root() -> None:
        """litefleet"""

    register(app)
    return app


def test_simulate_ray_on_the_command_line(local_ray, tmp_path):
    config = tmp_path / "sim.json"
    config.write_text(json.dumps({"devices": 300, "days": 2, "runs": CONDITIONAL}))
    args = ["simulate", "--config", str(config), "--out", str(tmp_path / "out"), "--no-plots"]
    result = CliRunner().invoke(_app(), [*args, "--ray", "auto", "--shards", "2", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["machine"]["ray"]["shards"] == [[0, 150], [150, 300]]
    assert "2 shards on Ray" in result.output


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--shards", "2"], "--shards needs --ray"),
        (["--ray", "auto", "--workers", "2"], "exclude each other"),
        (["--ray", "auto", "--shards", "0"], "--shards must be at least 1"),
        (["--ray", "auto"], "pip install 'litefleet[cluster]'"),
    ],
)
def test_ray_options_are_user_errors(monkeypatch, tmp_path, args, words):
    """A `UserError` is one `error:` line and exit code 2 (`litefleet.cli.main`)."""
    monkeypatch.setitem(sys.modules, "ray", None)  # as if Ray were not installed
    out = ["--out", str(tmp_path / "out"), "--devices", "100", "--days", "1"]
    r = CliRunner().invoke(_app(), ["simulate", *out, *args])
    assert isinstance(r.exception, UserError), r.output
    assert words in str(r.exception)
