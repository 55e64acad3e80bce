"""Registry fixtures: a fresh repository, real builds published into it, a running server.

The server is the real app on uvicorn (127.0.0.1, a free port) in a thread; the client is
python-tuf's real `Updater`. Nothing is mocked.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest
import typer
from tuf.ngclient import Updater
from typer.testing import CliRunner

from litefleet.cli.repo import register
from litefleet.registry.publish import publish
from litefleet.registry.repository import Repository
from litefleet.registry.server import ServerSettings, ServerThread, create_app

MODEL = "digits"


def tree(path: Path) -> dict[str, str]:
    """Every file under `path` (but the lock file) -> sha256: "repository unchanged" checks."""
    return {
        str(f.relative_to(path)): hashlib.sha256(f.read_bytes()).hexdigest()
        for f in sorted(path.rglob("*"))
        if f.is_file() and f.name != ".lock"
    }


@pytest.fixture(scope="module")
def app() -> typer.Typer:
    """The release-side commands (`litefleet.cli.repo`) on an app of their own."""
    app = typer.Typer()
    register(app)
    return app


def invoke(app: typer.Typer, *args: object):
    """Run a command of `app` as typed (every argument a string), a table row on one line."""
    return CliRunner().invoke(app, [str(a) for a in args], env={"COLUMNS": "200"})


@pytest.fixture
def repo(tmp_path: Path) -> Repository:
    return Repository.init(tmp_path / "repo")


@pytest.fixture(scope="session")
def builds(build_factory) -> dict[str, Path]:
    """v1; v2 = last layer fine-tuned from v1; v3 = a full retrain with another seed."""
    return {
        "v1": build_factory("v1"),
        "v2": build_factory("v2", fine_tune_from="v1"),
    }


@pytest.fixture
def published(repo: Repository, builds: dict[str, Path]) -> Repository:
    """A repository with releases 1 and 2 of `digits` (2 carries patches from 1)."""
    publish(repo, builds["v1"], MODEL)
    publish(repo, builds["v2"], MODEL)
    return repo


@pytest.fixture
def serve() -> Iterator[Callable[..., ServerThread]]:
    """Start the real server on a repository; every server stops at teardown."""
    with ExitStack() as stack:

        def start(repo: Repository, **settings: object) -> ServerThread:
            settings.setdefault("refresh_interval", None)
            app = create_app(ServerSettings(repo=repo.path, **settings))
            return stack.enter_context(ServerThread(app))

        yield start


def make_updater(server: ServerThread, root: bytes, home: Path) -> Updater:
    """A device-side python-tuf client that trusts `root` (kept across calls in `home`)."""
    (home / "metadata").mkdir(parents=True, exist_ok=True)
    (home / "targets").mkdir(exist_ok=True)
    bootstrap = None if (home / "metadata" / "root.json").exists() else root
    return Updater(
        str(home / "metadata"),
        f"{server.url}/metadata/",
        str(home / "targets"),
        f"{server.url}/targets/",
        bootstrap=bootstrap,
    )
