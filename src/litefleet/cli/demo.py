"""`litefleet demo`: the whole system on 127.0.0.1, checking its own outcome."""

from __future__ import annotations

from pathlib import Path

import typer


def register(app: typer.Typer) -> None:
    app.command("demo")(demo_command)


def demo_command(
    workdir: Path | None = typer.Option(
        None,
        help="Keep everything here: an empty or new folder, or an earlier demo's (replaced)."
        " Default: a temporary folder, removed at the end; the report is kept in the"
        " temporary directory.",
    ),
    quick: bool = typer.Option(False, help="Fewer training epochs (what the tests run)."),
    timeout: float = typer.Option(120.0, help="Seconds each step may wait for the fleet."),
) -> None:
    """Build, sign, serve, update a fleet of agents; exit 0 only if every step behaved."""
    from litefleet.demo.run import run_demo

    try:
        ok = run_demo(workdir, quick=quick, timeout=timeout)
    except KeyboardInterrupt:
        raise SystemExit(130) from None  # 128 + SIGINT, as a shell reports a Ctrl-C
    if not ok:
        raise SystemExit(1)
