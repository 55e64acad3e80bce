"""The console's reads: every page is a few SQL queries with a LIMIT, never a loop over the
fleet, so a page costs the same at 100 and at 100,000 devices (benchmarks/bench_console.py).

Tables (`db.py`): `devices` (one row per device and model, its current version and last
report), `release_devices` (one row per device that reported a release), `device_tags`
(a copy of the enrollment book's groups), `events` (the timeline), `adoption` (samples).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from sqlalchemy import BigInteger, and_, case, cast, delete, func, insert, literal, select
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError

from litefleet.registry.db import adoption, device_tags, devices, events, promotions
from litefleet.registry.telemetry import FAILURE_TYPES

PAGE_SIZE = 50
STATUSES = ("ok", "failing", "silent")
TROUBLE = (*FAILURE_TYPES, "rejected")
"""A device is `failing` when its last report was one of these (a refused release
counts here, though never for the automatic halt)."""


@dataclass(frozen=True)
class DeviceRow:
    device_id: str
    model: str
    version: int | None
    last_event: str
    last_seen: float
    status: str
    tags: list[str]
    variant: str = ""
    last_failure: str = ""


@dataclass(frozen=True)
class DeviceFilter:
    """What the device list is narrowed to: the console page and the API read the same
    query parameters into it (a FastAPI dependency), and the page's links write them back."""

    q: str = ""
    tag: str = ""
    model: str = ""
    status: str = ""
    version: int | None = None

    def params(self, **changes: object) -> dict[str, str]:
        """The filters as query parameters (for links), with `changes` on top."""
        out = {"q": self.q, "tag": self.tag, "model": self.model, "status": self.status}
        if self.version is not None:
            out["version"] = str(self.version)
        return {**out, **{k: str(v) for k, v in changes.items()}}


@dataclass(frozen=True)
class DevicePage:
    rows: list[DeviceRow]
    total: int
    page: int
    pages: int


def _status(silent_before: float):
    return case(
        (devices.c.last_seen < silent_before, literal("silent")),
        (devices.c.last_event.in_(TROUBLE), literal("failing")),
        else_=literal("ok"),
    )


