"""`litefleet deploy postgres DIR`: a PostgreSQL cluster for the server, and its URL.

On a fresh Debian machine `apt-get install postgresql` leaves `initdb` and `pg_ctl` off
the PATH (in `/usr/lib/postgresql/<N>/bin`), refuses to run them as root, and its own
cluster asks for a password on 127.0.0.1 that nobody has set. This makes a cluster of its
own in `DIR` that works the same as root or not:

- `DIR/data` (initdb, as the `postgres` user when run as root), password authentication
  (scram-sha-256) for every connection, the superuser's random password in
  `DIR/superuser.password`;
- listening on 127.0.0.1 only, on `port` (default: a free one), its socket in `DIR/run`;
- a login role and a database owned by it (`litefleet`/`litefleet` by default) with a
  random password; the URL, password included, printed and kept in `DIR/url` (mode 0600),
  so `litefleet serve --db "$(cat DIR/url)"` works as written.

Run again on the same `DIR`: it starts the cluster if it is stopped and prints the same URL.
`stop_cluster(DIR)` stops it.

    url = prepare_cluster(Path("pg"))   # postgresql+psycopg://litefleet:…@127.0.0.1:PORT/litefleet
"""

from __future__ import annotations

import os
import secrets
import shutil
import socket
import subprocess
from dataclasses import dataclass
from pathlib import Path

from litefleet.errors import UserError
from litefleet.fsutil import atomic_write_bytes

PG_BIN_DIRS = ("/usr/lib/postgresql", "/usr/local/pgsql/bin")
SUPERUSER = "postgres"
OS_USER = "postgres"
"""The operating-system user that owns and runs the cluster when this runs as root."""


@dataclass(frozen=True)
class Cluster:
    folder: Path
    url: str
    started: bool
    """True when this call started the server (False: it was already running)."""
    created: bool
    """True when this call made the cluster (False: it existed)."""


def pg_tool(name: str) -> str:
    """`initdb`/`pg_ctl`: on the PATH, else the newest `/usr/lib/postgresql/<N>/bin`."""
    found = shutil.which(name)
    if found:
        return found
    versions = sorted(Path(PG_BIN_DIRS[0]).glob("*/bin"), key=lambda p: _version_key(p.parent.name))
    for bin_dir in [*reversed(versions), Path(PG_BIN_DIRS[1])]:
        if (bin_dir / name).is_file():
            return str(bin_dir / name)
    raise UserError(f"{name} not found: install PostgreSQL (Debian: apt-get install postgresql)")


def _version_key(name: str) -> tuple[int, ...]:
    return tuple(int(x) for x in name.split(".") if x.isdigit())


def _as_owner(args: list[str]) -> list[str]:
    if os.geteuid() != 0:
        return args
    if shutil.which("runuser") is None:
        raise UserError("running as root needs `runuser` (util-linux) to run PostgreSQL")
    return ["runuser", "-u", OS_USER, "--", *args]


def _run(args: list[str], what: str, log: Path | None = None) -> str:
    try:
        done = subprocess.run(
            _as_owner(args), capture_output=True, text=True, timeout=180, check=False
        )
    except subprocess.TimeoutExpired:
        raise UserError(f"{what}: no answer after 180 s") from None
    if done.returncode != 0:
        text = (done.stderr or "") + (done.stdout or "")
        lines = [line for line in text.splitlines() if "error" in line.lower() or "FATAL" in line]
        detail = " ".join((lines[-1] if lines else text).split())[-300:]
        if log is not None:
            log.write_text(text)
            detail += f" (all of it: {log})"
        raise UserError(f"{what} failed: {detail}")
    return done.stdout


def _hand_to_postgres(folder: Path, *, reach: bool = True) -> None:
    """As root: the folder belongs to the postgres user, who must also reach it through
    its parents (`reach`: search permission only, o+x; nothing becomes readable)."""
    import pwd

    try:
        pw = pwd.getpwnam(OS_USER)
    except KeyError:
        raise UserError(
            f"no {OS_USER!r} user: install PostgreSQL (Debian: apt-get install postgresql)"
        ) from None
    os.chown(folder, pw.pw_uid, pw.pw_gid)
    for parent in folder.resolve().parents if reach else ():
        mode = parent.stat().st_mode
        if not mode & 0o001:
            parent.chmod(mode | 0o001)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _write_secret(path: Path, text: str, *, for_postgres: bool = False) -> None:
    """Mode 0600 from the start; `for_postgres`: owned by the postgres user when root."""
    atomic_write_bytes(path, text.encode(), mode=0o600)
    if for_postgres and os.geteuid() == 0:
        import pwd

        pw = pwd.getpwnam(OS_USER)
        os.chown(path, pw.pw_uid, pw.pw_gid)


