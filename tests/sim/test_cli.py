"""`litefleet simulate` through its own typer app (the lead wires it into `litefleet`)."""

from __future__ import annotations

import json

import bsdiff4
import pytest
import typer
from typer.testing import CliRunner

from litefleet.cli.simulate import register
from litefleet.errors import UserError
from litefleet.sim.sizes import sizes_from


@pytest.fixture(scope="module")
def app() -> typer.Typer:
    app = typer.Typer(pretty_exceptions_enable=False)

    @app.callback()
    def _root() -> None:
        """litefleet"""

    register(app)
    return app


def test_simulate_writes_json_table_and_figures(app, tmp_path):
    out = tmp_path / "sim"
    result = CliRunner().invoke(
        app,
        ["simulate", "--devices", "150", "--days", "3", "--out", str(out), "--json"],
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert set(data["runs"]) == {"periodic", "conditional", "smart", "periodic-no-jitter"}
    assert data["config"]["devices"] == 150
    assert json.loads((out / "simulate.json").read_text())["runs"] == data["runs"]
    for name in ("adoption.png", "load.png", "bytes.png"):
        assert (out / name).stat().st_size > 10_000, name
    assert "stale share of fleet time" in result.stderr  # the table, off stdout


def test_sizes_options_reach_the_releases(app, tmp_path):
    config = tmp_path / "one.toml"
    config.write_text('[[runs]]\nname = "p"\nstrategy = "periodic"\n')
    args = ["simulate", "--devices", "40", "--days", "2", "--no-plots", "--json"]
    args += ["--config", str(config), "--out", str(tmp_path), "--full-bytes", "1000"]
    result = CliRunner().invoke(app, [*args, "--patch-bytes", "10"])
    assert result.exit_code == 0, result.output
    releases = json.loads(result.stdout)["config"]["releases"]
    assert (releases["full_bytes"], releases["patch_bytes"]) == (1000, 10)


def _build(folder, data: bytes):
    folder.mkdir()
    (folder / "baseline-int8.tflite").write_bytes(data)
    return folder


def test_sizes_from_two_builds(app, tmp_path):
    old_bytes = bytes(range(256)) * 40
    new_bytes = old_bytes[:-100] + b"x" * 100
    old, new = _build(tmp_path / "a", old_bytes), _build(tmp_path / "b", new_bytes)
    assert sizes_from(old, new, "baseline-int8") == (
        len(new_bytes),
        len(bsdiff4.diff(old_bytes, new_bytes)),
    )
    config = tmp_path / "one.toml"
    config.write_text('[[runs]]\nname = "p"\nstrategy = "periodic"\n')
    result = CliRunner().invoke(
        app,
        [
            *("simulate", "--devices", "20", "--days", "1", "--no-plots", "--json"),
            *("--config", str(config), "--out", str(tmp_path / "o")),
            *("--sizes-from", str(old), str(new)),
        ],
    )
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["config"]["releases"]["full_bytes"] == len(new_bytes)
    with pytest.raises(UserError, match=r"no pruned-int8\.tflite"):
        sizes_from(old, new, "pruned-int8")


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--devices", "0"], "devices"),
        (["--days", "0"], "days"),
        (["--workers", "0"], "workers"),
        (["--config", "/nonexistent/sim.toml"], "cannot read"),
        (["--sizes-from", "/nonexistent/a", "/nonexistent/b"], "not a build folder"),
    ],
)
def test_bad_input_is_a_user_error(app, tmp_path, args, words):
    result = CliRunner().invoke(app, ["simulate", "--out", str(tmp_path), *args])
    assert isinstance(result.exception, UserError), result.output
    assert words in str(result.exception)


def test_more_devices_than_one_machine_simulates_asks_for_ray(app, tmp_path):
    """Beyond a million devices the run must be sharded: one line naming --ray, nothing drawn."""
    result = CliRunner().invoke(
        app, ["simulate", "--devices", "2000000", "--days", "1", "--out", str(tmp_path / "o")]
    )
    assert isinstance(result.exception, UserError)
    assert "--ray" in str(result.exception) and "2,000,000" in str(result.exception)
    assert not (tmp_path / "o" / "simulate.json").exists()
