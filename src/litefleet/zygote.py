"""A clean, preloaded parent that forks the sandbox's children (`litefleet.sandbox`).

A fresh interpreter per sandboxed task cost ~0.25 s of CPU, nearly all of it importing
numpy, LiteRT and litefleet's own modules; a publish of 16 variants, every device install
and every gate paid it again (1,500 children, a quarter of the test suite's CPU). The
zygote is one `python -m litefleet.zygote` process per caller, started with the sandbox's
environment, which imports those modules once and then forks a child per task: each child
is a copy of that clean, single-threaded process, never of the caller (whose threads and
locks a fork would copy), so the reason for a fresh interpreter still holds.

Protocol (one Unix-socket connection per task, so any number of the caller's threads may
run tasks at once): the caller sends the job file's path and a newline; the zygote forks
and answers `pid <n>`, then `exit <code>` (negative: killed by that signal) when the child
ends. The zygote exits when the caller does (EOF on its stdin); each child asks the kernel
for SIGKILL when the zygote dies, so a killed caller leaves no model running.
"""

from __future__ import annotations

import contextlib
import importlib
import json
import os
import selectors
import signal
import socket
import subprocess
import sys
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path

PRELOAD = ("numpy", "ai_edge_litert.interpreter")
"""What every sandbox task imports (a module missing from this install is skipped). Each
task's own module is imported by the zygote before its first fork, then shared by every
later child: a one-shot command pays what one fresh interpreter would, a long-running agent
or server pays it once."""

SOCKET_PATH_MAX = 100
"""AF_UNIX paths end at 107 bytes; a deep `$TMPDIR` (a test's) falls back to /tmp."""


class Zygote:
    """The caller's handle: `start` once, then `spawn` per task from any thread."""

    def __init__(self, env: dict[str, str]) -> None:
        """Start the zygote process with `env` (the sandbox's environment for its children)."""
        self._dir = tempfile.mkdtemp(prefix="litefleet-zygote-")  # mode 0700: the owner's
        if len(self._dir) + len("/socket") > SOCKET_PATH_MAX:
            os.rmdir(self._dir)
            self._dir = tempfile.mkdtemp(prefix="lfz-", dir="/tmp")
        self.socket_path = os.path.join(self._dir, "socket")
        self.owner = os.getpid()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "litefleet.zygote", self.socket_path],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env=env,
            start_new_session=True,  # a Ctrl-C for the caller is the caller's to handle
        )
        ready = self.proc.stdout.readline() if self.proc.stdout else b""
        if ready.strip() != b"ready":
            self.close()
            raise OSError("the sandbox zygote did not start")

    def alive(self) -> bool:
        return self.owner == os.getpid() and self.proc.poll() is None

    def spawn(self, job: Path, deadline_s: float, kill: Callable[[int], None]) -> int | None:
        """Run the child for `job`; its exit code (negative: signal), or None when the
        wall-clock deadline passed (the child is then killed with `kill(pid)`)."""
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as conn:
            conn.settimeout(10.0)
            conn.connect(self.socket_path)
            conn.sendall(str(job).encode() + b"\n")
            lines = _Lines(conn)
            first = lines.read().split()
            if len(first) != 2 or first[0] != b"pid":
                raise OSError("the sandbox zygote did not fork a child")
            pid = int(first[1])
            conn.settimeout(max(0.1, deadline_s))
            try:
                last = lines.read()
            except TimeoutError:
                kill(pid)
                return None
            except BaseException:  # the caller is interrupted: the child goes too
                kill(pid)
                raise
            parts = last.split()
            if len(parts) != 2 or parts[0] != b"exit":
                raise OSError("the sandbox zygote ended before its child did")
            return int(parts[1])

    def close(self) -> None:
        with contextlib.suppress(OSError):
            if self.proc.stdin:
                self.proc.stdin.close()
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(5)
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        with contextlib.suppress(OSError):
            os.unlink(self.socket_path)
        with contextlib.suppress(OSError):
            os.rmdir(self._dir)


