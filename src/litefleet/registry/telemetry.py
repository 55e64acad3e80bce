"""The telemetry store: device events and each device's current model.

SQLite (WAL, file mode 0600) by default, PostgreSQL (`postgresql+psycopg://…`) for a fleet;
the schema is in `db.py`. Only validated `EventBatch`es reach `add`, so a bad request never
touches the database. A batch is one transaction of a few statements whatever its size:
a read of the ids already stored, one multi-row insert of the new events, one read and one
upsert of the device's rows.

Replays change nothing: each event is stored once per (device, event id) (a unique index;
an older agent's event without an id is identified by the hash of its content), and the
device's state moves only on events whose `seq` is above the newest one applied
(`devices.seq`), so a captured "activated v1" replayed after the device moved to v2 is
neither stored again nor shown as what the device runs.

Counting rules (what the automatic halt and `fleet status` rely on), always over distinct
devices per release, never over events:
- a device *tried* a release when it sent any event naming that (model, version);
- it *failed* it when one of those events is `health_failed` or `rolled_back`
  (`operator_rollback`, an operator's move, is never a failure);
- it *runs* a release after an `activated` or `heartbeat` event naming it, until a
  `rolled_back` or `operator_rollback` event for that version (the agent then reports
  `activated` for the one it runs);
- for the halt, only events flagged `offered` count: sent by a device that was in the
  release's rollout cohort when it reported (`halt.py`).
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import case, func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, make_url

from litefleet.registry.db import device_tags, devices, events, open_database, release_devices
from litefleet.registry.judge import DeviceSummary
from litefleet.release import EventBatch, TelemetryEvent

FAILURE_TYPES = ("health_failed", "rolled_back")
LEFT_TYPES = ("rolled_back", "operator_rollback")
"""The device left the version it ran (an `activated` for the one it runs follows)."""
RUNNING_TYPES = ("activated", "heartbeat")
Offered = Callable[[str, str, int], bool]
"""(device_id, model, version) -> was the device in that release's rollout cohort."""


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
    """Events and device state; thread-safe (one pooled connection per call)."""

    def __init__(self, url: str, pool_size: int = 5):
        _private_sqlite_file(url)
        self.engine = open_database(url, pool_size=pool_size)
        self.dialect = self.engine.dialect.name

    def add(
        self,
        device_id: str,
        batch: EventBatch,
        received: float,
        offered: Offered | None = None,
    ) -> int:
        """Store a validated batch in one transaction; return how many of its events were
        new (an event id already stored, a replay, is not stored again)."""
        cohort: dict[tuple[str, int], bool] = {}  # one cohort check per release, not per event

        def was_offered(model: str, version: int | None) -> bool:
            if offered is None or version is None:
                return False
            if (model, version) not in cohort:
                cohort[(model, version)] = offered(device_id, model, version)
            return cohort[(model, version)]

        fresh = self._fresh(device_id, batch)
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
                "offered": was_offered(e.model, e.version),
                "event_id": event_id,
                "seq": e.seq,
            }
            for event_id, e in fresh
        ]
        if not rows:
            return 0  # a replay: nothing new, nothing changes (not even last_seen)
        insert = self._insert(events)
        with self.engine.begin() as conn:
            known = self._known_ids(conn, device_id, [r["event_id"] for r in rows])
            rows = [r for r in rows if r["event_id"] not in known]
            if not rows:
                return 0
            # a concurrent worker may store the same id first: the unique index keeps one
            conn.execute(
                insert.on_conflict_do_nothing(
                    index_elements=[events.c.device_id, events.c.event_id]
                ),
                rows,
            )
            new = {r["event_id"] for r in rows}
            stored = [e for i, e in fresh if i in new]
            self._update_devices(conn, device_id, stored, received)
            self._update_release_devices(conn, device_id, stored)
        return len(stored)

    @staticmethod
    def _fresh(device_id: str, batch: EventBatch) -> list[tuple[str, TelemetryEvent]]:
        """(event id, event) once per id: the device's id, or for an older agent's event
        without one, the hash of its content (the same bytes replayed are the same event)."""
        out: dict[str, TelemetryEvent] = {}
        for e in batch.events:
            event_id = (
                e.id or hashlib.sha256(f"{device_id}\x00{e.model_dump_json()}".encode()).hexdigest()
            )
            out.setdefault(event_id, e)
        return list(out.items())

    @staticmethod
    def _known_ids(conn: Connection, device_id: str, ids: list[str]) -> set[str]:
        return set(
            conn.execute(
                select(events.c.event_id).where(
                    (events.c.device_id == device_id) & events.c.event_id.in_(ids)
                )
            ).scalars()
        )

    def _insert(self, table):
        return (postgresql if self.dialect == "postgresql" else sqlite).insert(table)

    def _update_devices(
        self,
        conn: Connection,
        device_id: str,
        new_events: list[TelemetryEvent],
        received: float,
    ) -> None:
        """Apply new events to the device's state in `seq` order; an event older than the
        newest applied one (`devices.seq`) is stored but never moves the state back."""
        models = {e.model for e in new_events}
        current = {
            r.model: (r.version, r.seq)
            for r in conn.execute(
                select(devices.c.model, devices.c.version, devices.c.seq).where(
                    (devices.c.device_id == device_id) & devices.c.model.in_(models)
                )
            )
        }
        state: dict[str, dict] = {}
        order = sorted(new_events, key=lambda e: (e.seq is None, e.seq or 0, e.time))
        for e in order:
            if e.model in state:
                version, seq = state[e.model]["version"], state[e.model]["seq"]
            else:
                version, seq = current.get(e.model, (None, None))
            if e.seq is not None and seq is not None and e.seq <= seq:
                continue  # older than what the server already knows
            if e.type in RUNNING_TYPES and e.version is not None:
                version = e.version
            elif e.type in LEFT_TYPES and e.version == version:
                version = None
            state[e.model] = {
                "version": version,
                "last_event": e.type,
                "last_seen": received,
                "seq": e.seq if e.seq is not None else seq,
            }
        if not state:
            return
        rows = [{"device_id": device_id, "model": m, **v} for m, v in sorted(state.items())]
        insert = self._insert(devices)
        newer = (
            devices.c.seq.is_(None)
            | insert.excluded.seq.is_(None)
            | (insert.excluded.seq > devices.c.seq)
        )
        conn.execute(
            insert.on_conflict_do_update(
                index_elements=[devices.c.device_id, devices.c.model],
                set_={
                    "version": insert.excluded.version,
                    "last_event": insert.excluded.last_event,
                    "last_seen": insert.excluded.last_seen,
                    "seq": insert.excluded.seq,
                },
                where=newer,  # a concurrent worker applied a newer report first: keep it
            ),
            rows,
        )

    def _update_release_devices(
        self, conn: Connection, device_id: str, stored: list[TelemetryEvent]
    ) -> None:
        """One row per (release, device) that reported it, with its failure flags."""
        flags: dict[tuple[str, int], dict[str, bool]] = {}
        for e in stored:
            if e.version is None:
                continue
            f = flags.setdefault(
                (e.model, e.version), {"health_failed": False, "rolled_back": False}
            )
            if e.type in f:
                f[e.type] = True
        if not flags:
            return
        rows = [
            {"model": m, "version": v, "device_id": device_id, **f}
            for (m, v), f in sorted(flags.items())
        ]
        insert = (postgresql if self.dialect == "postgresql" else sqlite).insert(release_devices)
        table = release_devices.c
        conn.execute(
            insert.on_conflict_do_update(
                index_elements=[table.model, table.version, table.device_id],
                set_={
                    "health_failed": table.health_failed | insert.excluded.health_failed,
                    "rolled_back": table.rolled_back | insert.excluded.rolled_back,
                },
            ),
            rows,
        )

    def health(self, model: str, version: int, tag: str | None = None) -> ReleaseHealth:
        """Devices that tried, failed and run one release (every report, as users see it);
        `tag`: only devices in that group."""
        return self.health_all(tag).get(
            (model, version), ReleaseHealth(model, version, 0, 0, 0, 0, 0)
        )

    def health_all(self, tag: str | None = None) -> dict[tuple[str, int], ReleaseHealth]:
        """`health` of every release in two grouped queries over the small summary tables."""
        rd, dv = release_devices.c, devices.c
        failed = rd.health_failed | rd.rolled_back
        q_tried = select(
            rd.model,
            rd.version,
            func.count(),
            func.sum(case((failed, 1), else_=0)),
            func.sum(case((rd.health_failed, 1), else_=0)),
            func.sum(case((rd.rolled_back, 1), else_=0)),
        ).group_by(rd.model, rd.version)
        q_running = (
            select(dv.model, dv.version, func.count())
            .where(dv.version.is_not(None))
            .group_by(dv.model, dv.version)
        )
        if tag is not None:
            members = select(device_tags.c.device_id).where(device_tags.c.tag == tag)
            q_tried = q_tried.where(rd.device_id.in_(members))
            q_running = q_running.where(dv.device_id.in_(members))
        with self.engine.connect() as conn:
            tried = {(m, v): rest for m, v, *rest in conn.execute(q_tried)}
            running = {(m, v): n for m, v, n in conn.execute(q_running)}
        out = {}
        for key in tried.keys() | running.keys():
            t, f, hf, rb = tried.get(key, (0, 0, 0, 0))
            out[key] = ReleaseHealth(
                key[0], key[1], int(t), int(f or 0), int(hf or 0), int(rb or 0), running.get(key, 0)
            )
        return out

    def halt_counts(self, model: str, version: int, since: float | None) -> tuple[int, int]:
        """(tried, failed) over distinct devices that were offered the release.

        After an operator's resume (`since`), a device counts as failed only if its first
        failure arrived after the resume: devices already counted for the earlier pause
        cannot pause the release again by repeating themselves.
        """
        rel = (events.c.model == model) & (events.c.version == version) & events.c.offered
        distinct = func.count(events.c.device_id.distinct())
        failing = rel & events.c.type.in_(FAILURE_TYPES)
        counted = failing
        if since is not None:
            before = select(events.c.device_id).where(failing & (events.c.received <= since))
            counted = failing & (events.c.received > since) & events.c.device_id.not_in(before)
        with self.engine.connect() as conn:
            tried = conn.execute(select(distinct).where(rel)).scalar_one()
            failed = conn.execute(select(distinct).where(counted)).scalar_one()
        return tried, failed

    def canary_summaries(
        self, model: str, version: int, since: float | None = None
    ) -> list[DeviceSummary]:
        """The newest `canary` summary (by `seq`) of each distinct device offered the
        release; after an operator's resume (`since`), only summaries sent after it."""
        where = (
            (events.c.model == model)
            & (events.c.version == version)
            & (events.c.type == "canary")
            & events.c.offered
        )
        if since is not None:
            where = where & (events.c.received > since)
        newest: dict[str, tuple] = {}
        with self.engine.connect() as conn:
            for r in conn.execute(
                select(
                    events.c.device_id, events.c.seq, events.c.id, events.c.reason, events.c.metrics
                ).where(where)
            ):
                key = (r.seq or 0, r.id)
                if r.device_id not in newest or key > newest[r.device_id][0]:
                    newest[r.device_id] = (key, r.reason, r.metrics)
        out = []
        for device_id, (_, reason, metrics) in sorted(newest.items()):
            m = json.loads(metrics)
            out.append(
                DeviceSummary(
                    device_id=device_id,
                    agreement=float(m.get("agreement", 1.0)),
                    samples=int(m.get("samples", 0)),
                    failed=reason == "failed",
                )
            )
        return out

    def releases(self) -> list[tuple[str, int]]:
        """Every (model, version) any device reported, sorted."""
        rd = release_devices.c
        with self.engine.connect() as conn:
            rows = conn.execute(select(rd.model, rd.version).distinct()).all()
        return sorted((m, v) for m, v in rows)

    def count_events(self) -> int:
        with self.engine.connect() as conn:
            return conn.execute(select(func.count()).select_from(events)).scalar_one()


def _private_sqlite_file(url: str) -> None:
    """Create a SQLite file with mode 0600 before SQLite does (its WAL and shm files copy
    the mode): device ids and reports are nobody else's business on a shared machine."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or not parsed.database:
        return
    if parsed.database == ":memory:":
        return
    path = Path(parsed.database)
    fd = os.open(path, os.O_CREAT | os.O_RDWR, 0o600)
    os.close(fd)
    for f in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        if f.exists():
            f.chmod(0o600)
