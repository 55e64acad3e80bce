"""Tasks that misbehave on purpose, for the tests of `litefleet.sandbox` (run in its child)."""

from __future__ import annotations

import os
import time


def echo(value: object) -> object:
    return value


def fail(message: str) -> None:
    raise ValueError(message)


def die(signum: int) -> None:
    os.kill(os.getpid(), signum)


def sleep(seconds: float) -> None:
    time.sleep(seconds)


def spin() -> None:
    while True:
        pass


def allocate(mb: int) -> int:
    block = bytearray(mb << 20)
    return len(block)


def sleep_with_mark(seconds: float, mark: str) -> None:
    """Write this child's pid to `mark` (atomically), then sleep: a test kills the caller."""
    tmp = f"{mark}.tmp"
    with open(tmp, "w") as f:
        f.write(str(os.getpid()))
    os.replace(tmp, mark)
    time.sleep(seconds)
