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

    r = CliRunner().invoke(app, ["selftest", "--only", "attacks", "--workdir", str(tmp_path)])
    assert r.exit_code == 0, r.output
    assert "| attacks through the proxy |" in r.output
    r = CliRunner().invoke(app, ["selftest", "--only", "bad-releases", "--json"])
    assert r.exit_code == 0, r.output
    data = json.loads(r.stdout)
    assert data["bad releases"]["failures"] == [] and data["bad releases"]["trials"] >= 8
    r = CliRunner().invoke(app, ["selftest", "--only", "nope"])
    assert r.exit_code != 0
