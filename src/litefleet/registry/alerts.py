"""Alerts: webhooks on a halt, on a failure rate above a threshold, on devices gone silent.

Configured from the CLI (`litefleet alerts add REPO --url URL --on halt ...`) into
`KEYS/alerts.json` (mode 0600: it holds the shared secrets); the server re-reads it when it
changes. An alert is a row of the `alert_outbox` table, unique per (hook, key), so however
many workers notice the same halt, one POST goes out:

    POST URL   body: {"id", "kind", "time", ...details} (JSON)
    X-Litefleet-Event: halt | failure_rate | unseen
    X-Litefleet-Delivery: <outbox id>
    X-Litefleet-Signature: sha256=<hex HMAC-SHA256 of the body with the hook's secret>

A receiver checks the signature with `verify_signature` (or the same three lines in its own
language). Delivery: any 2xx is done; anything else is retried with exponential backoff
(1 s, 2 s, 4 s ... at most 5 min between tries, 8 tries), then marked failed; the console
shows each alert's state and last error.

What fires:
- `halt`: a release paused, by the automatic halt or by an operator;
- `failure_rate`: a release whose devices fail it above the hook's threshold (at least
  `min_devices` tried it), once per release;
- `unseen`: a device whose last report is older than `unseen_checks` x `check_interval_s`
  (one alert per device and silence; a device that reports again can alert again).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import secrets
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import httpx
from sqlalchemy import func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Engine

from litefleet.errors import UserError
from litefleet.lock import FileLock
from litefleet.registry.keys import make_private_dir, write_private_file

log = logging.getLogger("litefleet.alerts")
ALERTS_FILE = "alerts.json"
KINDS = ("halt", "failure_rate", "unseen")
MAX_TRIES = 8
MAX_BACKOFF_S = 300.0


@dataclass
class Hook:
    id: str
    url: str
    secret: str
    on: list[str] = field(default_factory=lambda: list(KINDS))
    failure_rate: float = 0.2
    min_devices: int = 5
    unseen_checks: int = 3
    check_interval_s: float = 3600.0

    @property
    def unseen_after_s(self) -> float:
        return self.unseen_checks * self.check_interval_s


def sign(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def verify_signature(secret: str, body: bytes, header: str | None) -> bool:
    """What a receiver does: recompute the HMAC of the raw body and compare in constant time."""
    return bool(header) and hmac.compare_digest(sign(secret, body), header or "")


class AlertBook:
    """`KEYS/alerts.json`: the configured webhooks."""

    def __init__(self, keys_dir: Path) -> None:
        self.dir = Path(keys_dir)
        self.path = self.dir / ALERTS_FILE
        self._stamp: int | None = -1
        self._hooks: list[Hook] = []

    def add(self, hook: Hook) -> Hook:
        if not hook.url.startswith(("http://", "https://")):
            raise UserError(f"webhook url {hook.url[:100]!r} must start with http:// or https://")
        bad = [k for k in hook.on if k not in KINDS]
        if bad or not hook.on:
            raise UserError(f"--on {', '.join(bad) or '(none)'}: one or more of {', '.join(KINDS)}")
        if not 0 <= hook.failure_rate < 1 or hook.min_devices < 1 or hook.unseen_checks < 1:
            raise UserError("failure rate within 0..1, min devices and unseen checks >= 1")
        if hook.check_interval_s <= 0:
            raise UserError("check interval must be positive")
        hook.secret = hook.secret or secrets.token_urlsafe(32)
        with self._locked():
            hooks = [h for h in self._read() if h.id != hook.id]
            self._write([*hooks, hook])
        return hook

    def remove(self, hook_id: str) -> bool:
        with self._locked():
            hooks = self._read()
            kept = [h for h in hooks if h.id != hook_id]
            self._write(kept)
        return len(kept) < len(hooks)

    def hooks(self) -> list[Hook]:
        """Current hooks, re-read only when the file changed."""
        try:
            stamp = self.path.stat().st_mtime_ns
        except FileNotFoundError:
            stamp = None
        if stamp != self._stamp:
            self._hooks, self._stamp = self._read(), stamp
        return self._hooks

    def _read(self) -> list[Hook]:
        if not self.path.exists():
            return []
        raw = json.loads(self.path.read_text())
        return [Hook(**h) for h in raw.get("hooks", [])]

    def _write(self, hooks: list[Hook]) -> None:
        data = {"schema": 1, "hooks": [asdict(h) for h in hooks]}
        write_private_file(self.path, json.dumps(data, indent=1).encode())

    def _locked(self) -> FileLock:
        make_private_dir(self.dir)
        return FileLock(self.dir / ".alerts.lock")


class Alerts:
    """Raises alerts into the outbox and delivers them (one per server worker)."""

    def __init__(self, book: AlertBook, engine: Engine) -> None:
        from litefleet.registry.db import alert_outbox

        self.book, self.engine, self.table = book, engine, alert_outbox
        self.dialect = engine.dialect.name

    def wants(self, kind: str) -> bool:
        return any(kind in h.on for h in self.book.hooks())

    def raise_(self, kind: str, key: str, details: dict, hook_filter=None) -> int:
        """Queue one alert per matching hook; return how many were new."""
        hooks = [h for h in self.book.hooks() if kind in h.on and (hook_filter or bool)(h)]
        if not hooks:
            return 0
        now = time.time()
        rows = [
            {
                "hook": h.id,
                "kind": kind,
                "key": key,
                "payload": json.dumps({"kind": kind, "time": now, **details}),
                "created": now,
                "attempts": 0,
                "next_try": now,
                "status": "pending",
                "last_error": "",
            }
            for h in hooks
        ]
        insert = (postgresql if self.dialect == "postgresql" else sqlite).insert(self.table)
        with self.engine.begin() as conn:
            done = conn.execute(insert.on_conflict_do_nothing(), rows)
        return max(done.rowcount, 0)

    def on_halt(self, model: str, version: int, reason: str, who: str, generation: int) -> None:
        self.raise_(
            "halt",
            f"halt:{model}:{version}:{generation}",
            {"model": model, "version": version, "reason": reason, "by": who},
        )

    def on_failures(self, health) -> None:
        """After failing reports: alert hooks whose threshold the release now exceeds."""
        self.raise_(
            "failure_rate",
            f"failure_rate:{health.model}:{health.version}",
            {
                "model": health.model,
                "version": health.version,
                "tried": health.tried,
                "failed": health.failed,
                "failure_rate": round(health.failure_rate, 4),
            },
            lambda h: health.tried >= h.min_devices and health.failure_rate > h.failure_rate,
        )

    def check_unseen(self, now: float | None = None, limit: int = 1000) -> int:
        """Alert on devices silent for longer than each hook's `unseen_checks` checks."""
        from litefleet.registry.db import devices

        now = time.time() if now is None else now
        new = 0
        for hook in self.book.hooks():
            if "unseen" not in hook.on:
                continue
            last = func.max(devices.c.last_seen)
            with self.engine.connect() as conn:
                silent = conn.execute(
                    select(devices.c.device_id, last)
                    .group_by(devices.c.device_id)
                    .having(last < now - hook.unseen_after_s)
                    .order_by(last)
                    .limit(limit)
                ).all()
            for device_id, seen in silent:
                new += self.raise_(
                    "unseen",
                    f"unseen:{device_id}:{int(seen)}",
                    {"device_id": device_id, "last_seen": seen, "silent_s": round(now - seen)},
                    lambda h, hook=hook: h.id == hook.id,
                )
        return new

    def deliver_due(self, client: httpx.Client, now: float | None = None, batch: int = 20) -> int:
        """Send every alert that is due; return how many were delivered."""
        t = self.table.c
        now = time.time() if now is None else now
        hooks = {h.id: h for h in self.book.hooks()}
        with self.engine.connect() as conn:
            due = conn.execute(
                select(self.table)
                .where((t.status == "pending") & (t.next_try <= now))
                .order_by(t.id)
                .limit(batch)
            ).all()
        sent = 0
        for row in due:
            with self.engine.begin() as conn:  # claim it: one worker sends each try
                claimed = conn.execute(
                    update(self.table)
                    .where(
                        (t.id == row.id) & (t.next_try == row.next_try) & (t.status == "pending")
                    )
                    .values(next_try=now + 60)
                ).rowcount
            if claimed != 1:
                continue
            hook = hooks.get(row.hook)
            error = "webhook removed" if hook is None else _post(client, hook, row)
            attempts = row.attempts + 1
            if error is None:
                values = {"status": "sent", "sent_at": time.time(), "attempts": attempts}
                sent += 1
            elif attempts >= MAX_TRIES or hook is None:
                values = {"status": "failed", "attempts": attempts, "last_error": error}
            else:
                backoff = min(2.0 ** (attempts - 1), MAX_BACKOFF_S)
                values = {"attempts": attempts, "last_error": error, "next_try": now + backoff}
            with self.engine.begin() as conn:
                conn.execute(update(self.table).where(t.id == row.id).values(**values))
        return sent

    def recent(self, limit: int = 20) -> list[dict]:
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(self.table).order_by(self.table.c.id.desc()).limit(limit)
            ).all()
        return [dict(r._mapping) for r in rows]