def list_devices(
    engine: Engine,
    filters: DeviceFilter = DeviceFilter(),
    *,
    page: int = 1,
    silent_after_s: float = 3 * 3600,
    per_page: int = PAGE_SIZE,
) -> DevicePage:
    """One page of (device, model) rows, filtered and counted in SQL."""
    silent_before = time.time() - silent_after_s
    st = _status(silent_before)
    f, where = filters, []
    if f.q:
        where.append(devices.c.device_id.contains(f.q, autoescape=True))
    if f.tag:
        members = select(device_tags.c.device_id).where(device_tags.c.tag == f.tag)
        where.append(devices.c.device_id.in_(members))
    if f.model:
        where.append(devices.c.model == f.model)
    if f.version is not None:
        where.append(devices.c.version == f.version)
    if f.status in STATUSES:
        where.append(st == f.status)
    cond = and_(*where) if where else literal(True)
    with engine.connect() as conn:
        total = conn.execute(select(func.count()).select_from(devices).where(cond)).scalar_one()
        pages = max(1, -(-total // per_page))
        page = min(max(1, page), pages)
        rows = conn.execute(
            select(
                devices.c.device_id,
                devices.c.model,
                devices.c.version,
                devices.c.last_event,
                devices.c.last_seen,
                st.label("status"),
            )
            .where(cond)
            .order_by(devices.c.device_id, devices.c.model)
            .limit(per_page)
            .offset((page - 1) * per_page)
        ).all()
        ids = sorted({r.device_id for r in rows})
        tags = _tags_of(conn, ids)
        failures = _last_reasons(conn, ids, TROUBLE)
        variants = _last_reasons(conn, ids, ("installed",))
    out = [
        DeviceRow(
            r.device_id,
            r.model,
            r.version,
            r.last_event,
            r.last_seen,
            r.status,
            tags.get(r.device_id, []),
            _variant(variants.get((r.device_id, r.model), ("", None))),
            failures.get((r.device_id, r.model), ("", None))[0],
        )
        for r in rows
    ]
    return DevicePage(out, total, page, pages)


def _variant(last_installed: tuple[str, int | None]) -> str:
    """The agent reports `installed` with reason "<full|patch|local> <variant>"."""
    words = last_installed[0].split()
    return words[-1] if len(words) == 2 else ""


def _tags_of(conn, ids: list[str]) -> dict[str, list[str]]:
    if not ids:
        return {}
    out: dict[str, list[str]] = {}
    for device_id, tag in conn.execute(
        select(device_tags.c.device_id, device_tags.c.tag)
        .where(device_tags.c.device_id.in_(ids))
        .order_by(device_tags.c.tag)
    ):
        out.setdefault(device_id, []).append(tag)
    return out


def _last_reasons(conn, ids: list[str], types) -> dict[tuple[str, str], tuple[str, int | None]]:
    """(device, model) -> (reason, version) of its newest event of `types`, for a page."""
    if not ids:
        return {}
    newest = (
        select(func.max(events.c.id))
        .where(events.c.device_id.in_(ids) & events.c.type.in_(types))
        .group_by(events.c.device_id, events.c.model)
    )
    rows = conn.execute(
        select(events.c.device_id, events.c.model, events.c.reason, events.c.version).where(
            events.c.id.in_(newest)
        )
    )
    return {(d, m): (reason, v) for d, m, reason, v in rows}


def device_detail(engine: Engine, device_id: str, before: int | None = None, limit: int = 100):
    """A device's rows (one per model), tags and newest events (older pages by `before`)."""
    with engine.connect() as conn:
        models = conn.execute(
            select(devices).where(devices.c.device_id == device_id).order_by(devices.c.model)
        ).all()
        cond = events.c.device_id == device_id
        if before is not None:
            cond = cond & (events.c.id < before)
        timeline = conn.execute(
            select(events).where(cond).order_by(events.c.id.desc()).limit(limit)
        ).all()
        tags = _tags_of(conn, [device_id]).get(device_id, [])
    return models, tags, timeline


def failures_by_reason(engine: Engine, limit: int = 20) -> list[tuple[str, int, str, int, int]]:
    """(model, version, reason, events, devices) of the commonest failure reasons."""
    n_dev = func.count(events.c.device_id.distinct())
    with engine.connect() as conn:
        rows = conn.execute(
            select(events.c.model, events.c.version, events.c.reason, func.count(), n_dev)
            .where(events.c.type.in_(FAILURE_TYPES))
            .group_by(events.c.model, events.c.version, events.c.reason)
            .order_by(n_dev.desc(), func.count().desc())
            .limit(limit)
        ).all()
    return [tuple(r) for r in rows]


def fleet_totals(engine: Engine, silent_after_s: float) -> dict[str, int]:
    """Devices, silent ones, failing ones: one pass over `devices`."""
    silent_before = time.time() - silent_after_s
    seen = devices.c.last_seen >= silent_before
    failing = seen & devices.c.last_event.in_(TROUBLE)

    def distinct_where(cond):
        return func.count(case((cond, devices.c.device_id)).distinct())

    with engine.connect() as conn:
        total, recent, bad = conn.execute(
            select(
                func.count(devices.c.device_id.distinct()),
                distinct_where(seen),
                distinct_where(failing),
            )
        ).one()
    return {"devices": total, "silent": total - recent, "failing": bad}


def sample_adoption(engine: Engine, interval_s: float, now: float | None = None) -> None:
    """Record how many devices run each release in the current time bucket (once)."""
    now = time.time() if now is None else now
    bucket = now - now % interval_s
    with engine.connect() as conn:
        if conn.execute(select(adoption.c.bucket).where(adoption.c.bucket == bucket)).first():
            return
        counts = conn.execute(
            select(devices.c.model, devices.c.version, func.count())
            .where(devices.c.version.is_not(None))
            .group_by(devices.c.model, devices.c.version)
        ).all()
    if not counts:
        return
    try:
        with engine.begin() as conn:
            conn.execute(
                insert(adoption),
                [{"bucket": bucket, "model": m, "version": v, "running": n} for m, v, n in counts],
            )
    except IntegrityError:
        pass  # another worker sampled this bucket


def adoption_series(
    engine: Engine, model: str, since: float, sample_s: float = 300.0, points: int = 150
) -> dict[int, list[tuple[float, int]]]:
    """version -> [(time, devices running it)] for the plot: about `points` per version
    whatever the sampling rate `sample_s` (one sample per slot, chosen in SQL)."""
    is_model = adoption.c.model == model
    with engine.connect() as conn:
        first = conn.execute(
            select(func.min(adoption.c.bucket)).where(is_model & (adoption.c.bucket >= since))
        ).scalar_one()
        if first is None:
            return {}
        step = max(1, int((time.time() - first) / points))
        rows = conn.execute(
            select(adoption.c.bucket, adoption.c.version, adoption.c.running)
            .where(
                is_model
                & (adoption.c.bucket >= first)
                & (cast(adoption.c.bucket, BigInteger) % step < sample_s)
            )
            .order_by(adoption.c.bucket)
        ).all()
    out: dict[int, list[tuple[float, int]]] = {}
    for bucket, version, running in rows:
        out.setdefault(version, []).append((bucket, running))
    return out


def sync_tags(engine: Engine, tags_by_device: dict[str, list[str]]) -> None:
    """Make `device_tags` equal the enrollment book (after it changed)."""
    rows = [{"device_id": d, "tag": t} for d, ts in sorted(tags_by_device.items()) for t in ts]
    try:
        with engine.begin() as conn:
            conn.execute(delete(device_tags))
            if rows:
                conn.execute(insert(device_tags), rows)
    except IntegrityError:
        pass  # another worker is writing the same rows


def recent_promotions(engine: Engine, limit: int = 10) -> list[dict]:
    """The newest automatic rollout steps (`promote.py`)."""
    with engine.connect() as conn:
        rows = conn.execute(select(promotions).order_by(promotions.c.id.desc()).limit(limit)).all()
    return [dict(r._mapping) for r in rows]
