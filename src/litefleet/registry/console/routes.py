"""The operator side of the server: console pages, login, and the `/v1/operator/...` API.

    GET  /                        -> /console
    GET  /login, POST /login      the login form (name + the account's secret) -> session
    POST /logout
    GET  /console                 fleet overview: releases, adoption, failures, halts, audit
    GET  /console/devices         devices: search, tag/model/status filters, pages of 50
    GET  /console/devices/{id}    one device: versions, tags, pins, event timeline
    POST /console/actions/{rollout,pin,tags}   steer (operator role + CSRF token)
    GET  /v1/operator/devices, /v1/operator/audit, /v1/operator/alerts   the same, as JSON
    GET  /v1/operator/push        push: broker URL, the last nudges and the broker's answer
    POST /v1/operator/{rollout,pin,tags}       the same actions, bearer token or session+CSRF

Every action is signed with the online rollout key, exactly as `litefleet rollout` does
(`registry/rollout.py`), and written to the audit log with who, when, what and why.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, FastAPI, HTTPException, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from pydantic import BaseModel, Field

from litefleet.errors import UserError
from litefleet.registry.alerts import Alerts
from litefleet.registry.console import queries
from litefleet.registry.console.auth import (
    SESSION_COOKIE,
    Caller,
    LoginRedirect,
    OperatorAuth,
    Throttled,
    client_address,
)
from litefleet.registry.console.chart import adoption_svg
from litefleet.registry.fleet import fleet_report
from litefleet.registry.halt import HaltKeeper
from litefleet.registry.operators import SESSION_S, AuditLog
from litefleet.registry.push import push_status
from litefleet.registry.repository import Repository
from litefleet.registry.rollout import change_rollout, read_rollout, refresh_groups, set_pin
from litefleet.registry.telemetry import TelemetryStore
from litefleet.registry.tokens import DeviceTokens

HERE = Path(__file__).parent
Filters = Annotated[queries.DeviceFilter, Depends()]
"""The device list's query parameters (q, tag, model, status, version), page and API alike."""
LOGIN_COOKIE = "lf_login"


@dataclass
class Console:
    """What the pages need, built once per worker by `install`."""

    repo: Repository
    store: TelemetryStore
    keeper: HaltKeeper
    auth: OperatorAuth
    audit: AuditLog
    alerts: Alerts
    devices: DeviceTokens
    silent_after_s: float = 3 * 3600
    adoption_s: float = 300.0
    can_sign: bool = True
    _tags_stamp: Any = field(default=-1)
    enrolled: frozenset[str] = frozenset()
    tag_counts: list[tuple[str, int]] = field(default_factory=list)

    def sync_tags(self) -> None:
        """Copy the enrollment book's groups to SQL when the book changed (one `stat`
        otherwise)."""
        stamp = self.devices.stamp()
        if stamp != self._tags_stamp:
            book = self.devices.tags_by_device()
            queries.sync_tags(self.store.engine, book)
            counts: dict[str, int] = {}
            for tags in book.values():
                for t in tags:
                    counts[t] = counts.get(t, 0) + 1
            self.enrolled, self.tag_counts = frozenset(book), sorted(counts.items())
            self._tags_stamp = stamp


class RolloutChange(BaseModel):
    model: str
    version: int = Field(ge=1, le=2**31 - 1)
    action: str
    percent: float | None = None
    tags: list[str] | None = None
    reason: str = Field(default="", max_length=2000)


class PinChange(BaseModel):
    model: str
    target: str = Field(max_length=140)
    version: int | None = Field(default=None, ge=1, le=2**31 - 1)
    reason: str = Field(default="", max_length=2000)


class TagsChange(BaseModel):
    device_id: str = Field(max_length=128)
    tags: list[str]
    reason: str = Field(default="", max_length=2000)


