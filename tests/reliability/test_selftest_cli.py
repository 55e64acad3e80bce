"""`litefleet selftest` on the command line (registered here on a local typer app until
the lead wires it into `litefleet.cli`)."""

from __future__ import annotations

import json

import typer
from typer.testing import CliRunner

from litefleet.cli import selftest


def test_selftest_command_prints_the_table(tmp_path):
    app = typer.Typer()
    selftest.register(app)

    @app.command("other")
    def _other() -> None:  # two commands, so typer keeps the subcommand name
        pass

    # the cheapest scenario (the scenarios themselves: test_faults.py, and all of them in a
    # device-only install: tests/device/test_device_only_install.py)
    r = CliRunner().invoke(app, ["selftest", "--only", "crash-loop", "--workdir", str(tmp_path)])
    assert r.exit_code == 0, r.output
    assert "| crash loop |" in r.output
    r = CliRunner().invoke(app, ["selftest", "--only", "crash-loop", "--json"])
    assert r.exit_code == 0, r.output
    data = json.loads(r.stdout)
    assert data["crash loop"]["failures"] == [] and data["crash loop"]["trials"] >= 1
    r = CliRunner().invoke(app, ["selftest", "--only", "nope"])
    assert r.exit_code != 0
