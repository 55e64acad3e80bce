"""Registry fixtures: a fresh repository, real builds published into it, a running server.

The server is the real app on uvicorn (127.0.0.1, a free port) in a thread; the client is
python-tuf's real `Updater`. Nothing is mocked.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest
import typer
from tuf.ngclient import Updater
from typer.testing import CliRunner

from litefleet.cli.repo import register
from litefleet.registry.publish import publish
from litefleet.registry.repository import CONFIG_FILE, Repository, default_offline_keys
from litefleet.registry.server import ServerSettings, ServerThread, create_app
from tests.conftest import once_across_workers, shared_dir

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


@pytest.fixture(scope="session")
def published_template(builds: dict[str, Path], tmp_path_factory) -> Path:
    """Releases 1 and 2 of `digits` published once per run (every worker copies it): each
    publish measures 16 variants in the sandbox and makes their patches, seconds a test."""
    path = shared_dir(tmp_path_factory, "published") / "repo"
    with once_across_workers(path):
        if not (path.parent / "done").exists():
            shutil.rmtree(path, ignore_errors=True)
            shutil.rmtree(default_offline_keys(path), ignore_errors=True)
            repo = Repository.init(path)
            publish(repo, builds["v1"], MODEL)
            publish(repo, builds["v2"], MODEL)
            (path.parent / "done").write_text("ok")
    return path


def copy_repository(src: Path, dst: Path) -> Repository:
    """A private copy of the repository at `src` and its offline keys (the copy's
    `litefleet.json` names its own offline-keys folder, so a key rotation stays private)."""
    shutil.copytree(src, dst)
    shutil.copytree(default_offline_keys(src), default_offline_keys(dst))
    config = json.loads((dst / CONFIG_FILE).read_text())
    config["offline_keys"] = str(default_offline_keys(dst).resolve())
    (dst / CONFIG_FILE).write_text(json.dumps(config, indent=1))
    return Repository(dst)


@pytest.fixture
def published(published_template: Path, tmp_path: Path) -> Repository:
    """A repository with releases 1 and 2 of `digits` (2 carries patches from 1), this
    test's own copy."""
    return copy_repository(published_template, tmp_path / "repo")


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
