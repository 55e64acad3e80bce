"""An attack proxy: sits between agents and the update server on 127.0.0.1 and can rewrite
anything, so the reliability suite and `litefleet selftest` can play the network attacker.

Requests pass through unchanged until a *fault* is set. A fault is an async function of the
request that returns a `Reply` (the proxy answers with it), or None (pass through). The
usual ones are built by the helpers below; `upstream` gives a fault the real answer to
rewrite.

    with AttackProxy(server.url) as proxy:           # proxy.url -> agents
        proxy.fault = tamper(r"\\.tflite$", flip_byte)
        proxy.fault = endless(r"timestamp\\.json$")
        proxy.fault = None                          # honest again

Only what the suite needs: GET and POST, bodies in memory, one upstream.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field

import httpx
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.types import Receive, Scope, Send

from litefleet.registry.server import ServerThread

HOP = {"connection", "keep-alive", "transfer-encoding", "content-length", "content-encoding"}


@dataclass
class Reply:
    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    stream: Callable[[], AsyncIterator[bytes]] | None = None
    """Instead of `body`: chunks (e.g. never-ending), sent as they come."""
    cut_after: int | None = None
    """Announce the full length, send this many bytes of `body`, then drop the connection."""
    delay_s: float = 0.0


@dataclass
class Exchange:
    """The request a fault sees, with a way to ask the real server."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    _proxy: AttackProxy

    async def upstream(self) -> Reply:
        r = await self._proxy.client.request(
            self.method, self.path, headers=self.headers, content=self.body
        )
        headers = {k: v for k, v in r.headers.items() if k.lower() not in HOP}
        return Reply(r.status_code, r.content, headers)


Fault = Callable[[Exchange], Awaitable[Reply | None]]


class _Cut(Exception):
    """Raised mid-body: uvicorn then closes the connection (the client sees a reset)."""


def _quiet_cuts(record: logging.LogRecord) -> bool:
    """uvicorn logs every deliberate reset as an ASGI error: drop those records."""
    exc = record.exc_info[1] if record.exc_info else None
    return not isinstance(exc, _Cut)


class AttackProxy:
    def __init__(self, upstream: str, port: int = 0) -> None:
        if _quiet_cuts not in logging.getLogger("uvicorn.error").filters:
            logging.getLogger("uvicorn.error").addFilter(_quiet_cuts)
        self.upstream = upstream.rstrip("/")
        self.fault: Fault | None = None
        self.requests: list[str] = []
        """Paths seen, in order (tests assert what the agent asked for)."""
        self.ranges: list[tuple[str, str]] = []
        """(path, Range header) of every request that asked for part of a file."""
        self.client = httpx.AsyncClient(base_url=self.upstream, timeout=30)
        self._thread = ServerThread(_Asgi(self), port=port)  # type: ignore[arg-type]

    @property
    def url(self) -> str:
        return self._thread.url

    @property
    def port(self) -> int:
        return self._thread.port

    def __enter__(self) -> AttackProxy:
        self._thread.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self._thread.__exit__(*exc)

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            while (await receive())["type"] != "lifespan.shutdown":
                await send({"type": "lifespan.startup.complete"})
            await send({"type": "lifespan.shutdown.complete"})
            return
        request = Request(scope, receive)
        path = scope["raw_path"].decode("latin-1")
        if scope.get("query_string"):
            path += "?" + scope["query_string"].decode("latin-1")
        self.requests.append(path)
        headers = {k: v for k, v in request.headers.items() if k.lower() not in {"host", *HOP}}
        if "range" in headers:
            self.ranges.append((path, headers["range"]))
        ex = Exchange(request.method, path, headers, await request.body(), self)
        fault = self.fault
        reply = await fault(ex) if fault else None
        if reply is None:
            reply = await ex.upstream()
        if reply.delay_s:
            await asyncio.sleep(reply.delay_s)
        await _respond(reply)(scope, receive, send)


class _Asgi:
    """uvicorn needs an object whose `__call__` is a coroutine function (ASGI 3)."""

    def __init__(self, proxy: AttackProxy) -> None:
        self.proxy = proxy

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.proxy.handle(scope, receive, send)