def _port_of(data: Path) -> int:
    for line in (data / "postgresql.auto.conf").read_text().splitlines():
        key, _, value = line.partition("=")
        if key.strip() == "port":
            return int(value.strip().strip("'"))
    raise UserError(f"{data}: no port in postgresql.auto.conf (not made by litefleet?)")


def _running(data: Path) -> bool:
    done = subprocess.run(
        _as_owner([pg_tool("pg_ctl"), "-D", str(data), "status"]),
        capture_output=True,
        timeout=60,
        check=False,
    )
    return done.returncode == 0


def _start(folder: Path) -> None:
    data = folder / "data"
    _run(
        [pg_tool("pg_ctl"), "-D", str(data), "-l", str(folder / "postgres.log"), "-w", "start"],
        f"starting PostgreSQL (log: {folder / 'postgres.log'})",
    )


def prepare_cluster(
    folder: Path,
    *,
    port: int | None = None,
    role: str = "litefleet",
    database: str = "litefleet",
) -> Cluster:
    """Make (first time) and start the cluster in `folder`; return its URL.

    Raises:
        UserError: PostgreSQL is not installed, `folder` holds something else, the
            port is taken, or a step fails (the step and PostgreSQL's own words).
    """
    folder = Path(folder).resolve()
    data = folder / "data"
    url_file = folder / "url"
    created = False
    if not data.exists():
        if folder.exists() and any(folder.iterdir()):
            raise UserError(f"{folder} is not empty and holds no cluster: choose a new folder")
        _initdb(folder, port or _free_port())
        created = True
    elif not url_file.is_file():
        raise UserError(f"{folder} holds a cluster litefleet did not make (no {url_file.name})")
    elif port is not None and port != _port_of(data):
        raise UserError(f"the cluster in {folder} listens on {_port_of(data)}, not {port}")
    started = False
    if not _running(data):
        _start(folder)
        started = True
    if created:
        url = _create_role(folder, _port_of(data), role, database)
        _write_secret(url_file, url + "\n")
    return Cluster(folder, url_file.read_text().strip(), started, created)


def _initdb(folder: Path, port: int) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    folder.chmod(0o700)
    if os.geteuid() == 0:
        _hand_to_postgres(folder)
    password_file = folder / "superuser.password"
    _write_secret(password_file, secrets.token_urlsafe(24), for_postgres=True)
    _run(
        [
            *(pg_tool("initdb"), "-D", str(folder / "data"), "-U", SUPERUSER),
            *("--auth=scram-sha-256", f"--pwfile={password_file}", "--encoding=UTF8"),
        ],
        "initdb",
        log=folder / "initdb.log",
    )
    run_dir = folder / "run"
    run_dir.mkdir(mode=0o700, exist_ok=True)
    if os.geteuid() == 0:
        _hand_to_postgres(run_dir, reach=False)
    # postgresql.auto.conf: read at start, so `pg_ctl start` needs no options
    settings = {
        "listen_addresses": "127.0.0.1",
        "port": str(port),
        "unix_socket_directories": str(run_dir),
        "password_encryption": "scram-sha-256",
    }
    conf = folder / "data" / "postgresql.auto.conf"
    lines = [f"{k} = '{v}'" for k, v in settings.items()]
    text = conf.read_text() + "\n".join(lines) + "\n"
    conf.write_text(text)  # the file stays the postgres user's (written in place)


def _create_role(folder: Path, port: int, role: str, database: str) -> str:
    import psycopg
    from psycopg import sql

    password = secrets.token_urlsafe(24)  # URL-safe: no quoting in the URL
    superuser = (folder / "superuser.password").read_text().strip()
    try:
        with psycopg.connect(
            host="127.0.0.1",
            port=port,
            user=SUPERUSER,
            password=superuser,
            dbname="postgres",
            autocommit=True,
            connect_timeout=10,
        ) as conn:
            conn.execute(
                sql.SQL("CREATE ROLE {} LOGIN PASSWORD {}").format(
                    sql.Identifier(role), sql.Literal(password)
                )
            )
            conn.execute(
                sql.SQL("CREATE DATABASE {} OWNER {}").format(
                    sql.Identifier(database), sql.Identifier(role)
                )
            )
    except psycopg.Error as exc:
        raise UserError(f"creating role {role!r} and database {database!r}: {exc}") from None
    return f"postgresql+psycopg://{role}:{password}@127.0.0.1:{port}/{database}"


def stop_cluster(folder: Path) -> bool:
    """Stop the cluster in `folder` (fast shutdown); False when it was not running."""
    data = Path(folder).resolve() / "data"
    if not data.is_dir():
        raise UserError(f"{folder} holds no cluster")
    if not _running(data):
        return False
    _run([pg_tool("pg_ctl"), "-D", str(data), "-m", "fast", "-w", "stop"], "stopping PostgreSQL")
    return True
