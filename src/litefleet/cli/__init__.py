"""The `litefleet` command: thin wrappers that parse options and call the packages.

Each command group lives in its own module and imports its heavy packages inside the
command function, so `litefleet agent …` runs on a device where TensorFlow is absent.
"""

from __future__ import annotations

import sys

import typer
from rich.console import Console

from litefleet.errors import UserError

app = typer.Typer(
    name="litefleet",
    help="Train, compress, convert, sign and ship Keras models to a fleet of edge devices.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
err_console = Console(stderr=True)


@app.callback()
def _root() -> None:
    """Train, compress, convert, sign and ship Keras models to a fleet of edge devices."""


def _register() -> None:
    from litefleet.cli import agent, build, demo, deploy, repo, selftest, simulate

    demo.register(app)
    build.register(app)
    repo.register(app)
    deploy.register(app)
    agent.register(app)
    simulate.register(app)
    selftest.register(app)


_register()


def main() -> None:
    """Entry point: a `UserError` becomes one red line on stderr and exit code 2, and so
    does a command that needs an extra this install lacks (`litefleet[server]`, ...)."""
    from litefleet.extras import missing_extra

    try:
        app()
    except UserError as exc:
        _error(str(exc), exc.exit_code)
    except ImportError as exc:
        message = missing_extra(exc)
        if message is None:
            raise
        _error(message, 2)


def _error(message: str, code: int) -> None:
    from rich.markup import escape

    err_console.print(f"[bold red]error:[/] {escape(message)}", highlight=False, soft_wrap=True)
    sys.exit(code)
