"""An attack proxy: sits between agents and the update server on 127.0.0.1 and can rewrite
anything, so the reliability suite and `litefleet selftest` can play the network attacker.

Requests pass through unchanged until a *fault* is set. A fault is a function of the
request that returns a `Reply` (the proxy answers with it), or None (pass through). The
usual ones are built by the helpers below; `upstream` gives a fault the real answer to
rewrite.

    with AttackProxy(server.url) as proxy:           # proxy.url -> agents
        proxy.fault = tamper(r"\\.tflite$", flip_byte)
        proxy.fault = endless(r"timestamp\\.json$")
        proxy.fault = None                          # honest again

Built on the standard library's threading HTTP server and httpx (both in a device-only
install), so `litefleet selftest` plays the attacker on a device too. Only what the suite
needs: GET, HEAD and POST, bodies in memory, one upstream, a thread per connection.
"""

from __future__ import annotations

import contextlib
import re
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler

import httpx

from litefleet.testing.loopback import LoopbackHTTPServer

HOP = {"connection", "keep-alive", "transfer-encoding", "content-length", "content-encoding"}


@dataclass
class Reply:
    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    stream: Callable[[], Iterator[bytes]] | None = None
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

    def upstream(self) -> Reply:
        r = self._proxy.client.request(
            self.method, self.path, headers=self.headers, content=self.body
        )
        headers = {k: v for k, v in r.headers.items() if k.lower() not in HOP}
        return Reply(r.status_code, r.content, headers)


Fault = Callable[[Exchange], Reply | None]


class AttackProxy:
    def __init__(self, upstream: str, port: int = 0) -> None:
        self.upstream = upstream.rstrip("/")
        self.fault: Fault | None = None
        self.requests: list[str] = []
        """Paths seen, in order (tests assert what the agent asked for)."""
        self.ranges: list[tuple[str, str]] = []
        """(path, Range header) of every request that asked for part of a file."""
        self.client = httpx.Client(base_url=self.upstream, timeout=30)
        self.closing = threading.Event()
        self._open: set[socket.socket] = set()
        self._open_lock = threading.Lock()
        self._httpd = _Server(("127.0.0.1", port), _Handler)
        self._httpd.proxy = self
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, daemon=True, name="attack-proxy"
        )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def port(self) -> int:
        return self._httpd.server_address[1]

    def __enter__(self) -> AttackProxy:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        """Stop listening and drop every open connection: the server is down for real."""
        self.closing.set()
        self._httpd.shutdown()
        self._httpd.server_close()
        with self._open_lock:
            for conn in self._open:
                with contextlib.suppress(OSError):
                    conn.shutdown(socket.SHUT_RDWR)
        self._thread.join(timeout=10)
        self.client.close()

    def _track(self, conn: socket.socket, alive: bool) -> None:
        with self._open_lock:
            (self._open.add if alive else self._open.discard)(conn)

    def handle(self, ex: Exchange) -> Reply:
        self.requests.append(ex.path)
        if "range" in ex.headers:
            self.ranges.append((ex.path, ex.headers["range"]))
        fault = self.fault
        reply = fault(ex) if fault else None
        if reply is None:
            reply = ex.upstream()
        if reply.delay_s:
            self.closing.wait(reply.delay_s)
        return reply


