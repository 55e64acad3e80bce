"""The server's database: schema, engine and pool, for SQLite (default) or PostgreSQL.

One schema for every worker and every restart: device events, each device's current model,
and the halt decisions (one row per release). `open_database(url)` creates what is missing
on first start, so `litefleet serve --db postgresql+psycopg://…` needs an empty database and
nothing else.

Upgrades: a table added later is created by `create_all`; a column added later is listed in
`_ADDED_COLUMNS` and added by `_upgrade` (plain `ALTER TABLE … ADD COLUMN` with a default),
which also creates any declared index the database lacks, so an old database keeps its
rows. A change that needs more than that should bring Alembic.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Float,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    create_engine,
    event,
    inspect,
    text,
)
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, NoSuchModuleError
from sqlalchemy.schema import CreateIndex

from litefleet.errors import UserError

MAX_VERSION = 2**31 - 1
"""Release counters are PostgreSQL `integer`s: the API refuses anything larger (422)."""

meta = MetaData()
_Id = BigInteger().with_variant(Integer, "sqlite")  # SQLite autoincrements INTEGER keys only

events = Table(
    "events",
    meta,
    Column("id", _Id, primary_key=True, autoincrement=True),
    Column("device_id", String(128), nullable=False),
    Column("model", String(128), nullable=False),
    Column("version", Integer, nullable=True),
    Column("type", String(32), nullable=False),
    Column("time", Float, nullable=False),
    Column("received", Float, nullable=False),
    Column("reason", Text, nullable=False, default=""),
    Column("metrics", Text, nullable=False, default="{}"),
    Column("offered", Boolean, nullable=False, default=False, server_default=text("false")),
    # True when the device was in the release's rollout cohort when it reported: only
    # those reports count for the automatic halt
    Column("event_id", String(64), nullable=True),
    # the device's uuid4 hex (or the sha256 of an older agent's event): stored once per device
    Column("seq", BigInteger, nullable=True),
)
devices = Table(
    "devices",
    meta,
    Column("device_id", String(128), primary_key=True),
    Column("model", String(128), primary_key=True),
    Column("version", Integer, nullable=True),
    Column("last_event", String(32), nullable=False),
    Column("last_seen", Float, nullable=False),
    Column("seq", BigInteger, nullable=True),
    # the newest event `seq` applied: an older or replayed report never moves the state back
)
halts = Table(
    "halts",
    meta,
    Column("model", String(128), primary_key=True),
    Column("version", Integer, primary_key=True),
    Column("state", String(16), nullable=False),
    # armed (may pause) | pausing (one worker is signing) | paused | resumed (by an operator)
    Column("generation", Integer, nullable=False),
    Column("pauses", Integer, nullable=False, default=0),
    Column("reason", Text, nullable=False, default=""),
    Column("paused_at", Float, nullable=True),
    Column("paused_by", String(128), nullable=False, default=""),
    Column("signed_updated", String(40), nullable=False, default=""),
    Column("resumed_at", Float, nullable=True),
    Column("resumed_by", String(128), nullable=False, default=""),
)
release_devices = Table(
    "release_devices",
    meta,
    # one row per device that reported a release: the fleet counts are counts of these rows,
    # never a count(distinct) over millions of events (kept by TelemetryStore.add)
    Column("model", String(128), primary_key=True),
    Column("version", Integer, primary_key=True),
    Column("device_id", String(128), primary_key=True),
    Column("health_failed", Boolean, nullable=False, default=False),
    Column("rolled_back", Boolean, nullable=False, default=False),
)
device_tags = Table(
    "device_tags",
    meta,
    # a copy of the enrollment book's tags (tokens.json), for SQL filters; synced by the server
    Column("device_id", String(128), primary_key=True),
    Column("tag", String(64), primary_key=True),
)
operator_sessions = Table(
    "operator_sessions",
    meta,
    Column("id_hash", String(64), primary_key=True),  # sha256 of the cookie's secret
    Column("name", String(64), nullable=False),
    Column("csrf", String(64), nullable=False),
    Column("created", Float, nullable=False),
    Column("expires", Float, nullable=False),
)
audit = Table(
    "audit",
    meta,
    Column("id", _Id, primary_key=True, autoincrement=True),
    Column("time", Float, nullable=False),
    Column("who", String(128), nullable=False),
    Column("action", String(32), nullable=False),
    Column("target", String(256), nullable=False),
    Column("detail", Text, nullable=False, default=""),
    Column("reason", Text, nullable=False, default=""),
)
adoption = Table(
    "adoption",
    meta,
    # devices running each release, sampled every few minutes: the adoption plot
    Column("bucket", Float, primary_key=True),
    Column("model", String(128), primary_key=True),
    Column("version", Integer, primary_key=True),
    Column("running", Integer, nullable=False),
)
alert_outbox = Table(
    "alert_outbox",
    meta,
    Column("id", _Id, primary_key=True, autoincrement=True),
    Column("hook", String(64), nullable=False),
    Column("kind", String(32), nullable=False),
    Column("key", String(256), nullable=False),  # one alert per (hook, key), whatever worker
    Column("payload", Text, nullable=False),
    Column("created", Float, nullable=False),
    Column("attempts", Integer, nullable=False, default=0),
    Column("next_try", Float, nullable=False),
    Column("status", String(16), nullable=False, default="pending"),  # pending|sent|failed
    Column("last_error", Text, nullable=False, default=""),
    Column("sent_at", Float, nullable=True),
    UniqueConstraint("hook", "key", name="uq_alert_key"),
)
promotions = Table(
    "promotions",
    meta,
    Column("id", _Id, primary_key=True, autoincrement=True),
    Column("model", String(128), nullable=False),
    Column("version", Integer, nullable=False),
    Column("from_percent", Float, nullable=False),
    Column("to_percent", Float, nullable=False),
    Column("at", Float, nullable=False),
    Column("by", String(128), nullable=False),
    Column("reason", Text, nullable=False, default=""),
    Column("signed_updated", String(40), nullable=False, default=""),
)
"""Every automatic rollout step (`promote.py`): who, what, why, like a halt."""
login_failures = Table(
    "login_failures",
    meta,
    # one row per failed operator login or bad operator token, kept for the throttle's
    # window (`console/throttle.py`): every worker counts the same rows
    Column("id", _Id, primary_key=True, autoincrement=True),
    Column("key", String(200), nullable=False),  # "account:NAME" or "address:IP"
    Column("time", Float, nullable=False),
)
# the fleet and halt queries: distinct devices per release and event type, and who runs what
Index("ix_events_release", events.c.model, events.c.version, events.c.type, events.c.offered)
Index("ix_events_device", events.c.device_id)
Index("ux_events_event", events.c.device_id, events.c.event_id, unique=True)
Index("ix_events_device_type", events.c.device_id, events.c.type, events.c.id)  # console pages
Index("ix_events_failures", events.c.type, events.c.model, events.c.reason)
Index("ix_devices_release", devices.c.model, devices.c.version)
Index("ix_devices_seen", devices.c.last_seen)
Index("ix_device_tags_tag", device_tags.c.tag, device_tags.c.device_id)
Index("ix_audit_time", audit.c.time)
Index("ix_alert_due", alert_outbox.c.status, alert_outbox.c.next_try)
Index("ix_login_failures_key", login_failures.c.key, login_failures.c.time)
Index("ix_login_failures_time", login_failures.c.time)


def open_database(url: str, pool_size: int = 5, connect_timeout: int | None = None) -> Engine:
    """An engine with a connection pool and the schema in place.

    `connect_timeout`: seconds a PostgreSQL connection may take to open (None: libpq's
    default, which waits as long as TCP does for an address that does not answer).
    """
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})
        event.listen(engine, "connect", _sqlite_pragmas)
    else:
        args = {"connect_timeout": connect_timeout} if connect_timeout else {}
        engine = create_engine(
            url,
            pool_size=pool_size,
            max_overflow=2 * pool_size,
            pool_pre_ping=True,
            connect_args=args,
        )
    meta.create_all(engine)
    _upgrade(engine)
    return engine


def _sqlite_pragmas(dbapi_conn, _record) -> None:
    # WAL lets readers (fleet status, the halt check) run while a batch is written
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.close()


_ADDED_COLUMNS = {
    "events": {
        "offered": "BOOLEAN NOT NULL DEFAULT false",
        "event_id": "VARCHAR(64)",
        "seq": "BIGINT",
    },
    "devices": {"seq": "BIGINT"},
}
"""Columns added to a table since its first schema: name -> the DDL that adds it."""


def _upgrade(engine: Engine) -> None:
    """Bring a database made by an older version up to this schema, keeping its rows.

    `create_all` makes a missing table with its indexes, but leaves an existing table as it
    is: the columns added since are added here, then every index the schema declares that
    the database lacks (one added later, or one on a column just added).
    """
    with engine.begin() as conn:
        for table, wanted in _ADDED_COLUMNS.items():
            columns = {c["name"] for c in inspect(conn).get_columns(table)}
            for name, ddl in wanted.items():
                if name not in columns:
                    conn.execute(text(f"ALTER TABLE {table} ADD COLUMN {name} {ddl}"))
    with engine.begin() as conn:
        for table in meta.sorted_tables:
            present = {i["name"] for i in inspect(conn).get_indexes(table.name)}
            for index in table.indexes:
                if index.name not in present:  # IF NOT EXISTS: another worker may race
                    conn.execute(CreateIndex(index, if_not_exists=True))
    with engine.begin() as conn:  # a database from before release_devices: fill it once
        empty = conn.execute(text("SELECT 1 FROM release_devices LIMIT 1")).first() is None
        if empty and conn.execute(text("SELECT 1 FROM events LIMIT 1")).first() is not None:
            conn.execute(
                text(
                    "INSERT INTO release_devices (model, version, device_id, health_failed,"
                    " rolled_back) SELECT model, version, device_id,"
                    " MAX(CASE WHEN type = 'health_failed' THEN 1 ELSE 0 END) = 1,"
                    " MAX(CASE WHEN type = 'rolled_back' THEN 1 ELSE 0 END) = 1"
                    " FROM events WHERE version IS NOT NULL GROUP BY model, version, device_id"
                )
            )


URL_EXAMPLE = "postgresql+psycopg://USER:PASSWORD@HOST:PORT/DB or sqlite:///PATH"


def check_database(url: str, connect_timeout: int = 5) -> None:
    """Open the database once as a worker would (connect, create the schema), then close it.

    `litefleet serve` calls this before it starts any worker: a worker that cannot open its
    database dies at start-up, and a supervisor would respawn it for ever.

    Raises:
        UserError: the URL does not parse, its driver is not installed, or the server
            refuses the connection or the login; one line that names the database
            (password hidden) and the cause.
    """
    try:
        shown = make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        raise UserError(f"--db {url!r} is not a database URL (expected {URL_EXAMPLE})") from None
    try:
        engine = open_database(url, pool_size=1, connect_timeout=connect_timeout)
    except (NoSuchModuleError, ModuleNotFoundError, ImportError) as exc:
        driver = make_url(url).drivername
        raise UserError(
            f"--db {shown}: no driver for {driver!r} ({exc}); litefleet[server] installs"
            " psycopg for postgresql+psycopg://"
        ) from None
    except DBAPIError as exc:
        raise UserError(f"--db {shown}: {_first_line(exc.orig or exc)}") from None
    engine.dispose()


def _first_line(exc: BaseException) -> str:
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return lines[0] if lines else type(exc).__name__
