"""Real PostgreSQL and nginx servers in a temporary folder, for tests and benchmarks.

    with PostgresServer(tmp / "pg") as pg, NginxServer(conf) as web:
        engine = create_engine(pg.url)

PostgreSQL comes from the machine (`initdb`, `pg_ctl`, PostgreSQL 15 here; Debian package
`postgresql`); both refuse to run as root, so as root they run as the `postgres` user
(`runuser -u postgres --`) in a folder that user owns. It listens on 127.0.0.1 only, on a
free port, with `trust` authentication for local connections (a throwaway test cluster).
nginx is the Debian package `nginx`, run with `-p PREFIX -c FILE` (no system files).
`missing()` says in one line what is not installed, so a test can say why it cannot run.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from pathlib import Path

PG_BIN_DIRS = ("/usr/local/bin", *sorted(map(str, Path("/usr/lib/postgresql").glob("*/bin"))))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_port(port: int, timeout: float = 30.0, proc: subprocess.Popen | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"process exited with {proc.returncode} before listening")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listens on 127.0.0.1:{port} after {timeout:.0f} s")


def _pg_tool(name: str) -> str | None:
    for d in PG_BIN_DIRS:
        if (Path(d) / name).exists():
            return str(Path(d) / name)
    return shutil.which(name)


def missing() -> list[str]:
    """What the topology needs and this machine lacks (empty: everything is there)."""
    out = [f"{tool} (PostgreSQL)" for tool in ("initdb", "pg_ctl") if _pg_tool(tool) is None]
    if shutil.which("nginx") is None and not Path("/usr/sbin/nginx").exists():
        out.append("nginx")
    if os.geteuid() == 0 and shutil.which("runuser") is None:
        out.append("runuser (to run PostgreSQL as the postgres user)")
    return out


def nginx_binary() -> str:
    return shutil.which("nginx") or "/usr/sbin/nginx"


class PostgresServer:
    """A PostgreSQL cluster in `folder`, started on enter, stopped and removed on exit."""

    def __init__(self, folder: Path, port: int | None = None, max_connections: int = 200):
        self.folder = Path(folder)
        self.port = port or free_port()
        self.max_connections = max_connections
        self.data = self.folder / "data"

    @property
    def url(self) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/litefleet"

    def _as_owner(self, *args: str) -> list[str]:
        if os.geteuid() == 0:
            return ["runuser", "-u", "postgres", "--", *args]
        return list(args)

    def __enter__(self) -> PostgresServer:
        self.folder.mkdir(parents=True, exist_ok=True)
        if os.geteuid() == 0:
            shutil.chown(self.folder, "postgres", "postgres")
            # the postgres user must be able to reach the folder through its parents
            for parent in self.folder.parents:
                if parent == Path("/"):
                    break
                mode = parent.stat().st_mode
                if not mode & 0o001:
                    parent.chmod(mode | 0o001)
        run = {"check": True, "capture_output": True, "timeout": 120}
        subprocess.run(
            self._as_owner(
                _pg_tool("initdb") or "initdb",
                "-D",
                str(self.data),
                "-U",
                "postgres",
                "--auth=trust",
                "--encoding=UTF8",
                "--no-sync",
            ),
            **run,
        )
        options = (
            f"-c listen_addresses=127.0.0.1 -p {self.port} -c unix_socket_directories={self.folder}"
            f" -c max_connections={self.max_connections} -c fsync=on"
            " -c shared_buffers=128MB -c synchronous_commit=on"
        )
        subprocess.run(
            self._as_owner(
                _pg_tool("pg_ctl") or "pg_ctl",
                "-D",
                str(self.data),
                "-o",
                options,
                "-l",
                str(self.folder / "postgres.log"),
                "-w",
                "-t",
                "60",
                "start",
            ),
            **run,
        )
        import psycopg

        with psycopg.connect(
            f"host=127.0.0.1 port={self.port} user=postgres dbname=postgres", autocommit=True
        ) as conn:
            conn.execute("CREATE DATABASE litefleet")
        return self

    def __exit__(self, *exc: object) -> None:
        subprocess.run(
            self._as_owner(
                _pg_tool("pg_ctl") or "pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "stop"
            ),
            capture_output=True,
            timeout=120,
        )


class NginxServer:
    """nginx on a written config (`deploy.write_nginx`), started on enter, stopped on exit."""

    def __init__(self, conf: Path, port: int):
        self.conf = Path(conf)
        self.prefix = self.conf.parent
        self.port = port
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> NginxServer:
        self.proc = subprocess.Popen(
            [
                nginx_binary(),
                "-p",
                str(self.prefix),
                "-c",
                str(self.conf),
                "-g",
                "daemon off;",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        try:
            wait_for_port(self.port, proc=self.proc)
        except RuntimeError as exc:
            err = self.proc.stderr.read().decode() if self.proc.poll() is not None else ""
            raise RuntimeError(f"nginx did not start: {exc} {err}") from exc
        return self

    def __exit__(self, *exc: object) -> None:
        if self.proc and self.proc.poll() is None:
            stop_process(self.proc, grace=15)  # SIGTERM: nginx's fast shutdown


def stop_process(proc: subprocess.Popen, grace: float = 30.0) -> None:
    """SIGTERM, then SIGKILL if it is still there after `grace` seconds."""
    proc.terminate()
    try:
        proc.wait(grace)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(5)


def mosquitto_site(keys_dir: Path, out: Path, port: int):
    """A `MosquittoSite` on 127.0.0.1:`port` for the repository keys in `keys_dir` (run as
    root when the tests are: Debian's mosquitto drops to its own user otherwise)."""
    from litefleet.registry.mosquitto import MosquittoSite

    return MosquittoSite(
        keys_dir=keys_dir,
        out=out,
        listen=f"127.0.0.1:{port}",
        user="root" if os.geteuid() == 0 else None,
    )


def mosquitto_binary() -> str | None:
    found = shutil.which("mosquitto")
    return found or ("/usr/sbin/mosquitto" if Path("/usr/sbin/mosquitto").exists() else None)


class MosquittoServer:
    """Mosquitto on a config written by `registry.mosquitto.write_mosquitto` (Debian package
    `mosquitto`). `stop()` kills it (SIGKILL: the broker dying mid-test) and `start()`
    brings it back on the same port."""

    def __init__(self, conf: Path, port: int):
        self.conf = Path(conf)
        self.port = port
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"mqtt://127.0.0.1:{self.port}"

    def start(self) -> MosquittoServer:
        binary = mosquitto_binary()
        if binary is None:
            raise RuntimeError("mosquitto is not installed (apt-get install mosquitto)")
        log = (self.conf.parent / "mosquitto.log").open("ab")
        self.proc = subprocess.Popen(
            [binary, "-c", str(self.conf)], stdout=log, stderr=subprocess.STDOUT
        )
        log.close()
        try:
            wait_for_port(self.port, proc=self.proc)
        except RuntimeError as exc:
            text = (self.conf.parent / "mosquitto.log").read_text(errors="replace")[-800:]
            raise RuntimeError(f"mosquitto did not start: {exc} {text}") from exc
        return self

    def stop(self, kill: bool = True) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.kill() if kill else self.proc.terminate()
            self.proc.wait(15)

    def __enter__(self) -> MosquittoServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop(kill=False)