def install_console(app: FastAPI, console: Console) -> None:
    """Add the console, the login and the operator API to the server's app."""
    templates = Jinja2Templates(directory=str(HERE / "templates"))
    templates.env.filters["ago"] = _ago
    templates.env.filters["utc"] = _utc
    app.mount("/console/static", StaticFiles(directory=HERE / "static"), name="console-static")
    router = APIRouter()
    auth = console.auth

    @app.exception_handler(LoginRedirect)
    async def to_login(_request: Request, exc: LoginRedirect) -> Response:
        return RedirectResponse(exc.headers["location"], status_code=303)

    def page(request: Request, name: str, caller: Caller, **ctx: Any) -> HTMLResponse:
        ctx.update(
            request=request,
            me=caller.operator,
            csrf=caller.csrf,
            done=request.query_params.get("done", ""),
            error=request.query_params.get("error", ""),
        )
        resp = templates.TemplateResponse(request, name, ctx)
        resp.headers["cache-control"] = "no-store"
        return resp

    # ------------------------------------------------------------------ login

    @router.get("/", include_in_schema=False)
    def root() -> RedirectResponse:
        return RedirectResponse("/console", status_code=303)

    def login_page(request: Request, nxt: str, error: str, status: int = 200) -> HTMLResponse:
        token = secrets.token_urlsafe(24)
        resp = templates.TemplateResponse(
            request,
            "login.html",
            {"csrf": token, "next": _safe_next(nxt), "error": error},
            status_code=status,
        )
        _cookie(resp, request, LOGIN_COOKIE, token, 600)
        return resp

    @router.get("/login", response_class=HTMLResponse, include_in_schema=False)
    def login_form(request: Request, next: str = "/console", error: str = "") -> HTMLResponse:
        return login_page(request, next, error)

    @router.post("/login", include_in_schema=False)
    async def login(request: Request) -> Response:
        form = await request.form()
        sent, expected = str(form.get("csrf", "")), request.cookies.get(LOGIN_COOKIE, "")
        nxt = _safe_next(str(form.get("next", "/console")))
        if not expected or not secrets.compare_digest(sent.encode(), expected.encode()):
            raise HTTPException(403, "missing or wrong CSRF token (reload the login page)")
        name, secret = str(form.get("name", ""))[:64], str(form.get("secret", ""))[:200]
        try:
            op = await run_in_threadpool(auth.check_secret, name, secret, client_address(request))
        except Throttled as exc:
            resp = login_page(request, nxt, exc.detail, 429)
            resp.headers.update(exc.headers)
            return resp
        if op is None:
            query = urlencode({"next": nxt, "error": "wrong name or secret"})
            return RedirectResponse(f"/login?{query}", status_code=303)
        secret, _ = console.auth.sessions.create(op.name)
        console.audit.record(op.name, "login", "console", op.role)
        resp = RedirectResponse(nxt, status_code=303)
        _cookie(resp, request, SESSION_COOKIE, secret, SESSION_S)
        resp.delete_cookie(LOGIN_COOKIE, path="/login")
        return resp

    @router.post("/logout", include_in_schema=False)
    async def logout(request: Request) -> Response:
        caller = auth.require(request)
        form = await request.form()
        if caller.session is None or not secrets.compare_digest(
            str(form.get("csrf", "")).encode(), caller.session.csrf.encode()
        ):
            raise HTTPException(403, "missing or wrong CSRF token")
        console.auth.sessions.end(request.cookies.get(SESSION_COOKIE))
        resp = RedirectResponse("/login", status_code=303)
        resp.delete_cookie(SESSION_COOKIE, path="/")
        return resp

    # ------------------------------------------------------------------ pages

    def device_list(filters: queries.DeviceFilter, page_no: int) -> queries.DevicePage:
        console.sync_tags()
        return queries.list_devices(
            console.store.engine, filters, page=page_no, silent_after_s=console.silent_after_s
        )

    @router.get("/console", response_class=HTMLResponse, include_in_schema=False)
    def overview(request: Request, tag: str = "") -> HTMLResponse:
        caller = auth.require(request, page=True)
        console.sync_tags()
        engine = console.store.engine
        decisions = console.keeper.sync_all()
        report = fleet_report(
            console.repo, console.store, decisions, tag or None, console.keeper.judge
        )
        models: dict[str, list] = {}
        for row in report.releases:
            models.setdefault(row.model, []).append(row)
        since = time.time() - 7 * 86400
        charts = {
            m: adoption_svg(queries.adoption_series(engine, m, since, console.adoption_s))
            for m in sorted(models)
        }
        pins, stages = {}, {}
        for m in models:
            state = read_rollout(console.repo, m)
            pins[m] = state.pins if state else {}
            stages[m] = {v: e for v, e in state.rollouts.items() if e.stages} if state else {}
        return page(
            request,
            "overview.html",
            caller,
            tag=tag,
            models=models,
            charts=charts,
            pins=pins,
            stages=stages,
            promotions=queries.recent_promotions(engine),
            totals=queries.fleet_totals(engine, console.silent_after_s),
            tag_counts=console.tag_counts,
            failures=queries.failures_by_reason(engine),
            halts=decisions,
            audit=console.audit.recent(20),
            hooks=console.alerts.book.hooks(),
            deliveries=console.alerts.recent(10),
            push=push_status(console.repo.keys.path),
        )

    @router.get("/console/devices", response_class=HTMLResponse, include_in_schema=False)
    def devices_page(request: Request, filters: Filters, page_no: int = 1) -> HTMLResponse:
        caller = auth.require(request, page=True)
        return page(
            request,
            "devices.html",
            caller,
            listing=device_list(filters, page_no),
            filters=filters,
            query=lambda **kw: urlencode(filters.params(**kw)),
            statuses=queries.STATUSES,
        )

    @router.get(
        "/console/devices/{device_id}", response_class=HTMLResponse, include_in_schema=False
    )
    def device_page(request: Request, device_id: str, before: int | None = None) -> HTMLResponse:
        caller = auth.require(request, page=True)
        console.sync_tags()
        models, tags, timeline = queries.device_detail(console.store.engine, device_id, before)
        enrolled = device_id in console.enrolled
        if not models and not enrolled:
            raise HTTPException(404, f"no device {device_id!r}")
        pins = {}
        for m in console.repo.models():
            state = read_rollout(console.repo, m)
            if state:
                mine = {f"device:{device_id}", *(f"tag:{t}" for t in tags)}
                pins[m] = {k: v for k, v in state.pins.items() if k in mine}
        return page(
            request,
            "device.html",
            caller,
            device_id=device_id,
            models=models,
            tags=tags,
            timeline=timeline,
            pins=pins,
            enrolled=enrolled,
            known_models=console.repo.models(),
            older=timeline[-1].id if len(timeline) == 100 else None,
        )

    # ------------------------------------------------------------------ actions

    def add_action(kind: str, action: Action) -> None:
        """One action, two doors: the console's form (redirects back with `done` or `error`)
        and the JSON API (`/v1/operator/KIND`, the body validated as `action.change`)."""

        async def act(caller: Caller, change: BaseModel) -> dict:
            try:
                return await run_in_threadpool(action.apply, console, caller.operator.name, change)
            except UserError as exc:
                raise HTTPException(400, str(exc)) from None

        async def from_form(request: Request) -> Response:
            caller = await auth.require_change(request)
            form = await request.form()
            back = _safe_next(str(form.get("back", "/console")))
            try:
                done = await act(caller, action.parse_form(form))
            except (HTTPException, ValueError) as exc:
                message = exc.detail if isinstance(exc, HTTPException) else _short(exc)
                if isinstance(exc, HTTPException) and exc.status_code != 400:
                    raise
                return RedirectResponse(_with(back, error=str(message)), status_code=303)
            return RedirectResponse(_with(back, done=done["done"]), status_code=303)

        async def from_api(request: Request, change: BaseModel) -> dict:
            return await act(await auth.require_change(request), change)

        from_api.__annotations__["change"] = action.change  # what FastAPI validates
        router.add_api_route(
            f"/console/actions/{kind}", from_form, methods=["POST"], include_in_schema=False
        )
        router.add_api_route(f"/v1/operator/{kind}", from_api, methods=["POST"], name=f"api_{kind}")

    for kind, action in ACTIONS.items():
        add_action(kind, action)

    @router.get("/v1/operator/devices")
    def api_devices(request: Request, filters: Filters, page: int = 1) -> dict:
        auth.require(request)
        listing = device_list(filters, page)
        return {
            "total": listing.total,
            "page": listing.page,
            "pages": listing.pages,
            "devices": [r.__dict__ for r in listing.rows],
        }

    @router.get("/v1/operator/audit")
    def api_audit(request: Request, limit: int = 50) -> list[dict]:
        auth.require(request)
        return console.audit.recent(min(max(limit, 1), 500))

    @router.get("/v1/operator/alerts")
    def api_alerts(request: Request) -> JSONResponse:
        auth.require(request)
        hooks = [{"id": h.id, "url": h.url, "on": h.on} for h in console.alerts.book.hooks()]
        return JSONResponse({"hooks": hooks, "recent": console.alerts.recent(50)})

    @router.get("/v1/operator/push")
    def api_push(request: Request) -> dict:
        auth.require(request)
        status = push_status(console.repo.keys.path)
        return {
            "broker": status.broker,
            "problem": status.problem,
            "nudges": [n.__dict__ for n in status.nudges],
        }

    app.include_router(router)


