"""A standard-library stand-in for the update server: the lab's server in a device-only install.

Why it exists: `litefleet selftest` must run on a device, where only `litefleet[device]` is
installed (no FastAPI, starlette or uvicorn). The selftest scenarios need only what an agent
talks to, so this serves a repository folder with `http.server` in a thread on 127.0.0.1:

    GET/HEAD /metadata/<file>, /targets/<path>  static files: ETag (304 on If-None-Match),
                                                one HTTP Range (206, 416), no hidden files
    POST /v1/devices/{device_id}/events         the device's own bearer token (`tokens.py`:
                                                401 unknown, 403 another device's), `EventBatch`
                                                validated, 202
    GET  /healthz                               liveness

It is not the update server: events are kept in memory (`events`), nothing pauses a failing
rollout, nothing re-signs the timestamp, there is no fleet view. The tests and `litefleet
serve` use the real server (`registry/server.py`); the lab picks this one only when that
server's packages are missing (or when asked to, so the tests cover it too).

    with StaticRepoServer(repo.path, repo.keys) as server:
        Updater(..., f"{server.url}/metadata/", ..., f"{server.url}/targets/")
"""

from __future__ import annotations

import email.utils
import json
import os
import re
import threading
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import BinaryIO

from pydantic import ValidationError

from litefleet.registry.keys import KeyStore
from litefleet.registry.tokens import DeviceTokens
from litefleet.release import EventBatch, TelemetryEvent
from litefleet.testing.loopback import LoopbackHTTPServer

EVENTS_RE = re.compile(r"^/v1/devices/([A-Za-z0-9][A-Za-z0-9._:-]{0,127})/events$")
RANGE_RE = re.compile(r"^bytes=(\d*)-(\d*)$")
MUTABLE = frozenset({"timestamp.json", "root.json"})
"""Replaced in place by a publish; every other file is versioned or hash-named."""
MAX_BODY = 256 * 1024
CONTENT_TYPES = {".json": "application/json"}


class StaticRepoServer:
    """Serve `repo/metadata` and `repo/targets`, and accept telemetry, on 127.0.0.1."""

    def __init__(self, repo: Path, keys: KeyStore, host: str = "127.0.0.1", port: int = 0):
        self.roots = {"metadata": Path(repo) / "metadata", "targets": Path(repo) / "targets"}
        self.keys = keys
        self.events: list[tuple[str, TelemetryEvent]] = []
        """(device id, event) of every event accepted, in arrival order."""
        self._lock = threading.Lock()
        self._httpd = LoopbackHTTPServer((host, port), _Handler)
        self._httpd.owner = self  # type: ignore[attr-defined]
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, daemon=True, name="static-repo-server"
        )
        self.host, self.port = host, self._httpd.server_address[1]

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def __enter__(self) -> StaticRepoServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=10)

    def accept(self, device_id: str, events: list[TelemetryEvent]) -> None:
        with self._lock:
            self.events.extend((device_id, e) for e in events)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as the agent's connection pool expects
    server_version = "litefleet-static"

    @property
    def owner(self) -> StaticRepoServer:
        return self.server.owner  # type: ignore[attr-defined]

    def log_message(self, format: str, *args: object) -> None:
        """Quiet: the selftest prints its own table."""

    def do_GET(self) -> None:
        self._get(with_body=True)

    def do_HEAD(self) -> None:
        self._get(with_body=False)

    def do_POST(self) -> None:
        path = self.path.split("?", 1)[0]
        match = EVENTS_RE.match(path)
        if not match:
            self._reply(404 if not path.startswith("/v1/devices/") else 422, {"detail": path})
            return
        length = self.headers.get("content-length", "")
        if not length.isdigit():
            self._reply(411, {"detail": "a Content-Length is required"})
            return
        if int(length) > MAX_BODY:
            self.close_connection = True  # the body is not read
            self._reply(413, {"detail": f"body larger than {MAX_BODY} bytes"})
            return
        body = self.rfile.read(int(length))
        auth = self.headers.get("authorization", "")
        token = auth.removeprefix("Bearer ").strip() if auth.startswith("Bearer ") else ""
        owner = DeviceTokens(self.owner.keys.path).device_of(token) if token else None
        if owner is None:
            self._reply(401, {"detail": "missing, unknown or revoked device token"})
            return
        if owner != match.group(1):
            self._reply(403, {"detail": "this token belongs to another device"})
            return
        try:
            batch = EventBatch.model_validate_json(body)
        except ValidationError as exc:
            self._reply(422, {"detail": exc.errors(include_url=False, include_input=False)})
            return
        self.owner.accept(match.group(1), batch.events)
        self._reply(202, {"stored": len(batch.events)})

    # ------------------------------------------------------------------ files

    def _get(self, with_body: bool) -> None:
        path = self.path.split("?", 1)[0]
        if path == "/healthz":
            self._reply(200, {"ok": True}, with_body=with_body)
            return
        file = self._lookup(path)
        if file is None:
            self._reply(404, {"detail": "Not Found"}, with_body=with_body)
            return
        try:
            f = open(file, "rb")  # noqa: SIM115 (closed below; one descriptor, one version)
        except OSError:
            self._reply(404, {"detail": "Not Found"}, with_body=with_body)
            return
        with f:
            self._send_file(f, file.name, with_body)

    def _lookup(self, path: str) -> Path | None:
        """The file under metadata/ or targets/ that `path` names; None for anything else."""
        from urllib.parse import unquote

        top, _, rest = unquote(path).lstrip("/").partition("/")
        root = self.owner.roots.get(top)
        parts = rest.split("/")
        if root is None or not rest or any(p in ("", ".", "..") or p[0] == "." for p in parts):
            return None
        file = root.joinpath(*parts)
        try:
            file.resolve().relative_to(root.resolve())  # no way out through a symlink
        except ValueError:
            return None
        return file if file.is_file() else None

    def _send_file(self, f: BinaryIO, name: str, with_body: bool) -> None:
        st = os.fstat(f.fileno())
        size = st.st_size
        etag = f'"{st.st_mtime_ns:x}-{size:x}"'
        headers = {
            "ETag": etag,
            "Last-Modified": email.utils.formatdate(st.st_mtime, usegmt=True),
            "Accept-Ranges": "bytes",
            "Cache-Control": "no-cache" if name in MUTABLE else "public, max-age=31536000",
            "Content-Type": CONTENT_TYPES.get(Path(name).suffix, "application/octet-stream"),
        }
        if etag in [t.strip() for t in self.headers.get("if-none-match", "").split(",")]:
            self._head(304, headers)
            return
        start, end, status = 0, size, 200
        wanted = self.headers.get("range")
        if wanted:
            span = _parse_range(wanted, size)
            if span is None:
                self._head(416, {"Content-Range": f"bytes */{size}", "Content-Length": "0"})
                return
            start, end = span
            status = 206
            headers["Content-Range"] = f"bytes {start}-{end - 1}/{size}"
        headers["Content-Length"] = str(end - start)
        self._head(status, headers)
        if with_body:
            f.seek(start)
            _copy(f, self.wfile, end - start)

    def _head(self, status: int, headers: dict[str, str]) -> None:
        self.send_response(status)
        for k, v in headers.items():
            self.send_header(k, v)
        if status == 304:
            self.send_header("Content-Length", "0")
        self.end_headers()

    def _reply(self, status: int, body: object, with_body: bool = True) -> None:
        data = json.dumps(body).encode()
        self.send_response(status, HTTPStatus(status).phrase)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if with_body:
            self.wfile.write(data)


def _parse_range(header: str, size: int) -> tuple[int, int] | None:
    """One `bytes=a-b`, `bytes=a-` or `bytes=-n` range as [start, end); None: unsatisfiable."""
    m = RANGE_RE.match(header.strip())
    if not m or m.groups() == ("", ""):
        return None
    first, last = m.groups()
    if first == "":  # the last n bytes
        n = int(last)
        return (max(0, size - n), size) if n > 0 and size > 0 else None
    start = int(first)
    end = min(int(last) + 1, size) if last else size
    return (start, end) if start < size and start < end else None


def _copy(src: BinaryIO, dst: BinaryIO, n: int) -> None:
    while n > 0:
        block = src.read(min(n, 64 * 1024))
        if not block:
            return  # the file shrank under us: the client sees a short body
        dst.write(block)
        n -= len(block)
