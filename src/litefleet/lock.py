"""An inter-process lock on a file: one writer of a store, a TUF dir or a repository at a time.

Built on the `filelock` package (fcntl.flock on Unix). The kernel drops a flock when its
holder dies, so a SIGKILLed agent never leaves a stale lock. Re-entrant within a thread;
exclusive across processes and across threads (each thread opens its own descriptor).
"""

from __future__ import annotations

from pathlib import Path

import filelock

from litefleet.errors import UserError


class FileLock:
    """`with FileLock(path, timeout=60):` — a timeout raises one clear `UserError`.

    `timeout=None` waits forever (the repository: a publish never gives up on a server).
    """

    def __init__(self, path: Path, timeout: float | None = 60.0) -> None:
        self.path = Path(path)
        self.timeout = timeout
        self._lock = filelock.FileLock(
            self.path, timeout=-1 if timeout is None else timeout, thread_local=True
        )

    def acquire(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._lock.acquire(poll_interval=0.01)
        except filelock.Timeout:
            raise UserError(f"timed out waiting for lock {self.path}") from None

    def release(self) -> None:
        self._lock.release()

    def __enter__(self) -> FileLock:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()