# ---------------------------------------------------------------------- actions (threads)


def _rollout(console: Console, who: str, c: RolloutChange) -> dict:
    if c.action not in ("percent", "pause", "resume", "abort"):
        raise UserError(f"action {c.action!r}: one of percent, pause, resume, abort")
    if not console.can_sign:
        raise UserError("this server has no rollout key: it cannot sign rollout changes")
    tags = None
    if c.tags is not None:
        from litefleet.registry.tokens import check_tags

        tags = check_tags(c.tags)
    state = change_rollout(
        console.repo,
        c.model,
        c.version,
        c.action,
        c.percent,
        c.reason or f"{c.action} by {who}",
        tags=tags,
    )
    entry = state.rollouts[c.version]
    detail = f"{entry.status}, {entry.percent:g}%" + (
        f", tags {','.join(entry.tags)}" if entry.tags else ""
    )
    console.audit.record(who, c.action, f"{c.model} {c.version}", detail, c.reason)
    if c.action == "pause":
        console.alerts.on_halt(
            c.model, c.version, c.reason or "paused by an operator", who, int(time.time())
        )
    return {
        "done": f"{c.model} {c.version}: {detail}",
        "status": entry.status,
        "percent": entry.percent,
    }


def _pin(console: Console, who: str, c: PinChange) -> dict:
    state = set_pin(console.repo, c.model, c.target, c.version, c.reason)
    what = f"pinned to {c.version}" if c.version is not None else "unpinned"
    console.audit.record(who, "pin", f"{c.model} {c.target}", what, c.reason)
    return {"done": f"{c.model} {c.target}: {what}", "pins": state.pins}