class _Server(LoopbackHTTPServer):
    proxy: AttackProxy


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as the agent's connection pool expects
    server: _Server

    def log_message(self, format: str, *args: object) -> None:
        """Quiet: cut connections and endless bodies are the point, not news."""

    def setup(self) -> None:
        super().setup()
        self.server.proxy._track(self.connection, True)

    def finish(self) -> None:
        self.server.proxy._track(self.connection, False)
        with contextlib.suppress(OSError):
            super().finish()

    def do_GET(self) -> None:
        self._proxy()

    do_HEAD = do_POST = do_PUT = do_DELETE = do_GET

    def _proxy(self) -> None:
        proxy = self.server.proxy
        headers = {k.lower(): v for k, v in self.headers.items()}
        length = headers.get("content-length", "0")
        body = self.rfile.read(int(length)) if length.isdigit() else b""
        headers = {k: v for k, v in headers.items() if k not in {"host", *HOP}}
        try:
            reply = proxy.handle(Exchange(self.command, self.path, headers, body, proxy))
        except httpx.HTTPError as exc:  # the server behind is down: say so, as a proxy does
            reply = Reply(502, f"upstream: {exc}".encode())
        try:
            self._send(reply)
        except OSError:  # the client hung up (e.g. it stopped an endless body): fine
            self.close_connection = True

    def _send(self, reply: Reply) -> None:
        self.send_response(reply.status)
        for k, v in reply.headers.items():
            if k.lower() not in {"server", "date", *HOP}:  # send_response wrote its own
                self.send_header(k, v)
        if reply.stream is not None:  # no length: the body ends when the connection does
            self.send_header("Connection", "close")
            self.end_headers()
            self.close_connection = True
            for chunk in reply.stream():
                if self.server.proxy.closing.is_set():
                    return
                self.wfile.write(chunk)
            return
        self.send_header("Content-Length", str(len(reply.body)))
        self.end_headers()
        if self.command == "HEAD":
            return
        if reply.cut_after is None:
            self.wfile.write(reply.body)
            return
        self.wfile.write(reply.body[: reply.cut_after])
        self.wfile.flush()
        time.sleep(0.05)  # let the bytes leave before the connection drops
        self.close_connection = True
        with contextlib.suppress(OSError):
            self.connection.shutdown(socket.SHUT_RDWR)


# ---------------------------------------------------------------------- ready-made faults


def _matcher(pattern: str) -> Callable[[str], bool]:
    rx = re.compile(pattern)
    return lambda path: bool(rx.search(path.split("?", 1)[0]))


def tamper(pattern: str, change: Callable[[bytes], bytes]) -> Fault:
    """Rewrite the real body of matching responses with `change`."""
    match = _matcher(pattern)

    def fault(ex: Exchange) -> Reply | None:
        if not match(ex.path):
            return None
        r = ex.upstream()
        if r.status == 200:
            r.body = change(r.body)
        return r

    return fault


def serve(pattern: str, body: bytes, status: int = 200) -> Fault:
    """Answer matching requests with fixed bytes (replayed or forged metadata)."""
    match = _matcher(pattern)

    def fault(ex: Exchange) -> Reply | None:
        return Reply(status, body, {"content-type": "application/json"}) if match(ex.path) else None

    return fault


def substitute(pattern: str, pick: Callable[[str], bytes | None]) -> Fault:
    """Answer matching requests with `pick(path)` (None: pass through)."""
    match = _matcher(pattern)

    def fault(ex: Exchange) -> Reply | None:
        if not match(ex.path):
            return None
        body = pick(ex.path)
        return None if body is None else Reply(200, body)

    return fault


def endless(pattern: str, chunk: int = 64 * 1024) -> Fault:
    """A body that never ends (the client must stop at the signed length)."""
    match = _matcher(pattern)

    def forever() -> Iterator[bytes]:
        block = b"\0" * chunk
        while True:
            yield block

    def fault(ex: Exchange) -> Reply | None:
        return Reply(200, stream=forever) if match(ex.path) else None

    return fault


def status(pattern: str, code: int, times: int | None = None) -> Fault:
    """Answer `code` (e.g. 500) to matching requests, the first `times` times or always."""
    match = _matcher(pattern)
    left = [times]

    def fault(ex: Exchange) -> Reply | None:
        if not match(ex.path) or left[0] == 0:
            return None
        if left[0] is not None:
            left[0] -= 1
        return Reply(code, b"injected failure")

    return fault


def slow(pattern: str, seconds: float) -> Fault:
    """Wait before answering (the client's timeout decides)."""
    match = _matcher(pattern)

    def fault(ex: Exchange) -> Reply | None:
        if not match(ex.path):
            return None
        r = ex.upstream()
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

    def fault(ex: Exchange) -> Reply | None:
        if not match(ex.path) or left[0] == 0 or ("range" in ex.headers and not ranges):
            return None
        r = ex.upstream()
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

    def fault(ex: Exchange) -> Reply | None:
        for f in faults:
            r = f(ex)
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
