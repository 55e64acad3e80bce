"""The demo's child processes: started with their output in log files, always stopped.

Children get their own session so a Ctrl-C in the terminal reaches only the demo, which
then stops them in order (SIGTERM, then SIGKILL after a grace period) on its way out.
SIGINT and SIGTERM interrupt the demo even when it was started with SIGINT ignored (a
background job of a non-interactive shell, as a script or CI runs it), and neither can
interrupt the stopping itself.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path
from types import FrameType, TracebackType


class ProcessGroup:
    def __init__(self, log_dir: Path) -> None:
        self.log_dir = log_dir
        self.procs: dict[str, subprocess.Popen] = {}
        self._previous_sigterm = None
        self._previous_sigint = None

    def __enter__(self) -> ProcessGroup:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self._previous_sigterm = signal.signal(signal.SIGTERM, _sigterm_as_interrupt)
        # Python keeps SIGINT ignored when its parent ignored it: a Ctrl-C (or kill -INT)
        # would then be lost and the demo would run on to exit 0.
        self._previous_sigint = signal.signal(signal.SIGINT, signal.default_int_handler)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C must not skip a child
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        try:
            self.stop_all()
        finally:
            signal.signal(signal.SIGTERM, self._previous_sigterm or signal.SIG_DFL)
            sigint = self._previous_sigint
            signal.signal(signal.SIGINT, signal.default_int_handler if sigint is None else sigint)

    def start(self, name: str, args: list[str], env: dict[str, str] | None = None) -> Path:
        """Start `args` (a litefleet command line or any program); returns its log file."""
        if name in self.procs and self.procs[name].poll() is None:
            raise RuntimeError(f"{name} is already running")
        log = self.log_dir / f"{name}.log"
        child_env = {**os.environ, "PYTHONUNBUFFERED": "1", "TF_CPP_MIN_LOG_LEVEL": "3"}
        child_env.update(env or {})
        with log.open("ab") as out:
            self.procs[name] = subprocess.Popen(
                args,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=child_env,
                start_new_session=True,
            )
        return log

    def running(self, name: str) -> bool:
        proc = self.procs.get(name)
        return proc is not None and proc.poll() is None

    def stop(self, name: str, grace: float = 5.0) -> None:
        proc = self.procs.pop(name, None)
        if proc is None or proc.poll() is not None:
            return
        proc.terminate()
        try:
            proc.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=grace)

    def stop_all(self) -> None:
        for name in list(self.procs):
            self.stop(name)


def litefleet(*args: str) -> list[str]:
    """The command line of a `litefleet` subcommand in this interpreter."""
    return [sys.executable, "-m", "litefleet", *args]


def _sigterm_as_interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt
