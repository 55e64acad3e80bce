"""The update server: static TUF repository, device telemetry, automatic halt, fleet view.

    GET  /metadata/<file>, /targets/<path>   the repository, as static files (ETag, Range)
    POST /v1/devices/{device_id}/events      an `EventBatch`, `Authorization: Bearer <token>`
    GET  /v1/fleet                           `FleetReport` (per model and release)
    GET  /metrics, /healthz                  Prometheus, liveness

The server holds only online keys (snapshot, timestamp, rollout; `KeyStore(allowed=...)`
refuses the others), so it can re-sign the timestamp before it expires and pause a failing
rollout, but a compromised server cannot sign a model a device would run.

    with ServerThread(create_app(ServerSettings(repo=path))) as server:
        updater = Updater(..., f"{server.url}/metadata/", ..., f"{server.url}/targets/")
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import re
import threading
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

import uvicorn
from fastapi import FastAPI, HTTPException, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, generate_latest
from prometheus_client.core import GaugeMetricFamily
from pydantic import ValidationError

from litefleet.registry.fleet import FleetReport, HaltRule, fleet_report
from litefleet.registry.keys import KEYS_DIR_ENV, ONLINE_ROLES, KeyStore, check_token
from litefleet.registry.repository import Repository
from litefleet.registry.rollout import pause_if_active
from litefleet.registry.staticfiles import RepoFiles
from litefleet.registry.telemetry import TelemetryStore
from litefleet.release import ROLLOUT_ROLE, EventBatch, TelemetryEvent

log = logging.getLogger("litefleet.server")
DEVICE_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$")


@dataclass
class ServerSettings:
    """Everything `litefleet serve` can set; the defaults are the documented ones."""

    repo: Path
    db_url: str | None = None
    """SQLAlchemy URL of the telemetry store; default `sqlite:///REPO/telemetry.db`."""
    halt: HaltRule = field(default_factory=HaltRule)
    max_body_bytes: int = 256 * 1024
    refresh_interval: float | None = 60.0
    """Seconds between checks that online metadata is not about to expire; None: off."""
    refresh_margin: timedelta = timedelta(hours=6)
    """Re-sign an online role when it expires within this margin."""


class _Tokens:
    """Stored token hashes, re-read when the file changes (a new `repo token` needs no restart)."""

    def __init__(self, keys: KeyStore):
        self.keys = keys
        self._stamp: float | None = None
        self._hashes: dict[str, str] = {}

    def valid(self, header: str | None) -> bool:
        if not header or not header.startswith("Bearer "):
            return False
        f = self.keys.path / "tokens.json"
        stamp = f.stat().st_mtime_ns if f.exists() else None
        if stamp != self._stamp:
            self._hashes, self._stamp = self.keys.token_hashes(), stamp
        return check_token(header.removeprefix("Bearer ").strip(), self._hashes)


def create_app(settings: ServerSettings) -> FastAPI:
    """The ASGI app for one repository; state lives on the app, not in module globals."""
    keys = KeyStore(
        Path(os.environ.get(KEYS_DIR_ENV) or settings.repo / "keys"), allowed=ONLINE_ROLES
    )
    repo = Repository(settings.repo, keys=keys)
    store = TelemetryStore(
        settings.db_url or f"sqlite:///{Path(settings.repo).resolve()}/telemetry.db"
    )
    tokens = _Tokens(keys)
    registry = CollectorRegistry()
    events_total = Counter(
        "litefleet_events", "Telemetry events stored", ["type"], registry=registry
    )
    rejected_total = Counter(
        "litefleet_requests_rejected", "Telemetry requests refused", ["reason"], registry=registry
    )
    halts_total = Counter(
        "litefleet_auto_halts", "Rollouts paused by the server", registry=registry
    )
    registry.register(_FleetCollector(repo, store))
    halted: set[tuple[str, int]] = set()
    can_halt = keys.has(ROLLOUT_ROLE) and keys.has("snapshot") and keys.has("timestamp")

    @contextlib.asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        stop = threading.Event()
        worker = None
        if settings.refresh_interval and keys.has("timestamp") and keys.has("snapshot"):
            worker = threading.Thread(
                target=_refresh_loop, args=(repo, settings, stop), daemon=True, name="resign"
            )
            worker.start()
        yield
        stop.set()
        if worker:
            worker.join(timeout=5)

    app = FastAPI(title="litefleet update server", lifespan=lifespan, docs_url=None, redoc_url=None)
    app.state.repo, app.state.store = repo, store
    app.mount(
        "/metadata",
        RepoFiles(directory=repo.metadata_dir, mutable={"timestamp.json", "root.json"}),
        name="metadata",
    )
    app.mount("/targets", RepoFiles(directory=repo.targets_dir), name="targets")

    def refuse(status: int, reason: str, detail: str) -> HTTPException:
        rejected_total.labels(reason).inc()
        return HTTPException(status_code=status, detail=detail)

    @app.post("/v1/devices/{device_id}/events", status_code=202)
    async def post_events(device_id: str, request: Request) -> dict[str, int]:
        if not tokens.valid(request.headers.get("authorization")):
            raise refuse(401, "auth", "missing or unknown bearer token")
        if not DEVICE_ID_RE.match(device_id):
            raise refuse(422, "device_id", "invalid device id")
        body = await _read_limited(request, settings.max_body_bytes)
        if body is None:
            raise refuse(413, "size", f"body larger than {settings.max_body_bytes} bytes")
        try:
            batch = EventBatch.model_validate_json(body)
        except ValidationError as exc:
            rejected_total.labels("invalid").inc()
            errors = exc.errors(include_url=False, include_input=False, include_context=False)
            raise HTTPException(status_code=422, detail=errors) from None
        if not all(_finite(e) for e in batch.events):
            # JSON has no NaN/Infinity: stored, they break every strict reader of the DB
            raise refuse(422, "invalid", "event time and metrics must be finite numbers")
        releases = await run_in_threadpool(store.add, device_id, batch, time.time())
        for e in batch.events:
            events_total.labels(e.type).inc()
        if can_halt:
            await run_in_threadpool(
                _check_halts, repo, store, settings.halt, releases, halted, halts_total
            )
        return {"stored": len(batch.events)}

    @app.get("/v1/fleet")
    def get_fleet() -> FleetReport:
        return fleet_report(repo, store)

    @app.get("/metrics")
    def metrics() -> Response:
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    @app.get("/healthz")
    def healthz() -> JSONResponse:
        ts = repo.load("timestamp").signed
        return JSONResponse(
            {
                "ok": True,
                "timestamp_version": ts.version,
                "timestamp_expires": ts.expires.isoformat(),
            }
        )

    return app


def _finite(event: TelemetryEvent) -> bool:
    return math.isfinite(event.time) and all(math.isfinite(v) for v in event.metrics.values())


async def _read_limited(request: Request, limit: int) -> bytes | None:
    """The body, or None as soon as it is known to exceed `limit` (never buffered whole)."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        return None
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


