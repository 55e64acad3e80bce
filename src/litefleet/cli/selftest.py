"""`litefleet selftest`: prove on this device that updates survive faults and attacks.

Starts a local signed repository, the update server and an attack proxy on 127.0.0.1,
runs the device scenarios of the reliability suite (power cuts, network attacks, bad
releases, network faults) with the tiny models shipped in the package, and prints the
table of trials, survived and failures. Needs only `litefleet[device]`: without the
server extra, the repository is served by the standard library (`testing/static_server.py`).
"""

from __future__ import annotations

import json
from pathlib import Path

import typer


def register(app: typer.Typer) -> None:
    @app.command("selftest")
    def selftest(
        only: str | None = typer.Option(
            None, "--only", help="Comma list of: crash, attacks, bad-releases, network."
        ),
        full: bool = typer.Option(False, "--full", help="More trials (a few minutes)."),
        workdir: Path | None = typer.Option(None, "--workdir", help="Scratch folder (a tmp dir)."),
        as_json: bool = typer.Option(False, "--json", help="Print the counts as JSON."),
    ) -> None:
        """Run fault and attack scenarios against a local server; exit 1 on any failure."""
        from litefleet.errors import UserError
        from litefleet.selftest.runner import SCENARIOS, run_selftest

        names = [n.strip() for n in only.split(",")] if only else list(SCENARIOS)
        unknown = [n for n in names if n not in SCENARIOS]
        if unknown:
            raise UserError(f"unknown scenario {unknown[0]!r}: one of {', '.join(SCENARIOS)}")
        report = run_selftest(
            names,
            quick=not full,
            workdir=workdir,
            progress=None if as_json else lambda n: typer.echo(f"running {n} …", err=True),
        )
        if as_json:
            typer.echo(json.dumps(report.to_json(), indent=1))
        else:
            typer.echo(report.table())
            for failure in report.failures():
                typer.echo(f"FAILED {failure}")
        if report.failures():
            raise SystemExit(1)
