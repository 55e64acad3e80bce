"""`litefleet serve` fails fast: a database it cannot use is one line and exit 2 before any
worker starts; workers that keep dying stop the server with the reason (no endless respawn).

Every case runs the real command in a child process, on a real repository; the timeouts
are hang detectors (the old server never exited), not speed checks.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

import pytest

from litefleet.registry.postgres import prepare_cluster, stop_cluster
from litefleet.registry.repository import Repository
from litefleet.testing.services import free_port, missing

HANG = 90  # seconds: far above the few seconds these take; only a hang reaches it


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return Repository.init(tmp_path_factory.mktemp("failfast") / "repo").path


def serve(repo: Path, db: str, workers: int = 2) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "litefleet", "serve", str(repo)]
    command += ["--port", str(free_port()), "--workers", str(workers), "--db", db]
    return subprocess.run(
        command,
        capture_output=True,
        text=True,
        timeout=HANG,
        env={**os.environ, "COLUMNS": "300"},
    )


@pytest.mark.parametrize(
    ("db", "says"),
    [
        ("postgresql+psycopg://fleet:s3cret@127.0.0.1:{port}/litefleet", "Connection refused"),
        ("not a url", "is not a database URL"),
        ("mysql://fleet@127.0.0.1/litefleet", "no driver for 'mysql'"),
        ("sqlite:////no/such/folder/telemetry.db", "unable to open database file"),
    ],
)
def test_bad_database_is_one_line_and_exit_2(repo, db, says):
    db = db.format(port=free_port())  # nothing listens there
    result = serve(repo, db)
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: --db"), result.stderr
    assert says in lines[0]
    assert "s3cret" not in result.stderr  # the password is never printed
    assert not result.stdout.strip()


@pytest.mark.skipif(bool(missing()), reason=f"needs {', '.join(missing())} (see .ci/run)")
def test_refused_login_is_one_line(repo):
    # the cluster `deploy postgres` makes (password authentication), in a folder the postgres
    # user can reach (pytest's basetemp is reset to 0700 by any pytest run on the machine)
    folder = Path(tempfile.mkdtemp(prefix="litefleet-failfast-"))
    folder.chmod(0o711)
    try:
        url = prepare_cluster(folder / "pg").url
        result = serve(repo, url.replace("@127.0.0.1", "x@127.0.0.1"))  # a wrong password
    finally:
        stop_cluster(folder / "pg")
        shutil.rmtree(folder, ignore_errors=True)
    assert result.returncode == 2, result.stderr
    assert result.stderr.strip().count("\n") == 0
    assert 'password authentication failed for user "litefleet"' in result.stderr
    assert url.split(":")[2].split("@")[0] not in result.stderr  # nor the password


# -- workers that keep dying: the supervisor itself, on tiny apps ---------------------------


def failing_factory():
    """A worker that cannot start (what a broken database did to every worker)."""
    raise RuntimeError("the disk is on fire")


def dying_factory():
    """A worker that starts, serves a moment, then dies (SIGKILL: no Python cleanup)."""

    async def app(scope, receive, send):
        if scope["type"] == "lifespan":
            await receive()  # lifespan.startup
            threading.Timer(1.0, os.kill, (os.getpid(), signal.SIGKILL)).start()
            await send({"type": "lifespan.startup.complete"})
            await receive()  # lifespan.shutdown
            await send({"type": "lifespan.shutdown.complete"})

    return app


def run_supervised(factory: str) -> subprocess.CompletedProcess:
    code = (
        "import sys; from litefleet.registry.workers import run_workers, WorkersDied\n"
        "try:\n"
        f"    run_workers({factory!r}, '127.0.0.1', {free_port()}, 2,"
        " timeout_worker_healthcheck=30, max_deaths=3, window=60)\n"
        "except WorkersDied as exc:\n"
        "    print('gave up:', exc); sys.exit(7)\n"
    )
    tests_root = str(Path(__file__).resolve().parents[2])
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([tests_root, *sys.path])}
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=HANG, env=env
    )


def test_worker_that_cannot_start_stops_the_server_with_its_error():
    result = run_supervised("tests.registry.test_serve_failfast:failing_factory")
    assert result.returncode == 7, result.stderr[-2000:]
    assert "gave up: a worker failed to start (RuntimeError: the disk is on fire)" in result.stdout
    assert result.stderr.count("Traceback") <= 2  # one per worker at most, not a flood


def test_workers_that_keep_dying_stop_the_server():
    result = run_supervised("tests.registry.test_serve_failfast:dying_factory")
    assert result.returncode == 7, result.stderr[-2000:]
    assert "SIGKILL" in result.stdout, result.stdout
    assert result.stderr.count("Started server process") <= 4  # 2 + at most 2 replacements