def _respond(reply: Reply) -> Response:
    if reply.stream is not None:
        return StreamingResponse(reply.stream(), reply.status, headers=reply.headers)
    if reply.cut_after is None:
        return Response(reply.body, reply.status, headers=reply.headers)
    body, n = reply.body, reply.cut_after

    async def cut() -> AsyncIterator[bytes]:
        yield body[:n]
        await asyncio.sleep(0.05)  # let the bytes leave before the reset
        raise _Cut()

    headers = {**reply.headers, "content-length": str(len(body))}
    return StreamingResponse(cut(), reply.status, headers=headers)


# ---------------------------------------------------------------------- ready-made faults


def _matcher(pattern: str) -> Callable[[str], bool]:
    rx = re.compile(pattern)
    return lambda path: bool(rx.search(path.split("?", 1)[0]))


def tamper(pattern: str, change: Callable[[bytes], bytes]) -> Fault:
    """Rewrite the real body of matching responses with `change`."""
    match = _matcher(pattern)

    async def fault(ex: Exchange) -> Reply | None:
        if not match(ex.path):
            return None
        r = await ex.upstream()
        if r.status == 200:
            r.body = change(r.body)
        return r

    return fault


def serve(pattern: str, body: bytes, status: int = 200) -> Fault:
    """Answer matching requests with fixed bytes (replayed or forged metadata)."""
    match = _matcher(pattern)

    async def fault(ex: Exchange) -> Reply | None:
        return Reply(status, body, {"content-type": "application/json"}) if match(ex.path) else None

    return fault


def substitute(pattern: str, pick: Callable[[str], bytes | None]) -> Fault:
    """Answer matching requests with `pick(path)` (None: pass through)."""
    match = _matcher(pattern)

    async def fault(ex: Exchange) -> Reply | None:
        if not match(ex.path):
            return None
        body = pick(ex.path)
        return None if body is None else Reply(200, body)

    return fault


def endless(pattern: str, chunk: int = 64 * 1024) -> Fault:
    """A body that never ends (the client must stop at the signed length)."""
    match = _matcher(pattern)

    async def forever() -> AsyncIterator[bytes]:
        block = b"\0" * chunk
        while True:
            yield block
            await asyncio.sleep(0)

    async def fault(ex: Exchange) -> Reply | None:
        return Reply(200, stream=forever) if match(ex.path) else None

    return fault


def status(pattern: str, code: int, times: int | None = None) -> Fault:
    """Answer `code` (e.g. 500) to matching requests, the first `times` times or always."""
    match = _matcher(pattern)
    left = [times]

    async def fault(ex: Exchange) -> Reply | None:
        if not match(ex.path) or left[0] == 0:
            return None
        if left[0] is not None:
            left[0] -= 1
        return Reply(code, b"injected failure")

    return fault


def slow(pattern: str, seconds: float) -> Fault:
    """Wait before answering (the client's timeout decides)."""
    match = _matcher(pattern)

    async def fault(ex: Exchange) -> Reply | None:
        if not match(ex.path):
            return None
        r = await ex.upstream()
        r.delay_s = seconds
        return r

    return fault


def cut(pattern: str, after: int | float, times: int | None = None, ranges: bool = False) -> Fault:
    """Send the first `after` bytes (or that share of the body) then reset the connection.

    Range requests pass through unless `ranges` (so a client that resumes finishes);
    `times` limits how many responses are cut.
    """
    match = _matcher(pattern)
    left = [times]

    async def fault(ex: Exchange) -> Reply | None:
        if not match(ex.path) or left[0] == 0 or ("range" in ex.headers and not ranges):
            return None
        r = await ex.upstream()
        if r.status not in (200, 206):
            return r
        if left[0] is not None:
            left[0] -= 1
        n = int(after * len(r.body)) if isinstance(after, float) else int(after)
        r.cut_after = max(0, min(n, len(r.body) - 1))
        return r

    return fault


def chain(*faults: Fault) -> Fault:
    """The first fault that answers wins."""

    async def fault(ex: Exchange) -> Reply | None:
        for f in faults:
            r = await f(ex)
            if r is not None:
                return r
        return None

    return fault


def flip_byte(data: bytes) -> bytes:
    if not data:
        return b"\0"
    b = bytearray(data)
    b[len(b) // 2] ^= 0xFF
    return bytes(b)