def _post(client: httpx.Client, hook: Hook, row) -> str | None:
    payload = json.loads(row.payload)
    body = json.dumps({"id": row.id, **payload}, sort_keys=True).encode()
    headers = {
        "content-type": "application/json",
        "x-litefleet-event": row.kind,
        "x-litefleet-delivery": str(row.id),
        "x-litefleet-signature": sign(hook.secret, body),
    }
    try:
        resp = client.post(hook.url, content=body, headers=headers)
    except httpx.HTTPError as exc:
        return f"{type(exc).__name__}: {exc}"[:300]
    return None if 200 <= resp.status_code < 300 else f"HTTP {resp.status_code}"


class AlertLoop:
    """A worker's background thread: deliver due alerts, check silent devices, sample
    adoption, every `interval` seconds."""

    def __init__(self, alerts: Alerts, interval: float, extra=None) -> None:
        self.alerts, self.interval, self.extra = alerts, interval, extra
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True, name="alerts")
        self._last_unseen = 0.0

    def start(self) -> None:
        self.thread.start()

    def close(self) -> None:
        self.stop.set()
        self.thread.join(timeout=10)

    def _run(self) -> None:
        with httpx.Client(timeout=5.0) as client:
            while not self.stop.is_set():
                try:
                    now = time.time()
                    if now - self._last_unseen >= max(self.interval, 30.0):
                        self.alerts.check_unseen(now)
                        self._last_unseen = now
                    self.alerts.deliver_due(client)
                    if self.extra is not None:
                        self.extra()
                except Exception:
                    log.exception("alert loop")
                self.stop.wait(self.interval)
