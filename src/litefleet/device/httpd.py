"""A lean HTTP/1.1 server on asyncio for a local JSON API: keep-alive, one write per answer.

`agent serve` answers apps on the same machine, often thousands of tiny requests a second.
The standard library's threading server spends a thread switch and several small writes per
request (with Nagle's algorithm that cost 16 ms p99 on loopback); this one parses requests
in the event loop, answers each with a single `write` on a TCP_NODELAY socket, and calls the
handler inline. A handler that turns out slow (a big model) is moved to a thread pool so the
loop stays responsive and LiteRT's `invoke`, which releases the GIL, uses every core.

What it accepts, and nothing more: `Content-Length` bodies up to `max_body` bytes, headers
up to `MAX_HEAD` bytes, HTTP/1.0 and 1.1, pipelined requests. Anything else is answered with
400/411/413/431/505 and the connection is closed; an idle connection closes after
`idle_timeout` seconds, a half-sent request after `REQUEST_TIMEOUT`.

    server = LeanHTTPServer(handler, "127.0.0.1", 0)   # handler(method, path, body) -> Reply
    server.start()        # in a background thread; server.port is the bound port
    server.stop()
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import os
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

MAX_HEAD = 64 << 10
REQUEST_TIMEOUT = 30.0
SLOW_HANDLER_S = 0.001
"""A handler averaging more than this runs in the thread pool, not in the event loop."""

REASONS = {
    200: "OK",
    400: "Bad Request",
    404: "Not Found",
    405: "Method Not Allowed",
    411: "Length Required",
    413: "Content Too Large",
    422: "Unprocessable Content",
    431: "Request Header Fields Too Large",
    500: "Internal Server Error",
    505: "HTTP Version Not Supported",
}


@dataclass
class Reply:
    status: int
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)
    content_type: str = "application/json"


Handler = Callable[[str, str, bytes], Reply]


def _encode(reply: Reply, keep_alive: bool) -> bytes:
    head = [
        f"HTTP/1.1 {reply.status} {REASONS.get(reply.status, 'Unknown')}",
        f"Content-Type: {reply.content_type}",
        f"Content-Length: {len(reply.body)}",
    ]
    head += [f"{k}: {v}" for k, v in reply.headers.items()]
    if not keep_alive:
        head.append("Connection: close")
    return ("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + reply.body


def _error(status: int, message: str) -> Reply:
    import json

    return Reply(status, json.dumps({"error": message}).encode())


class _Connection(asyncio.Protocol):
    def __init__(self, server: LeanHTTPServer) -> None:
        self.server = server
        self.buffer = bytearray()
        self.transport: asyncio.Transport | None = None
        self.busy = False  # a request is in the thread pool: answer in order, read on after
        self.timer: asyncio.TimerHandle | None = None

    # ------------------------------------------------------------------ asyncio callbacks

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        sock = transport.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.server.connections.add(self)
        self._arm(self.server.idle_timeout)

    def connection_lost(self, exc: Exception | None) -> None:
        self.server.connections.discard(self)
        if self.timer:
            self.timer.cancel()
        self.transport = None

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        if not self.busy:
            self._process()

    # ------------------------------------------------------------------ requests

    def _arm(self, seconds: float) -> None:
        if self.timer:
            self.timer.cancel()
        self.timer = self.server.loop.call_later(seconds, self._timeout)

    def _timeout(self) -> None:
        if self.transport is not None and not self.busy:
            self.transport.close()

    def _process(self) -> None:
        """Answer every complete request in the buffer (pipelining), in order."""
        while self.transport is not None and not self.busy:
            parsed = self._next_request()
            if parsed is None:
                self._arm(REQUEST_TIMEOUT if self.buffer else self.server.idle_timeout)
                return
            method, path, body, keep_alive = parsed
            if self.server.offload:
                self.busy = True
                future = self.server.loop.run_in_executor(
                    self.server.pool, self.server.timed, method, path, body
                )
                future.add_done_callback(lambda f, k=keep_alive: self._finished(f, k))
                return
            self._send(self.server.timed(method, path, body), keep_alive)

    def _finished(self, future: asyncio.Future, keep_alive: bool) -> None:
        self.busy = False
        try:
            reply = future.result()
        except Exception:  # the handler is meant to answer every error itself
            reply = _error(500, "internal error")
        self._send(reply, keep_alive)
        self._process()

    def _send(self, reply: Reply | None, keep_alive: bool) -> None:
        if self.transport is None or reply is None:
            return
        self.transport.write(_encode(reply, keep_alive))
        if not keep_alive:
            self.transport.close()

    def _reject(self, status: int, message: str) -> None:
        self._send(_error(status, message), keep_alive=False)
        self.buffer.clear()

    def _next_request(self) -> tuple[str, str, bytes, bool] | None:
        end = self.buffer.find(b"\r\n\r\n")
        if end < 0:
            if len(self.buffer) > MAX_HEAD:
                self._reject(431, f"request head over {MAX_HEAD} bytes")
            return None
        try:
            lines = bytes(self.buffer[:end]).decode("latin-1").split("\r\n")
            method, path, version = lines[0].split(" ")
        except ValueError:
            self._reject(400, "malformed request line")
            return None
        if version not in ("HTTP/1.1", "HTTP/1.0"):
            self._reject(505, f"{version} is not supported; use HTTP/1.1")
            return None
        length = 0
        keep_alive = version == "HTTP/1.1"
        for line in lines[1:]:
            name, sep, value = line.partition(":")
            if not sep:
                self._reject(400, "malformed header line")
                return None
            name = name.strip().lower()
            if name == "content-length":
                try:
                    length = int(value)
                except ValueError:
                    self._reject(400, "Content-Length is not a number")
                    return None
                if length < 0:
                    self._reject(400, "negative Content-Length")
                    return None
            elif name == "transfer-encoding":
                self._reject(411, "chunked bodies are not accepted: send Content-Length")
                return None
            elif name == "connection":
                token = value.strip().lower()
                keep_alive = token == "keep-alive" or (keep_alive and token != "close")
        if length > self.server.max_body:
            self._reject(413, f"body of {length} B is over {self.server.max_body} B")
            return None
        start = end + 4
        if len(self.buffer) < start + length:
            return None
        body = bytes(self.buffer[start : start + length])
        del self.buffer[: start + length]
        return method, path.split("?", 1)[0], body, keep_alive


class LeanHTTPServer:
    """Serve `handler(method, path, body) -> Reply` on `host:port` (0: any free port)."""

    def __init__(
        self,
        handler: Handler,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        max_body: int = 8 << 20,
        idle_timeout: float = 75.0,
        threads: int | None = None,
    ) -> None:
        self.handler = handler
        self.max_body = max_body
        self.idle_timeout = idle_timeout
        self.connections: set[_Connection] = set()
        self.pool = concurrent.futures.ThreadPoolExecutor(
            max_workers=threads or os.cpu_count() or 2, thread_name_prefix="predict"
        )
        self.offload = False
        self._mean_s = 0.0
        self.loop = asyncio.new_event_loop()
        self._sock = socket.create_server((host, port), reuse_port=False, backlog=1024)
        self.server_address = self._sock.getsockname()[:2]
        self._thread: threading.Thread | None = None
        self._server: asyncio.AbstractServer | None = None

    @property
    def port(self) -> int:
        return int(self.server_address[1])

    def timed(self, method: str, path: str, body: bytes) -> Reply:
        """Run the handler; its running mean decides inline vs thread pool (a moving model)."""
        start = time.perf_counter()
        try:
            return self.handler(method, path, body)
        finally:
            self._mean_s += (time.perf_counter() - start - self._mean_s) * 0.05
            self.offload = self._mean_s > SLOW_HANDLER_S

    def serve_forever(self) -> None:
        asyncio.set_event_loop(self.loop)
        self._server = self.loop.run_until_complete(
            self.loop.create_server(lambda: _Connection(self), sock=self._sock)
        )
        try:
            self.loop.run_forever()
        finally:
            self._server.close()
            for conn in list(self.connections):
                if conn.transport is not None:
                    conn.transport.close()
            self.loop.run_until_complete(self._server.wait_closed())
            self.loop.close()
            self.pool.shutdown(wait=False, cancel_futures=True)

    def start(self) -> LeanHTTPServer:
        self._thread = threading.Thread(target=self.serve_forever, name="httpd", daemon=True)
        self._thread.start()
        return self

    def shutdown(self) -> None:
        if not self.loop.is_closed():
            self.loop.call_soon_threadsafe(self.loop.stop)
        if self._thread is not None:
            self._thread.join(10)

    stop = shutdown

    def server_close(self) -> None:
        self._sock.close()