def _check_halts(
    repo: Repository,
    store: TelemetryStore,
    rule: HaltRule,
    releases: set[tuple[str, int]],
    halted: set[tuple[str, int]],
    counter: Counter,
) -> None:
    for model, version in sorted(releases - halted):
        health = store.health(model, version)
        if not rule.should_halt(health):
            continue
        halted.add((model, version))
        try:
            if pause_if_active(repo, model, version, rule.reason(health)):
                counter.inc()
                log.warning("paused %s %s: %s", model, version, rule.reason(health))
        except Exception:  # a halt that fails must not lose the events already stored
            halted.discard((model, version))
            log.exception("automatic halt of %s %s failed", model, version)


def _refresh_loop(repo: Repository, settings: ServerSettings, stop: threading.Event) -> None:
    assert settings.refresh_interval is not None
    while True:
        try:
            done = repo.refresh_online(settings.refresh_margin)
            if done:
                log.info("re-signed: %s", ", ".join(done))
        except Exception:
            log.exception("timestamp refresh failed")
        if stop.wait(settings.refresh_interval):
            return


class _FleetCollector:
    """Prometheus gauges computed at scrape time from the same report as `/v1/fleet`."""

    def __init__(self, repo: Repository, store: TelemetryStore):
        self.repo, self.store = repo, store

    def collect(self):
        report = fleet_report(self.repo, self.store)
        gauges = {
            name: GaugeMetricFamily(f"litefleet_release_{name}", help_, labels=["model", "version"])
            for name, help_ in (
                ("running", "Devices running the release"),
                ("tried", "Devices that reported the release"),
                ("failed", "Devices that failed its health gate or rolled it back"),
                ("rollout_percent", "Rollout percentage"),
            )
        }
        for row in report.releases:
            labels = [row.model, str(row.version)]
            gauges["running"].add_metric(labels, row.running)
            gauges["tried"].add_metric(labels, row.tried)
            gauges["failed"].add_metric(labels, row.failed)
            gauges["rollout_percent"].add_metric(labels, row.rollout_percent or 0.0)
        yield from gauges.values()


class ServerThread:
    """Run an app with uvicorn on 127.0.0.1 in a background thread (tests, benchmarks).

    Port 0 picks a free port; `url` is known once the context is entered.
    """

    def __init__(self, app: FastAPI, host: str = "127.0.0.1", port: int = 0):
        config = uvicorn.Config(app, host=host, port=port, log_level="warning", access_log=False)
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True, name="uvicorn")
        self.host = host
        self.port = port

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def __enter__(self) -> ServerThread:
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the server did not start")
            time.sleep(0.01)
        self.port = self.server.servers[0].sockets[0].getsockname()[1]
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


def serve(settings: ServerSettings, host: str = "127.0.0.1", port: int = 8080) -> None:
    """Run the server in the foreground (the `litefleet serve` command)."""
    uvicorn.run(create_app(settings), host=host, port=port, log_level="info")


def app_from_env() -> FastAPI:
    """An app factory for `uvicorn --factory` (several workers, or a benchmark subprocess).

    Reads `LITEFLEET_REPO` and, if set, `LITEFLEET_DB`.
    """
    repo = os.environ.get("LITEFLEET_REPO")
    if not repo:
        raise RuntimeError("set LITEFLEET_REPO to the repository folder")
    return create_app(ServerSettings(repo=Path(repo), db_url=os.environ.get("LITEFLEET_DB")))