class _Lines:
    """Newline-terminated lines from a socket (a file object over a socket is unusable
    after one timeout; this reader is not)."""

    def __init__(self, conn: socket.socket) -> None:
        self.conn, self.buffer = conn, b""

    def read(self) -> bytes:
        while b"\n" not in self.buffer:
            chunk = self.conn.recv(256)
            if not chunk:
                return b""
            self.buffer += chunk
        line, self.buffer = self.buffer.split(b"\n", 1)
        return line


_lock = threading.Lock()
_zygote: Zygote | None = None


def shared(env: Callable[[], dict[str, str]]) -> Zygote:
    """This process's zygote, started with `env()` (or restarted after a crash, or after a
    fork of the caller) on first use."""
    global _zygote
    with _lock:
        if _zygote is None or not _zygote.alive():
            if _zygote is not None and _zygote.owner == os.getpid():
                _zygote.close()
            _zygote = Zygote(env())
        return _zygote


# --------------------------------------------------------------------------- the zygote


def _serve(socket_path: str, run_child: Callable[[str], int]) -> None:
    """Fork `run_child(job)` per connection; report each child's pid and exit code."""
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(socket_path)
    listener.listen(64)
    wake_r, wake_w = os.pipe()
    os.set_blocking(wake_w, False)
    signal.set_wakeup_fd(wake_w)
    signal.signal(signal.SIGCHLD, lambda *_: None)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    selector = selectors.DefaultSelector()
    selector.register(listener, selectors.EVENT_READ, "accept")
    selector.register(wake_r, selectors.EVENT_READ, "child")
    selector.register(sys.stdin.buffer, selectors.EVENT_READ, "caller")
    children: dict[int, socket.socket] = {}
    sys.stdout.write("ready\n")
    sys.stdout.flush()
    while True:
        for key, _ in selector.select():
            if key.data == "caller":
                return  # the caller is gone (EOF) or spoke out of turn: stop
            if key.data == "child":
                with contextlib.suppress(BlockingIOError):
                    os.read(wake_r, 4096)
                _reap(children)
                continue
            conn, _ = listener.accept()
            conn.settimeout(10.0)
            try:
                job = conn.makefile("rb").readline().decode().strip()
            except (OSError, UnicodeDecodeError):
                conn.close()
                continue
            _import_task_module(job)
            pid = os.fork()
            if pid == 0:  # the child: never returns into this loop
                code = 1
                try:
                    listener.close()
                    conn.close()
                    for other in children.values():
                        other.close()
                    os.close(wake_r)
                    os.close(wake_w)
                    signal.set_wakeup_fd(-1)
                    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
                    signal.signal(signal.SIGINT, signal.SIG_DFL)
                    code = run_child(job)
                finally:
                    os._exit(code)
            with contextlib.suppress(OSError):
                conn.sendall(f"pid {pid}\n".encode())
            children[pid] = conn
        _reap(children)


def _reap(children: dict[int, socket.socket]) -> None:
    for pid in list(children):
        with contextlib.suppress(ChildProcessError):
            done, status = os.waitpid(pid, os.WNOHANG)
            if not done:
                continue
            conn = children.pop(pid)
            with contextlib.suppress(OSError):
                conn.sendall(f"exit {os.waitstatus_to_exitcode(status)}\n".encode())
            conn.close()


def _import_task_module(job: str) -> None:
    """Import the job's `litefleet.` task module here, once, so every later child has it;
    a module that fails to import is left for the child to report."""
    try:
        task = json.loads(Path(job).read_text())["task"]
        module = task.split(":", 1)[0]
        if module.startswith("litefleet.") and module not in sys.modules:
            importlib.import_module(module)
    except Exception:
        pass


def main(socket_path: str) -> int:
    for name in PRELOAD:
        with contextlib.suppress(ImportError):
            importlib.import_module(name)
    from litefleet.sandbox_child import forked_child_main

    try:
        _serve(socket_path, forked_child_main)
    finally:  # the caller usually just exits: its folder is the zygote's to remove
        with contextlib.suppress(OSError):
            os.unlink(socket_path)
        with contextlib.suppress(OSError):
            os.rmdir(os.path.dirname(socket_path))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
