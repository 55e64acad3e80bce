"""Run N uvicorn workers on one socket, and stop when they keep dying instead of respawning.

uvicorn's own supervisor replaces a dead worker for ever: a worker that cannot start (a
database it cannot open, a broken repository) fills the log with the same traceback while
the parent keeps the port. This one gives up and says why:

- a worker that dies before it ever answered its health check would die the same way
  again: the server stops at once;
- a worker that dies after serving is replaced, but `max_deaths` deaths within `window`
  seconds stop the server.

The reason is the worker's own one-line error (its factory's exception, written to a folder
the parent names in `FAILURES_ENV`) or else its exit code or signal.

    run_workers("litefleet.registry.server:app_from_env", host, port, workers=2)
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import signal
import tempfile
import time
from collections import deque
from pathlib import Path

import uvicorn
from uvicorn.importer import import_from_string
from uvicorn.supervisors.multiprocess import Multiprocess, Process

FAILURES_ENV = "LITEFLEET_WORKER_FAILURES"
FACTORY_ENV = "LITEFLEET_WORKER_FACTORY"
log = logging.getLogger("uvicorn.error")


class WorkersDied(Exception):
    """The workers kept dying; the message says which and why (the last worker's error)."""


def worker_app() -> object:
    """Each worker's app factory: the caller's (`FACTORY_ENV`), and if it fails, its error
    is left where the parent reads it (`FAILURES_ENV`, one line)."""
    try:
        return import_from_string(os.environ[FACTORY_ENV])()
    except Exception as exc:
        _record_failure(exc)
        raise


def _record_failure(exc: BaseException) -> None:
    folder = os.environ.get(FAILURES_ENV)
    if not folder:
        return
    text = " ".join(str(exc).split()) or type(exc).__name__
    with contextlib.suppress(OSError):  # else the parent reports the exit code
        (Path(folder) / f"{os.getpid()}.txt").write_text(f"{type(exc).__name__}: {text}")


def _health(process: Process, timeout: float) -> bool | None:
    """True: serving; False: alive, still starting; None: dead, or no answer in `timeout`.

    uvicorn's own check waits the whole timeout on a worker that dies before it answers;
    this one stops waiting when the process is gone.
    """
    try:
        process.parent_conn.send(b"ping")
    except OSError:
        return None
    deadline = time.monotonic() + timeout
    while process.process.is_alive() and time.monotonic() < deadline:
        if process.parent_conn.poll(0.1):
            try:
                started = process.parent_conn.recv()
                while process.parent_conn.poll(0):  # answers to earlier pings: keep the newest
                    started = process.parent_conn.recv()
            except (OSError, EOFError):
                return None
            return bool(started)
    return None


class _Supervisor(Multiprocess):
    def __init__(self, config: uvicorn.Config, sockets: list, failures: Path, **limits: float):
        super().__init__(config, sockets)
        self.failures = failures
        self.max_deaths = int(limits["max_deaths"])
        self.window = float(limits["window"])
        self.deaths: deque[float] = deque()
        self.ready: set[int] = set()
        self.gave_up: str | None = None

    def _reason(self, process: Process) -> str:
        note = self.failures / f"{process.pid}.txt"
        if note.is_file():
            return note.read_text().strip()
        code = process.exitcode
        if code is not None and code < 0:
            return f"killed by {signal.Signals(-code).name}"
        return f"exit code {code}"

    def keep_subprocess_alive(self) -> None:
        if self.should_exit.is_set():
            return
        for idx, process in enumerate(self.processes):
            started = _health(process, self.config.timeout_worker_healthcheck)
            if started is True:
                self.ready.add(process.pid or 0)
            if started is not None:
                continue
            process.kill()
            process.join()
            reason = self._reason(process)
            now = time.monotonic()
            self.deaths.append(now)
            while self.deaths and self.deaths[0] < now - self.window:
                self.deaths.popleft()
            if process.pid not in self.ready:
                self.gave_up = f"a worker failed to start ({reason})"
            elif len(self.deaths) >= self.max_deaths:
                self.gave_up = (
                    f"workers died {len(self.deaths)} times in {self.window:g} s (last: {reason})"
                )
            if self.gave_up:
                log.error("%s; stopping the server", self.gave_up)
                self.should_exit.set()
                return
            log.warning("worker [%s] died (%s); starting another", process.pid, reason)
            replacement = Process(self.config, self.sockets)
            replacement.start()
            self.processes[idx] = replacement


def run_workers(
    app: str,
    host: str,
    port: int,
    workers: int,
    *,
    max_deaths: int = 3,
    window: float = 60.0,
    **config: object,
) -> None:
    """Serve `app` (an import string of a factory) with `workers` processes until a signal.

    Raises:
        WorkersDied: a worker died before it started, or `max_deaths` died within `window`
            seconds.
    """
    cfg = uvicorn.Config(
        f"{__name__}:worker_app", host=host, port=port, workers=workers, factory=True, **config
    )
    failures = Path(tempfile.mkdtemp(prefix="litefleet-workers-"))
    os.environ[FAILURES_ENV] = str(failures)
    os.environ[FACTORY_ENV] = app
    try:
        sock = cfg.bind_socket()
        supervisor = _Supervisor(cfg, [sock], failures, max_deaths=max_deaths, window=window)
        supervisor.run()
        sock.close()
    finally:
        os.environ.pop(FAILURES_ENV, None)
        os.environ.pop(FACTORY_ENV, None)
        shutil.rmtree(failures, ignore_errors=True)
    if supervisor.gave_up:
        raise WorkersDied(supervisor.gave_up)
