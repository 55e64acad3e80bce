"""`litefleet agent serve`: the runtime over HTTP on 127.0.0.1, for apps in other processes.

    POST /v1/predict   {"inputs": [[...], ...]}  ->  {"outputs": [[...]], "version": v}
    GET  /v1/status    active version, swaps, feedback;   GET /healthz

The standard library's threading HTTP server is enough: each request runs in its own
thread with its own interpreter (see `runtime`), and a device needs no web framework.
A background thread judges probation, so a bad model is rolled back while it serves.
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np

from litefleet.device.runtime import ModelRuntime
from litefleet.errors import UserError

MAX_BODY = 8 << 20


def make_server(home: Path, host: str = "127.0.0.1", port: int = 8500) -> ThreadingHTTPServer:
    runtime = ModelRuntime(home)

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:  # quiet: a device has no one to read it
            pass

        def _send(self, code: int, obj: object) -> None:
            body = json.dumps(obj).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:
            if self.path == "/healthz":
                self._send(200, {"ok": True, "version": runtime.version})
            elif self.path == "/v1/status":
                manifest = runtime.manifest
                self._send(
                    200,
                    {
                        "version": runtime.version,
                        "swaps": runtime.swaps,
                        "variant": manifest.variant if manifest else None,
                    },
                )
            else:
                self._send(404, {"error": "not found"})

        def do_POST(self) -> None:
            if self.path != "/v1/predict":
                self._send(404, {"error": "not found"})
                return
            length = int(self.headers.get("Content-Length") or 0)
            if length <= 0 or length > MAX_BODY:
                self._send(413 if length else 400, {"error": "body size"})
                return
            try:
                x = np.asarray(json.loads(self.rfile.read(length))["inputs"], dtype=np.float32)
                y, version = runtime.predict_with_version(x)
            except (KeyError, ValueError, TypeError, UserError) as exc:
                self._send(400, {"error": str(exc)})
                return
            self._send(200, {"outputs": y.tolist(), "version": version})

    server = ThreadingHTTPServer((host, port), Handler)
    server.daemon_threads = True
    server.runtime = runtime  # type: ignore[attr-defined]
    return server


def watch_probation(home: Path, stop: threading.Event, every: float = 5.0) -> threading.Thread:
    """Judge probation in the background (needs an agent home with config.json)."""
    from litefleet.device.agent import Agent

    def loop() -> None:
        agent = Agent(home)
        while not stop.wait(every):
            try:
                agent.watch_probation()
                agent.telemetry.flush()
            except UserError:
                continue

    t = threading.Thread(target=loop, name="probation", daemon=True)
    t.start()
    return t
