"""The telemetry store: device events and each device's current model, in SQLAlchemy.

SQLite (WAL) by default, any SQLAlchemy URL (`postgresql+psycopg://…`) for a large fleet.
Only validated `EventBatch`es reach `add`, so a bad request never touches the database.

Counting rules (what the automatic halt and `fleet status` rely on):
- a device *tried* a release when it sent any event naming that (model, version);
- it *failed* it when one of those events is `health_failed` or `rolled_back`;
- it *runs* a release after an `activated` or `heartbeat` event naming it, until a
  `rolled_back` event for that version (the agent then reports `activated` for the old one).
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from sqlalchemy import (
    Column,
    Float,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    create_engine,
    event,
    func,
    select,
)
from sqlalchemy.engine import Engine

from litefleet.release import EventBatch

FAILURE_TYPES = ("health_failed", "rolled_back")
RUNNING_TYPES = ("activated", "heartbeat")

_meta = MetaData()
events = Table(
    "events",
    _meta,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("device_id", String(128), nullable=False, index=True),
    Column("model", String(128), nullable=False),
    Column("version", Integer, nullable=True),
    Column("type", String(32), nullable=False),
    Column("time", Float, nullable=False),
    Column("received", Float, nullable=False),
    Column("reason", Text, nullable=False, default=""),
    Column("metrics", Text, nullable=False, default="{}"),
)
devices = Table(
    "devices",
    _meta,
    Column("device_id", String(128), primary_key=True),
    Column("model", String(128), primary_key=True),
    Column("version", Integer, nullable=True),
    Column("last_event", String(32), nullable=False),
    Column("last_seen", Float, nullable=False),
)
# the per-release counts of the automatic halt run on every batch: keep them indexed
Index("ix_events_release", events.c.model, events.c.version, events.c.type)


@dataclass(frozen=True)
class ReleaseHealth:
    model: str
    version: int
    tried: int
    failed: int
    health_failed: int
    rolled_back: int
    running: int

    @property
    def failure_rate(self) -> float:
        return self.failed / self.tried if self.tried else 0.0


class TelemetryStore:
    """Events and device state; thread-safe (one connection per call from the pool)."""

    def __init__(self, url: str):
        self.engine = _engine(url)
        _meta.create_all(self.engine)

    def add(self, device_id: str, batch: EventBatch, received: float) -> set[tuple[str, int]]:
        """Store a validated batch in one transaction; return the releases it names."""
        rows = [
            {
                "device_id": device_id,
                "model": e.model,
                "version": e.version,
                "type": e.type,
                "time": e.time,
                "received": received,
                "reason": e.reason,
                "metrics": json.dumps(e.metrics),
            }
            for e in batch.events
        ]
        with self.engine.begin() as conn:
            conn.execute(events.insert(), rows)
            for e in sorted(batch.events, key=lambda e: e.time):
                key = (devices.c.device_id == device_id) & (devices.c.model == e.model)
                current = conn.execute(select(devices.c.version).where(key)).first()
                version = current.version if current else None
                if e.type in RUNNING_TYPES and e.version is not None:
                    version = e.version
                elif e.type == "rolled_back" and e.version == version:
                    version = None
                values = {"version": version, "last_event": e.type, "last_seen": received}
                if current is None:
                    conn.execute(
                        devices.insert().values(device_id=device_id, model=e.model, **values)
                    )
                else:
                    conn.execute(devices.update().where(key).values(**values))
        return {(e.model, e.version) for e in batch.events if e.version is not None}

    def health(self, model: str, version: int) -> ReleaseHealth:
        """Devices that tried, failed and run one release."""
        rel = (events.c.model == model) & (events.c.version == version)
        distinct = func.count(events.c.device_id.distinct())
        with self.engine.connect() as conn:
            tried = conn.execute(select(distinct).where(rel)).scalar_one()
            by_type = dict(
                conn.execute(
                    select(events.c.type, distinct)
                    .where(rel & events.c.type.in_(FAILURE_TYPES))
                    .group_by(events.c.type)
                ).all()
            )
            failed = conn.execute(
                select(distinct).where(rel & events.c.type.in_(FAILURE_TYPES))
            ).scalar_one()
            running = conn.execute(
                select(func.count())
                .select_from(devices)
                .where((devices.c.model == model) & (devices.c.version == version))
            ).scalar_one()
        return ReleaseHealth(
            model=model,
            version=version,
            tried=tried,
            failed=failed,
            health_failed=by_type.get("health_failed", 0),
            rolled_back=by_type.get("rolled_back", 0),
            running=running,
        )

    def releases(self) -> list[tuple[str, int]]:
        """Every (model, version) any device reported, sorted."""
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(events.c.model, events.c.version)
                .where(events.c.version.is_not(None))
                .distinct()
            ).all()
        return sorted((m, v) for m, v in rows)

    def count_events(self) -> int:
        with self.engine.connect() as conn:
            return conn.execute(select(func.count()).select_from(events)).scalar_one()


def _engine(url: str) -> Engine:
    if not url.startswith("sqlite"):
        return create_engine(url, pool_pre_ping=True)
    engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})

    @event.listens_for(engine, "connect")
    def _sqlite_pragmas(dbapi_conn, _record) -> None:
        # WAL lets readers (fleet status, the halt check) run while a batch is written
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.close()

    return engine
