"""`litefleet agent serve`: the runtime over HTTP on 127.0.0.1, for apps in other processes.

    POST /v1/predict   {"inputs": [[...], ...]}  ->  {"outputs": [[...]], "version": v}
    GET  /v1/status    the version loaded now, its variant, swaps;   GET /healthz
    GET  /openapi.json an OpenAPI 3.1 document of the above (input shape of the active model)

`inputs` is one sample (a nested list with the model's input shape, batch axis dropped) or a
batch of them; outputs come back with the same batch layout, dequantized floats.
Errors: 400 when the body is not JSON, 422 (with a message saying what was expected) when it
is JSON of the wrong form or shape, 405 for a method the path does not take, 413 when too big.

The standard library's threading HTTP server is enough: each request runs in its own
thread with its own interpreter (see `runtime`), and a device needs no web framework.
A background thread judges probation, so a bad model is rolled back while it serves.
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

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


def openapi(runtime: ModelRuntime) -> dict[str, Any]:
    """The HTTP interface as an OpenAPI 3.1 document; the sample shape is the active model's."""
    sig = runtime.manifest.signature if runtime.manifest else None
    shape = sig.inputs[0].shape[1:] if sig and sig.inputs else []
    out_shape = sig.outputs[0].shape[1:] if sig and sig.outputs else []

    def nested(dims: list[int]) -> dict[str, Any]:
        schema: dict[str, Any] = {"type": "number"}
        for d in reversed(dims):
            schema = {"type": "array", "items": schema, "minItems": d, "maxItems": d}
        return schema

    error = {
        "content": {
            "application/json": {
                "schema": {"type": "object", "properties": {"error": {"type": "string"}}}
            }
        }
    }
    return {
        "openapi": "3.1.0",
        "info": {"title": "litefleet device runtime", "version": "1"},
        "paths": {
            "/v1/predict": {
                "post": {
                    "summary": "Predict with the active model (one sample or a batch)",
                    "requestBody": {
                        "required": True,
                        "content": {
                            "application/json": {
                                "schema": {
                                    "type": "object",
                                    "required": ["inputs"],
                                    "additionalProperties": False,
                                    "properties": {
                                        "inputs": {
                                            "oneOf": [
                                                nested(shape),
                                                {"type": "array", "items": nested(shape)},
                                            ]
                                        }
                                    },
                                }
                            }
                        },
                    },
                    "responses": {
                        "200": {
                            "description": "outputs and the version that answered",
                            "content": {
                                "application/json": {
                                    "schema": {
                                        "type": "object",
                                        "properties": {
                                            "outputs": {
                                                "oneOf": [
                                                    nested(out_shape),
                                                    {"type": "array", "items": nested(out_shape)},
                                                ]
                                            },
                                            "version": {"type": "integer"},
                                        },
                                    }
                                }
                            },
                        },
                        "400": {"description": "body is not JSON", **error},
                        "422": {"description": "wrong form or shape", **error},
                        "413": {"description": "body larger than 8 MiB", **error},
                    },
                }
            },
            "/v1/status": {
                "get": {
                    "summary": "The version loaded now (checked at each request)",
                    "responses": {"200": {"description": "version, variant, swaps"}},
                }
            },
            "/healthz": {"get": {"responses": {"200": {"description": "alive"}}}},
        },
    }


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
            elif self.path == "/openapi.json":
                self._send(200, openapi(runtime))
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


def watch_probation(home: Path, stop: threading.Event, every: float = 5.0) -> threading.Thread:
    """Judge probation in the background (needs an agent home with config.json).

    An invalid config does not stop serving: the watcher retries until it is fixed."""
    from litefleet.device.agent import Agent

    def loop() -> None:
        agent = None
        while not stop.wait(every):
            try:
                agent = agent or Agent(home)
                agent.watch_probation()
                agent.telemetry.flush()
            except UserError:
                continue

    t = threading.Thread(target=loop, name="probation", daemon=True)
    t.start()
    return t
