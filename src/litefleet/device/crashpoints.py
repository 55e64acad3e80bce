"""Named points where a crash test may kill the agent (`LITEFLEET_CRASH_AT=name[,name]`).

A real device loses power anywhere; the crash test SIGKILLs the agent right at each step of
an update (mid-download, mid-patch, before and after each rename) to prove the store stays
consistent. With the variable unset this is a dictionary lookup and nothing else.
"""

from __future__ import annotations

import os
import signal

ENV = "LITEFLEET_CRASH_AT"

POINTS = (
    "download.partial",
    "download.done",
    "patch.applied",
    "gate.checked",
    "install.staged",
    "install.committed",
    "activate.journal",
    "activate.pointer",
    "gc.partial",
)


def crash_wanted(name: str) -> bool:
    wanted = os.environ.get(ENV)
    return bool(wanted) and name in wanted.split(",")


def crashpoint(name: str) -> None:
    """SIGKILL this process when `name` is listed in LITEFLEET_CRASH_AT."""
    if crash_wanted(name):
        os.kill(os.getpid(), signal.SIGKILL)
