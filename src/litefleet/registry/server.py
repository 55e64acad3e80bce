"""The update server: static TUF repository, device telemetry, automatic halt, fleet view.

    GET  /metadata/<file>, /targets/<path>   the repository, as static files (ETag, Range)
    POST /v1/devices/{device_id}/events      an `EventBatch`, `Authorization: Bearer <token>`
                                             (the device's own token, `repo token --device`)
    GET  /v1/fleet[?tag=T]                   `FleetReport` (per model and release)   [operator]
    GET  /v1/halts                           the server's pause decisions (who, when, why) [op.]
    GET  /metrics                            Prometheus (all workers)   [operator, unless
                                             `public_metrics`]
    GET  /healthz                            liveness
    GET  /, /login, /console/...             the operator's console (`registry/console/`)
    .../v1/operator/...                      console actions as an API       [operator]

[operator]: an operator's bearer token (`op.NAME.SECRET`) or a console session (+ CSRF
token for a change); a device token is refused there, as an operator token is refused
for device reports (`registry/operators.py`).

The server holds only online keys (snapshot, timestamp, rollout; `KeyStore(allowed=...)`
refuses the others), so it can re-sign the timestamp before it expires and pause a failing
rollout, but a compromised server cannot sign a model a device would run.

One process (`litefleet serve REPO`) serves everything; behind nginx, `--workers N` runs N
uvicorn workers that share the database (telemetry, halt decisions) and the repository lock,
and nginx serves the static tree (`deploy.py`, docs/deploy.md).

    with ServerThread(create_app(ServerSettings(repo=path))) as server:
        updater = Updater(..., f"{server.url}/metadata/", ..., f"{server.url}/targets/")
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import tempfile
import threading
import time
from collections.abc import AsyncIterator
from dataclasses import asdict, dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import uvicorn
from fastapi import FastAPI, HTTPException, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, generate_latest
from prometheus_client.core import GaugeMetricFamily
from pydantic import ValidationError

from litefleet.errors import UserError
from litefleet.registry.alerts import AlertBook, AlertLoop, Alerts
from litefleet.registry.console import queries as console_queries
from litefleet.registry.console.auth import OperatorAuth
from litefleet.registry.console.routes import Console, install_console
from litefleet.registry.console.throttle import LoginLimits, LoginThrottle
from litefleet.registry.db import check_database
from litefleet.registry.fleet import FleetReport, fleet_report
from litefleet.registry.halt import HaltKeeper, HaltRule, RolloutView
from litefleet.registry.judge import CanaryJudge
from litefleet.registry.keys import ONLINE_ROLES, offline_keys_exposed
from litefleet.registry.operators import AuditLog, OperatorBook, Sessions
from litefleet.registry.promote import Promoter
from litefleet.registry.ratelimit import DeviceRateLimit
from litefleet.registry.repository import Repository
from litefleet.registry.staticfiles import RepoFiles
from litefleet.registry.telemetry import FAILURE_TYPES, TelemetryStore
from litefleet.registry.tokens import DeviceTokens, TokenIndex
from litefleet.registry.workers import WorkersDied, run_workers
from litefleet.release import ROLLOUT_ROLE, EventBatch

log = logging.getLogger("litefleet.server")
SETTINGS_ENV = "LITEFLEET_SERVER_SETTINGS"
MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
WORKER_HEADER = "X-Litefleet-Worker"
"""Which worker process answered (its pid): operators and tests see the load spread."""


@dataclass
class ServerSettings:
    """Everything `litefleet serve` can set; the defaults are the documented ones."""

    repo: Path
    db_url: str | None = None
    """SQLAlchemy URL of the telemetry store; default `sqlite:///REPO/telemetry.db`."""
    halt: HaltRule = field(default_factory=HaltRule)
    judge: CanaryJudge = field(default_factory=CanaryJudge)
    """The canary judge: pauses a release bad on live traffic, promotes a staged one."""
    promote_interval: float | None = 60.0
    """Seconds between checks of staged rollouts (`promote.py`); None: only when a canary
    summary arrives."""
    max_body_bytes: int = 256 * 1024
    refresh_interval: float | None = 60.0
    """Seconds between checks that online metadata is not about to expire; None: off."""
    refresh_margin: timedelta = timedelta(hours=6)
    """Re-sign an online role when it expires within this margin."""
    device_rate: float = 2.0
    """Reports per second a device may send after its burst (per worker; then 429)."""
    device_burst: int = 30
    db_pool_size: int = 5
    public_metrics: bool = False
    """Serve `/metrics` without operator auth (a scraper on a private network)."""
    alert_interval: float = 5.0
    """Seconds between deliveries of due webhooks (and silent-device checks, >= 30 s)."""
    adoption_interval: float = 300.0
    """Seconds between samples of the adoption plot."""
    silent_after_s: float = 3 * 3600.0
    """A device whose last report is older than this shows as `silent` in the console."""
    login_failures: int = 5
    """Wrong operator secrets per account within `login_window_s`, then 429 (`throttle.py`)."""
    login_address_failures: int = 20
    """Wrong operator secrets per client address within `login_window_s`, then 429."""
    login_window_s: float = 900.0

    def to_env(self) -> str:
        """JSON for `SETTINGS_ENV`: how `serve --workers N` hands settings to each worker."""
        data = asdict(self)
        data["repo"] = str(self.repo)
        data["refresh_margin"] = self.refresh_margin.total_seconds()
        return json.dumps(data)

    @classmethod
    def from_env(cls, text: str) -> ServerSettings:
        data = json.loads(text)
        data["repo"] = Path(data["repo"])
        data["halt"] = HaltRule(**data["halt"])
        data["judge"] = CanaryJudge(**data["judge"])
        data["refresh_margin"] = timedelta(seconds=data["refresh_margin"])
        return cls(**data)


def default_db_url(repo: Path) -> str:
    return f"sqlite:///{Path(repo).resolve()}/telemetry.db"


def create_app(settings: ServerSettings) -> FastAPI:
    """The ASGI app for one repository; state lives on the app, not in module globals."""
    repo = Repository(settings.repo)
    keys = repo.keys
    keys.allowed = ONLINE_ROLES
    exposed = offline_keys_exposed(keys.path, repo.path)
    if exposed:
        log.warning(
            "OFFLINE KEYS READABLE BY THE SERVER: %s. Move root and targets keys out of the "
            "repository (litefleet repo init keeps them in REPO.offline-keys/).",
            ", ".join(str(p) for p in exposed[:4]),
        )
    store = TelemetryStore(
        settings.db_url or default_db_url(settings.repo), pool_size=settings.db_pool_size
    )
    tokens = TokenIndex(DeviceTokens(keys.path))
    limiter = DeviceRateLimit(settings.device_rate, settings.device_burst)
    view = RolloutView(repo)
    can_halt = keys.has(ROLLOUT_ROLE) and keys.has("snapshot") and keys.has("timestamp")
    keeper = HaltKeeper(repo, store, settings.halt, view, settings.judge)
    promoter = Promoter(keeper, view)
    scrape, events_total, rejected_total = _metrics(repo, store, keeper)
    worker = str(os.getpid())
    audit = AuditLog(store.engine)
    limits = LoginLimits(
        settings.login_failures, settings.login_address_failures, settings.login_window_s
    )
    auth = OperatorAuth(
        OperatorBook(keys.path), Sessions(store.engine), LoginThrottle(store.engine, limits, audit)
    )
    alerts = Alerts(AlertBook(keys.path), store.engine)
    console = Console(
        repo=repo,
        store=store,
        keeper=keeper,
        auth=auth,
        audit=audit,
        alerts=alerts,
        devices=tokens.tokens,
        silent_after_s=settings.silent_after_s,
        adoption_s=settings.adoption_interval,
        can_sign=can_halt,
    )

    def sample() -> None:
        console_queries.sample_adoption(store.engine, settings.adoption_interval)

    @contextlib.asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        stop = threading.Event()
        worker = None
        if settings.refresh_interval and keys.has("timestamp") and keys.has("snapshot"):
            worker = threading.Thread(
                target=_refresh_loop, args=(repo, settings, stop), daemon=True, name="resign"
            )
            worker.start()
        loop = AlertLoop(alerts, settings.alert_interval, extra=sample)
        loop.start()
        stepper = None
        if settings.promote_interval and can_halt:
            stepper = threading.Thread(
                target=_promote_loop,
                args=(promoter, settings.promote_interval, stop),
                daemon=True,
                name="promote",
            )
            stepper.start()
        yield
        loop.close()
        stop.set()
        for thread in (worker, stepper):
            if thread:
                thread.join(timeout=5)
        store.engine.dispose()

    app = FastAPI(title="litefleet update server", lifespan=lifespan, docs_url=None, redoc_url=None)
    app.state.repo, app.state.store, app.state.keeper = repo, store, keeper
    app.mount(
        "/metadata",
        RepoFiles(directory=repo.metadata_dir, mutable={"timestamp.json", "root.json"}),
        name="metadata",
    )
    app.mount("/targets", RepoFiles(directory=repo.targets_dir), name="targets")

    def refuse(status: int, reason: str, detail: Any, headers: dict | None = None):
        rejected_total.labels(reason).inc()
        return HTTPException(status_code=status, detail=detail, headers=headers)

    @app.post(
        "/v1/devices/{device_id}/events",
        status_code=202,
        openapi_extra={"requestBody": _body_schema(EventBatch)},
    )
    async def post_events(device_id: str, request: Request, response: Response) -> dict[str, int]:
        response.headers[WORKER_HEADER] = worker
        owner = tokens.device_of(request.headers.get("authorization"))
        if owner is None:
            raise refuse(401, "auth", "missing, unknown or revoked device token")
        if owner != device_id:
            raise refuse(403, "impersonation", "this token belongs to another device")
        wait = limiter.allow(device_id)
        if wait > 0:
            raise refuse(429, "rate", "too many reports", {"Retry-After": str(max(1, round(wait)))})
        body = await _read_limited(request, settings.max_body_bytes)
        if body is None:
            raise refuse(413, "size", f"body larger than {settings.max_body_bytes} bytes")
        try:
            batch = EventBatch.model_validate_json(body)
        except ValidationError as exc:
            errors = exc.errors(include_url=False, include_input=False, include_context=False)
            raise refuse(422, "invalid", errors) from None
        stored = await run_in_threadpool(store.add, device_id, batch, time.time(), view.offered)
        for e in batch.events:
            events_total.labels(e.type).inc()
        failing = {
            (e.model, e.version)
            for e in batch.events
            if e.type in (*FAILURE_TYPES, "canary") and e.version is not None
        }
        # only a failure or a canary summary can make a release cross a rule
        if can_halt and failing:
            await run_in_threadpool(_consider, keeper, failing, alerts)
        if failing and alerts.wants("failure_rate"):
            await run_in_threadpool(_failure_alerts, store, alerts, failing)
        judged = {
            (e.model, e.version)
            for e in batch.events
            if e.type == "canary" and e.version is not None
        }
        if can_halt and judged:  # a new live summary may be what a staged release waits for
            await run_in_threadpool(_promote, promoter, judged)
        return {"stored": stored}  # events seen before (a replay, a retry) are not stored

    @app.get("/v1/fleet")
    def get_fleet(request: Request, tag: str | None = None) -> FleetReport:
        auth.require(request)
        if tag:
            console.sync_tags()
        return fleet_report(repo, store, keeper.sync_all(), tag or None, keeper.judge)

    @app.get("/v1/promotions")
    def get_promotions(request: Request) -> list[dict[str, Any]]:
        auth.require(request)
        return promoter.history()

    @app.get("/v1/halts")
    def get_halts(request: Request, response: Response) -> list[dict[str, Any]]:
        response.headers[WORKER_HEADER] = worker
        auth.require(request)
        return [asdict(r) for r in keeper.sync_all()]

    @app.get("/metrics")
    def metrics(request: Request) -> Response:
        if not settings.public_metrics:
            auth.require(request)
        return Response(generate_latest(scrape), media_type=CONTENT_TYPE_LATEST)

    install_console(app, console)

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


def _consider(keeper: HaltKeeper, releases: set[tuple[str, int]], alerts: Alerts) -> None:
    for model, version in sorted(releases):
        try:
            if keeper.consider(model, version):
                record = keeper.book.get(model, version)
                if record is not None:
                    alerts.on_halt(
                        model, version, record.reason, record.paused_by, record.generation
                    )
        except Exception:  # a halt that fails must not lose the events already stored
            log.exception("automatic halt of %s %s failed", model, version)


def _failure_alerts(store: TelemetryStore, alerts: Alerts, releases: set[tuple[str, int]]) -> None:
    try:
        for model, version in sorted(releases):
            alerts.on_failures(store.health(model, version))
    except Exception:
        log.exception("failure-rate alert")


def _promote(promoter: Promoter, releases: set[tuple[str, int]]) -> None:
    for model, version in sorted(releases):
        try:
            promoter.consider(model, version)
        except Exception:  # a failed step must not lose the events already stored
            log.exception("promotion of %s %s failed", model, version)


def _promote_loop(promoter: Promoter, interval: float, stop: threading.Event) -> None:
    while not stop.wait(interval):
        try:
            promoter.consider_all()
        except Exception:
            log.exception("promotion loop failed")


def _body_schema(model: type) -> dict[str, Any]:
    """The request body in OpenAPI, `$defs` inlined, so schema fuzzers fill every field
    (the route reads the raw body itself, to bound its size before parsing)."""
    schema = model.model_json_schema()
    defs = schema.pop("$defs", {})

    def inline(node: Any) -> Any:
        if isinstance(node, dict):
            if "$ref" in node:
                return inline(defs[node["$ref"].rsplit("/", 1)[1]])
            return {k: inline(v) for k, v in node.items()}
        if isinstance(node, list):
            return [inline(v) for v in node]
        return node

    return {"required": True, "content": {"application/json": {"schema": inline(schema)}}}


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


def _refresh_loop(repo: Repository, settings: ServerSettings, stop: threading.Event) -> None:
    assert settings.refresh_interval is not None
    while True:
        try:
            done = repo.refresh_online(settings.refresh_margin)
            offline = [d for d in done if "offline" in d]
            if offline:
                log.warning("about to expire, needs the offline key: %s", ", ".join(offline))
            if len(offline) < len(done):
                log.info("re-signed: %s", ", ".join(d for d in done if d not in offline))
        except Exception:
            log.exception("timestamp refresh failed")
        if stop.wait(settings.refresh_interval):
            return


def _metrics(repo: Repository, store: TelemetryStore, keeper: HaltKeeper):
    """The scrape registry and the two counters.

    With several workers (`PROMETHEUS_MULTIPROC_DIR` set by `serve --workers`), counters are
    written to shared files and summed at scrape time, whichever worker answers; the fleet
    gauges and the halt count come from the database, which every worker shares.
    """
    multiprocess = bool(os.environ.get(MULTIPROC_ENV))
    scrape = CollectorRegistry()
    own = None if multiprocess else scrape
    events_total = Counter("litefleet_events", "Telemetry events stored", ["type"], registry=own)
    rejected_total = Counter(
        "litefleet_requests_rejected", "Telemetry requests refused", ["reason"], registry=own
    )
    if multiprocess:
        from prometheus_client import multiprocess as mp

        mp.MultiProcessCollector(scrape)
    scrape.register(_FleetCollector(repo, store, keeper))
    return scrape, events_total, rejected_total


class _FleetCollector:
    """Prometheus gauges computed at scrape time from the same report as `/v1/fleet`."""

    def __init__(self, repo: Repository, store: TelemetryStore, keeper: HaltKeeper):
        self.repo, self.store, self.keeper = repo, store, keeper

    def collect(self):
        decisions = self.keeper.sync_all()
        report = fleet_report(self.repo, self.store, decisions, judge=self.keeper.judge)
        gauges = {
            name: GaugeMetricFamily(f"litefleet_release_{name}", help_, labels=["model", "version"])
            for name, help_ in (
                ("running", "Devices running the release"),
                ("tried", "Devices that reported the release"),
                ("failed", "Devices that failed its health gate or rolled it back"),
                ("rollout_percent", "Rollout percentage"),
                ("auto_pauses", "Times the server paused the release"),
            )
        }
        for row in report.releases:
            labels = [row.model, str(row.version)]
            gauges["running"].add_metric(labels, row.running)
            gauges["tried"].add_metric(labels, row.tried)
            gauges["failed"].add_metric(labels, row.failed)
            gauges["rollout_percent"].add_metric(labels, row.rollout_percent or 0.0)
            gauges["auto_pauses"].add_metric(labels, row.auto_pauses)
        total = GaugeMetricFamily("litefleet_auto_halts", "Automatic pauses, all releases")
        total.add_metric([], sum(d.pauses for d in decisions))
        yield from gauges.values()
        yield total


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


def serve(
    settings: ServerSettings, host: str = "127.0.0.1", port: int = 8080, workers: int = 1
) -> None:
    """Run the server in the foreground (the `litefleet serve` command).

    The database is opened once here first: a bad URL, a missing driver or a refused login
    is one `UserError` before any worker starts. `workers > 1`: N processes on one socket
    (`workers.run_workers`); each builds its app from `SETTINGS_ENV` (`app_from_env`), and
    Prometheus counters go to a shared folder. Workers that keep dying stop the server.

    Raises:
        UserError: the database cannot be used, or the workers keep dying (the reason).
    """
    check_database(settings.db_url or default_db_url(settings.repo))
    if workers <= 1:
        uvicorn.run(create_app(settings), host=host, port=port, log_level="info")
        return
    metrics_dir = Path(tempfile.mkdtemp(prefix="litefleet-metrics-"))
    os.environ[SETTINGS_ENV] = settings.to_env()
    os.environ[MULTIPROC_ENV] = str(metrics_dir)
    try:
        run_workers(
            "litefleet.registry.server:app_from_env",
            host,
            port,
            workers,
            log_level="info",
            timeout_worker_healthcheck=30,
        )
    except WorkersDied as exc:
        raise UserError(f"serve stopped: {exc}") from None
    finally:
        shutil.rmtree(metrics_dir, ignore_errors=True)


def app_from_env() -> FastAPI:
    """An app factory for `uvicorn --factory` (each worker of `serve --workers N`).

    Reads `LITEFLEET_SERVER_SETTINGS` (JSON), else `LITEFLEET_REPO` and `LITEFLEET_DB`.
    """
    text = os.environ.get(SETTINGS_ENV)
    if text:
        return create_app(ServerSettings.from_env(text))
    repo = os.environ.get("LITEFLEET_REPO")
    if not repo:
        raise RuntimeError(f"set {SETTINGS_ENV} or LITEFLEET_REPO")
    return create_app(ServerSettings(repo=Path(repo), db_url=os.environ.get("LITEFLEET_DB")))
