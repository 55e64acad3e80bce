"""The sandbox's child side (`litefleet.sandbox`): limits, death with the parent, the task.

Runs in a fresh `python -m litefleet.sandbox` interpreter, or in a child forked by the
zygote (`litefleet.zygote`, `forked_child_main`); imports nothing heavy, so the zygote can
preload it beside the task modules.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import resource
import signal
from pathlib import Path

MEMORY_ENV = "LITEFLEET_SANDBOX_MEMORY_MB"
"""Set in the child to its memory limit (MB): tasks may name it in their refusals."""


def _apply_limits(cpu_s: float, memory_mb: int) -> None:
    cpu = max(1, math.ceil(cpu_s))
    mem = int(memory_mb) << 20
    for limit, value in (
        (resource.RLIMIT_CPU, (cpu, cpu + 1)),
        (resource.RLIMIT_AS, (mem, mem)),  # macOS refuses RLIMIT_AS: the deadline remains
        (resource.RLIMIT_CORE, (0, 0)),  # a crash must not fill the disk
    ):
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(limit, value)


def _die_with_parent() -> None:
    """Linux: SIGKILL this child when its parent dies (an agent killed mid-gate must not
    leave a model running); elsewhere the CPU limit ends it."""
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def child_main(job_path: str) -> int:
    _die_with_parent()
    job = json.loads(Path(job_path).read_text())
    _apply_limits(job["cpu_s"], job["memory_mb"])
    os.environ[MEMORY_ENV] = str(job["memory_mb"])  # tasks may name it in their refusals
    result = Path(job["result"])
    try:
        import importlib

        module, func = job["task"].split(":")
        value = getattr(importlib.import_module(module), func)(**job["kwargs"])
        out = {"ok": True, "value": value}
    except MemoryError:
        out = {"ok": False, "error": f"memory limit of {job['memory_mb']} MB hit"}
    except Exception as exc:  # the task's own refusal: report it, the caller decides
        text = str(exc).strip() or f"no message (memory limit {job['memory_mb']} MB likely hit)"
        out = {"ok": False, "error": f"{type(exc).__name__}: {text}"}
    result.write_text(json.dumps(out))
    return 0


def forked_child_main(job_path: str) -> int:
    """The child as the zygote forks it (the zygote already has the sandbox's environment):
    its own session, stdout gone, stderr to the job's folder, then a fresh child's steps."""
    os.setsid()
    null = os.open(os.devnull, os.O_RDWR)
    err = os.open(Path(job_path).parent / "stderr", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.dup2(null, 0)
    os.dup2(null, 1)
    os.dup2(err, 2)
    os.close(null)
    os.close(err)
    if os.getppid() == 1:  # the zygote died while forking: nobody waits for this child
        return 1
    return child_main(job_path)
