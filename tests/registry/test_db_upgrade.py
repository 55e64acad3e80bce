"""An old server database opens with the current schema and keeps its rows.

The schemas below are what `create_all` made in earlier versions (dumped from SQLite; on
PostgreSQL the events key was a serial): the first (no `offered`, no halts) and the one before event
ids (no `event_id`, `seq`, release_devices or console tables). Each is upgraded in SQLite
and, where the machine has it, in PostgreSQL.
"""

from __future__ import annotations

import shutil
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, exc, insert, inspect, select, text

from litefleet.registry.db import devices, events, meta, open_database, release_devices
from litefleet.testing.services import PostgresServer, missing

_DEVICES = """
CREATE TABLE devices (
    device_id VARCHAR(128) NOT NULL, model VARCHAR(128) NOT NULL, version INTEGER,
    last_event VARCHAR(32) NOT NULL, last_seen FLOAT NOT NULL, PRIMARY KEY (device_id, model)
);
"""
_EVENTS = """
CREATE TABLE events (
    id {{id}}, device_id VARCHAR(128) NOT NULL, model VARCHAR(128) NOT NULL,
    version INTEGER, type VARCHAR(32) NOT NULL, time FLOAT NOT NULL, received FLOAT NOT NULL,
    reason TEXT NOT NULL, metrics TEXT NOT NULL{offered}, PRIMARY KEY (id)
);
"""
FIRST = (
    _EVENTS.format(offered="")
    + _DEVICES
    + """
CREATE INDEX ix_events_device_id ON events (device_id);
CREATE INDEX ix_events_release ON events (model, version, type);
"""
)
BEFORE_EVENT_IDS = (
    _EVENTS.format(offered=", offered BOOLEAN DEFAULT false NOT NULL")
    + _DEVICES
    + """
CREATE INDEX ix_events_device ON events (device_id);
CREATE INDEX ix_events_release ON events (model, version, type, offered);
CREATE INDEX ix_devices_release ON devices (model, version);
CREATE TABLE halts (
    model VARCHAR(128) NOT NULL, version INTEGER NOT NULL, state VARCHAR(16) NOT NULL,
    generation INTEGER NOT NULL, pauses INTEGER NOT NULL, reason TEXT NOT NULL,
    paused_at FLOAT, paused_by VARCHAR(128) NOT NULL, signed_updated VARCHAR(40) NOT NULL,
    resumed_at FLOAT, resumed_by VARCHAR(128) NOT NULL, PRIMARY KEY (model, version)
);
"""
)
OLD_EVENTS = [  # device, version, type
    ("d1", 1, "activated"),
    ("d1", 1, "health_failed"),
    ("d2", 1, "activated"),
    ("d2", 1, "rolled_back"),
    ("d3", None, "check_failed"),
]


@pytest.fixture(scope="module")
def postgres() -> Iterator[PostgresServer]:
    pg_missing = [m for m in missing() if "PostgreSQL" in m or "runuser" in m]
    if pg_missing:
        pytest.skip(f"needs {', '.join(pg_missing)} (see .ci/run)")
    # not under pytest's basetemp (0700): as root the postgres user must reach the folder
    folder = Path(tempfile.mkdtemp(prefix="litefleet-db-upgrade-"))
    folder.chmod(0o711)
    try:
        with PostgresServer(folder / "pg") as pg:
            yield pg
    finally:
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_db(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The URL of a new, empty database."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'telemetry.db'}"
    pg: PostgresServer = request.getfixturevalue("postgres")
    name = f"old_{uuid.uuid4().hex[:12]}"
    admin = create_engine(pg.url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f"CREATE DATABASE {name}"))
    admin.dispose()
    return f"{pg.url.rsplit('/', 1)[0]}/{name}"


@pytest.mark.parametrize("schema", [FIRST, BEFORE_EVENT_IDS], ids=["first", "before-event-ids"])
def test_an_old_database_is_upgraded_and_keeps_its_rows(empty_db: str, schema: str) -> None:
    old = create_engine(empty_db)
    with old.begin() as conn:
        key = "INTEGER NOT NULL" if empty_db.startswith("sqlite") else "BIGSERIAL NOT NULL"
        for statement in filter(str.strip, schema.split(";")):
            conn.execute(text(statement.replace("{id}", key)))
        conn.execute(
            text(
                "INSERT INTO events (device_id, model, version, type, time, received, reason,"
                " metrics) VALUES (:d, 'm', :v, :t, 1.0, 1.0, '', '{}')"
            ),
            [{"d": d, "v": v, "t": t} for d, v, t in OLD_EVENTS],
        )
        conn.execute(text("INSERT INTO devices VALUES ('d1', 'm', 1, 'health_failed', 1.0)"))
    old.dispose()

    for _ in range(2):  # a second start finds nothing left to do
        engine = open_database(empty_db)
        schema_now = inspect(engine)
        for table in meta.sorted_tables:
            columns = {c["name"] for c in schema_now.get_columns(table.name)}
            assert columns == {c.name for c in table.columns}, table.name
            indexes = {i["name"] for i in schema_now.get_indexes(table.name)}
            assert {i.name for i in table.indexes} <= indexes, table.name
        with engine.connect() as conn:
            kept = conn.execute(select(events.c.device_id, events.c.version, events.c.type))
            assert sorted(map(tuple, kept), key=str) == sorted(OLD_EVENTS, key=str)
            assert conn.execute(select(events.c.offered)).scalars().all() == [False] * 5
            assert conn.execute(select(devices.c.device_id, devices.c.seq)).all() == [("d1", None)]
            filled = conn.execute(
                select(
                    release_devices.c.device_id,
                    release_devices.c.health_failed,
                    release_devices.c.rolled_back,
                ).order_by(release_devices.c.device_id)
            ).all()
            assert filled == [("d1", True, False), ("d2", False, True)]
        engine.dispose()

    engine = open_database(empty_db)
    new_event = {
        "device_id": "d1",
        "model": "m",
        "version": 2,
        "type": "activated",
        "time": 2.0,
        "received": 2.0,
        "event_id": "e" * 32,
        "seq": 7,
    }
    with engine.begin() as conn:
        conn.execute(insert(events).values(**new_event))
    with pytest.raises(exc.IntegrityError), engine.begin() as conn:  # one event id per device
        conn.execute(insert(events).values(**new_event))
    engine.dispose()
