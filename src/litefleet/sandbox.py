"""Run code that touches an untrusted model in a child process with limits and a deadline.

LiteRT trusts the flatbuffer it is given: relabelled operator codes can segfault the process
in `allocate_tensors`, a valid WHILE loop can run for hours, a huge tensor can eat all
memory. So every load/allocate/invoke of a model that has not passed the gate (publish-time
validation, the device's health gate) runs here, in a fresh `python -m litefleet.sandbox`
child with a CPU-time limit, an address-space limit and no core dumps (`resource.setrlimit`),
killed at a wall-clock deadline. Whatever happens in the child, the caller gets an `Outcome`:
a value, or a refusal whose reason names the signal, the limit or the timeout.

Why a fresh interpreter and not `fork`: the caller may hold threads and locks (the agent's
serve loop, an app); a fresh interpreter inherits none of them and costs ~0.2 s.

    outcome = run_isolated("litefleet.modelcheck:probe", {"path": "m.tflite"}, Limits(wall_s=10))
    if not outcome.ok:
        print(outcome.reason)    # e.g. "killed by signal 11 (SIGSEGV)"

The task is a `module:function` inside the `litefleet` package; it takes keyword arguments
and returns a JSON-serialisable value.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from litefleet.sandbox_child import MEMORY_ENV

__all__ = ["MEMORY_ENV", "Limits", "Outcome", "run_isolated"]
_PACKAGE_ROOT = str(Path(__file__).resolve().parent.parent)


@dataclass(frozen=True)
class Limits:
    """What one isolated run may use. Defaults suit a small model on a small device."""

    wall_s: float = 60.0
    """Wall-clock deadline, start-up included; the child is SIGKILLed at it."""
    cpu_s: float | None = None
    """CPU seconds (RLIMIT_CPU; SIGXCPU when exceeded). None: same as `wall_s`."""
    memory_mb: int = 1024
    """Address space of the child (RLIMIT_AS); an interpreter with LiteRT needs ~200 MB."""


@dataclass(frozen=True)
class Outcome:
    ok: bool
    """True when the task returned; `value` holds what it returned."""
    value: Any = None
    reason: str = ""
    """Why not ok: the task's exception, the signal that killed the child, or the timeout."""
    seconds: float = 0.0
    stderr: str = ""
    """The last lines the child wrote to stderr (for logs, not for decisions)."""


def run_isolated(task: str, kwargs: dict[str, Any], limits: Limits | None = None) -> Outcome:
    """Run `task(**kwargs)` in a child process under `limits`; never raises for the child's
    faults (crash, signal, timeout, limit, exception): they are refusals in the `Outcome`."""
    limits = limits or Limits()
    if not task.startswith("litefleet.") or ":" not in task:
        raise ValueError(f"sandbox task must be 'litefleet.<module>:<function>', not {task!r}")
    t0 = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="litefleet-sandbox-") as tmp:
        job, result = Path(tmp) / "job.json", Path(tmp) / "result.json"
        job.write_text(
            json.dumps(
                {
                    "task": task,
                    "kwargs": kwargs,
                    "cpu_s": limits.cpu_s if limits.cpu_s is not None else limits.wall_s,
                    "memory_mb": limits.memory_mb,
                    "result": str(result),
                }
            )
        )
        code, timed_out = _run_child(job, Path(tmp) / "stderr", limits)
        tail = _tail(Path(tmp) / "stderr")
        seconds = round(time.monotonic() - t0, 3)
        if timed_out:
            reason = f"timed out after {limits.wall_s:g} s (wall-clock deadline)"
            return Outcome(False, reason=reason, seconds=seconds, stderr=tail)
        if code < 0:
            reason = _signal_reason(-code, limits)
            return Outcome(False, reason=reason, seconds=seconds, stderr=tail)
        try:
            data = json.loads(result.read_text())
        except (OSError, ValueError):
            reason = f"child exited with status {code} and no result"
            return Outcome(False, reason=reason, seconds=seconds, stderr=tail)
    if data.get("ok"):
        return Outcome(True, value=data.get("value"), seconds=seconds, stderr=tail)
    return Outcome(False, reason=str(data.get("error", "failed")), seconds=seconds, stderr=tail)


def _child_env() -> dict[str, str]:
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(
            p for p in (_PACKAGE_ROOT, os.environ.get("PYTHONPATH", "")) if p
        ),
        "TF_CPP_MIN_LOG_LEVEL": "3",
        "OMP_NUM_THREADS": "1",
    }
    env.pop("LITEFLEET_CRASH_AT", None)  # crash points are for the agent, not its child
    return env


def _run_child(job: Path, stderr: Path, limits: Limits) -> tuple[int, bool]:
    """(exit code, timed out): forked by this process's zygote (`litefleet.zygote`), or a
    fresh interpreter where the zygote cannot run."""
    from litefleet import zygote

    try:
        code = zygote.shared(_child_env).spawn(job, limits.wall_s, _kill_group)
    except OSError:  # no zygote here, or it broke: a fresh interpreter
        return _fresh_child(job, stderr, limits)
    return (-int(signal.SIGKILL), True) if code is None else (code, False)


def _fresh_child(job: Path, stderr: Path, limits: Limits) -> tuple[int, bool]:
    with stderr.open("w+b") as err:
        proc = subprocess.Popen(
            [sys.executable, "-m", "litefleet.sandbox", str(job)],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=err,
            env=_child_env(),
            start_new_session=True,  # a Ctrl-C for the caller is the caller's to handle
        )
        try:
            return proc.wait(timeout=max(0.1, limits.wall_s)), False
        except subprocess.TimeoutExpired:
            _kill_group(proc.pid)
            return proc.wait(), True
        except BaseException:
            _kill_group(proc.pid)
            proc.wait()
            raise


def _tail(stderr: Path) -> str:
    try:
        return stderr.read_bytes()[-2000:].decode(errors="replace")
    except OSError:
        return ""


def _kill_group(pid: int) -> None:
    try:
        os.killpg(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def _signal_reason(signum: int, limits: Limits) -> str:
    try:
        name = signal.Signals(signum).name
    except ValueError:
        name = f"signal {signum}"
    reason = f"killed by signal {signum} ({name})"
    if signum == signal.SIGXCPU:
        cpu = limits.cpu_s if limits.cpu_s is not None else limits.wall_s
        reason += f": CPU-time limit of {cpu:g} s exceeded"
    elif signum in (signal.SIGABRT, signal.SIGSEGV, signal.SIGBUS):
        reason += f" (memory limit {limits.memory_mb} MB, or a crash in the interpreter)"
    return reason


if __name__ == "__main__":  # the fresh-interpreter child
    from litefleet.sandbox_child import child_main

    sys.exit(child_main(sys.argv[1]))
