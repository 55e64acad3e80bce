"""The `agent serve` of commit bd564e2 (the standard library's ThreadingHTTPServer), kept
only as the baseline of `bench_serve.py`: run as `python stdlib_serve.py HOME PORT`.

Its answer is the old single-output shape; the routes and the runtime call are the same.
"""

from __future__ import annotations

import json
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np

from litefleet.device.runtime import ModelRuntime
from litefleet.errors import UserError

MAX_BODY = 8 << 20
ROUTES = {"/v1/predict": "POST", "/v1/status": "GET", "/healthz": "GET", "/openapi.json": "GET"}
EXPECTED = 'expected a JSON object {"inputs": [...]}: one sample or a list of samples'


class BadBody(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def parse_predict_body(raw: bytes) -> np.ndarray:
    """The `inputs` of a predict request as float32, or `BadBody` saying what is wrong."""
    try:
        body = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise BadBody(400, f"body is not JSON ({exc}); {EXPECTED}") from None
    if not isinstance(body, dict) or "inputs" not in body:
        got = f"keys {sorted(body)}" if isinstance(body, dict) else type(body).__name__
        raise BadBody(422, f'missing "inputs" (got {got}); {EXPECTED}')
    extra = sorted(set(body) - {"inputs"})
    if extra:
        raise BadBody(422, f"unknown keys {extra}; {EXPECTED}")
    try:
        x = np.asarray(body["inputs"], dtype=np.float32)
    except (ValueError, TypeError):
        raise BadBody(
            422, '"inputs" must be numbers in a regular nested list (same length per row)'
        ) from None
    if x.ndim == 0:
        raise BadBody(422, f'"inputs" is a single number; {EXPECTED}')
    return x


def make_server(home: Path, host: str = "127.0.0.1", port: int = 8500) -> ThreadingHTTPServer:
    runtime = ModelRuntime(home)

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:  # quiet: a device has no one to read it
            pass

        def _send(self, code: int, obj: object, headers: dict[str, str] | None = None) -> None:
            body = json.dumps(obj).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            for k, v in (headers or {}).items():
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(body)

        def _wrong_method(self) -> bool:
            allowed = ROUTES.get(self.path)
            if allowed is None:
                self._send(404, {"error": f"no such path {self.path}; see /openapi.json"})
                return True
            if allowed != self.command:
                self._send(
                    405,
                    {"error": f"{self.command} not allowed on {self.path}; use {allowed}"},
                    {"Allow": allowed},
                )
                return True
            return False

        def do_GET(self) -> None:
            if self._wrong_method():
                return
            runtime.refresh()  # report the version active now, not the one of the last predict
            if self.path == "/healthz":
                self._send(200, {"ok": True, "version": runtime.version})
            else:
                m = runtime.manifest
                self._send(
                    200,
                    {
                        "version": runtime.version,
                        "swaps": runtime.swaps,
                        "variant": m.variant if m else None,
                    },
                )

        def do_POST(self) -> None:
            if self._wrong_method():
                return
            length = int(self.headers.get("Content-Length") or 0)
            if length <= 0 or length > MAX_BODY:
                if length:
                    self._send(413, {"error": f"body of {length} B is over {MAX_BODY} B"})
                else:
                    self._send(400, {"error": f"empty body; {EXPECTED}"})
                return
            try:
                x = parse_predict_body(self.rfile.read(length))
                y, version = runtime.predict_with_version(x)
            except BadBody as exc:
                self._send(exc.status, {"error": str(exc)})
                return
            except (ValueError, UserError) as exc:  # shape mismatch and the like
                self._send(422, {"error": str(exc)})
                return
            self._send(200, {"outputs": y.tolist(), "version": version})

        do_PUT = do_DELETE = do_PATCH = do_POST  # answered 405 by _wrong_method

    server = ThreadingHTTPServer((host, port), Handler)
    server.daemon_threads = True
    server.runtime = runtime  # type: ignore[attr-defined]
    return server


if __name__ == "__main__":
    server = make_server(Path(sys.argv[1]), "127.0.0.1", int(sys.argv[2]))
    print("serving", flush=True)
    server.serve_forever()
