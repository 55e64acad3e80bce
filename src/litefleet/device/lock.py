"""An inter-process lock on a file (fcntl.flock): one writer of a store or a TUF dir at a time.

The kernel drops a flock when its holder dies, so a SIGKILLed agent never leaves a stale lock.
"""

from __future__ import annotations

import fcntl
import os
import threading
import time
from pathlib import Path

from litefleet.errors import UserError


class FileLock:
    """Re-entrant within a thread; exclusive across processes and threads."""

    def __init__(self, path: Path, timeout: float = 60.0) -> None:
        self.path = Path(path)
        self.timeout = timeout
        self._fd: int | None = None
        self._depth = 0
        self._owner: int | None = None
        self._mutex = threading.Lock()

    def acquire(self) -> None:
        me = threading.get_ident()
        if self._owner == me:
            self._depth += 1
            return
        deadline = time.monotonic() + self.timeout
        if not self._mutex.acquire(timeout=self.timeout):
            raise UserError(f"timed out waiting for lock {self.path}")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    os.close(fd)
                    self._mutex.release()
                    raise UserError(f"timed out waiting for lock {self.path}") from None
                time.sleep(0.01)
        self._fd, self._owner, self._depth = fd, me, 1

    def release(self) -> None:
        self._depth -= 1
        if self._depth:
            return
        fd, self._fd, self._owner = self._fd, None, None
        if fd is not None:
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)
        self._mutex.release()

    def __enter__(self) -> FileLock:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()