def _tags(console: Console, who: str, c: TagsChange) -> dict:
    tags = console.devices.set_tags(c.device_id, c.tags)
    for model in console.repo.models():
        refresh_groups(console.repo, model)
    console.sync_tags()
    console.audit.record(who, "tags", c.device_id, ",".join(tags) or "(none)", c.reason)
    return {"done": f"{c.device_id}: tags {', '.join(tags) or '(none)'}", "tags": tags}


def _rollout_form(form) -> RolloutChange:
    percent = str(form.get("percent", "")).strip()
    return RolloutChange(
        model=str(form.get("model", "")),
        version=int(str(form.get("version", "0")) or 0),
        action=str(form.get("action", "")),
        percent=float(percent) if percent else None,
        tags=_split_tags(form) if "tags" in form else None,
        reason=str(form.get("reason", "")),
    )


def _pin_form(form) -> PinChange:
    version = str(form.get("version", "")).strip()
    return PinChange(
        model=str(form.get("model", "")),
        target=str(form.get("target", "")).strip(),
        version=int(version) if version else None,
        reason=str(form.get("reason", "")),
    )


def _tags_form(form) -> TagsChange:
    return TagsChange(
        device_id=str(form.get("device_id", "")),
        tags=_split_tags(form),
        reason=str(form.get("reason", "")),
    )


def _split_tags(form) -> list[str]:
    """The form's comma-separated `tags` field."""
    return [t.strip() for t in str(form.get("tags", "")).split(",") if t.strip()]


@dataclass(frozen=True)
class Action:
    """A steering action: its request body, what it does (in a thread, signed and
    audited) and how the console's form becomes that body."""

    change: type[BaseModel]
    apply: Callable[[Console, str, Any], dict]
    parse_form: Callable[[Any], BaseModel]


ACTIONS = {
    "rollout": Action(RolloutChange, _rollout, _rollout_form),
    "pin": Action(PinChange, _pin, _pin_form),
    "tags": Action(TagsChange, _tags, _tags_form),
}


# ---------------------------------------------------------------------- helpers


def _cookie(resp: Response, request: Request, name: str, value: str, max_age: int) -> None:
    https = request.url.scheme == "https" or request.headers.get("x-forwarded-proto") == "https"
    resp.set_cookie(
        name,
        value,
        max_age=max_age,
        httponly=True,
        samesite="strict",
        secure=https,
        path="/login" if name == LOGIN_COOKIE else "/",
    )


def _safe_next(path: str) -> str:
    """Only a path on this server (never `//evil` or a URL): no open redirect."""
    if not path.startswith("/") or path.startswith("//") or "\\" in path:
        return "/console"
    return path


def _with(path: str, **params: str) -> str:
    base = path.split("?", 1)[0]
    return f"{base}?{urlencode(params)}"


def _short(exc: Exception) -> str:
    return str(exc).splitlines()[0][:300]


def _ago(t: float | None) -> str:
    if t is None:
        return "never"
    s = max(0, time.time() - t)
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if s >= size:
            return f"{s / size:.0f} {unit} ago"
    return f"{s:.0f} s ago"


def _utc(t: float | None) -> str:
    return "-" if t is None else time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(t))
