"""`litefleet agent serve`: the runtime over HTTP on 127.0.0.1, for apps in other processes.

    POST /v1/predict   {"inputs": x}                 ->  {"version": v, "outputs": {name: y}}
                       {"inputs": {name: x, ...}}    (several inputs, by tensor name)
                       {"instances": [sample, ...]}  (TF Serving's row form; a sample is an
                                                      array, or {name: array} per input)
    GET  /v1/status    the version loaded now, its variant, swaps;   GET /healthz
    GET  /openapi.json an OpenAPI 3.1 document of the above (the active model's tensors)

Every output comes back by tensor name, with the batch layout of the request (`instances`
is always a batch; an `inputs` array with or without the batch axis), dequantized floats.
Errors: 400 when the body is not JSON, 422 (with a message saying what was expected) when it
is JSON of the wrong form or shape, 404/405 for a path or method it does not take, 413 when
too big.

Transport: `litefleet.device.httpd`, a lean asyncio HTTP/1.1 server (keep-alive, one write
per answer) that runs a fast model inline in its event loop and moves a slow one to a thread
pool, each thread with its own interpreter (see `runtime`). A background thread judges
probation, so a bad model is rolled back while it serves.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

import numpy as np

from litefleet.device.httpd import LeanHTTPServer, Reply
from litefleet.device.runtime import ModelRuntime
from litefleet.errors import UserError

MAX_BODY = 8 << 20
ROUTES = {"/v1/predict": "POST", "/v1/status": "GET", "/healthz": "GET", "/openapi.json": "GET"}
EXPECTED = (
    'expected a JSON object {"inputs": ...} (one array, or {name: array} per input) or '
    '{"instances": [...]} (a list of samples)'
)


class BadBody(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def parse_predict_body(raw: bytes) -> object:
    """The inputs of a predict request (an array, a dict of arrays by name, or for
    `instances` a list of per-input batches), or `BadBody` saying what is wrong."""
    try:
        body = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise BadBody(400, f"body is not JSON ({exc}); {EXPECTED}") from None
    if not isinstance(body, dict) or len(body.keys() & {"inputs", "instances"}) != 1:
        got = f"keys {sorted(body)}" if isinstance(body, dict) else type(body).__name__
        raise BadBody(422, f'missing "inputs" (got {got}); {EXPECTED}')
    extra = sorted(set(body) - {"inputs", "instances", "signature_name"})
    if extra:
        raise BadBody(422, f"unknown keys {extra}; {EXPECTED}")
    if "instances" in body:
        return _instances(body["instances"])
    given = body["inputs"]
    if isinstance(given, dict):
        return {str(k): _numbers(v, f'"inputs"[{k!r}]') for k, v in given.items()}
    return _numbers(given, '"inputs"')


def _instances(rows: object) -> object:
    if not isinstance(rows, list) or not rows:
        raise BadBody(422, f'"instances" must be a non-empty list of samples; {EXPECTED}')
    if all(isinstance(r, dict) for r in rows):
        names = set(rows[0])
        if any(set(r) != names for r in rows):
            raise BadBody(422, '"instances": every sample must name the same inputs')
        return {n: _numbers([r[n] for r in rows], f'"instances"[*][{n!r}]') for n in names}
    return _numbers(rows, '"instances"')


def _numbers(value: object, where: str) -> np.ndarray:
    try:
        x = np.asarray(value, dtype=np.float32)
    except (ValueError, TypeError):
        raise BadBody(
            422, f"{where} must be numbers in a regular nested list (same length per row)"
        ) from None
    if x.ndim == 0:
        raise BadBody(422, f"{where} is a single number; {EXPECTED}")
    return x


def openapi(runtime: ModelRuntime) -> dict[str, Any]:
    """The HTTP interface as an OpenAPI 3.1 document, with the active model's tensors: every
    input by name (request) and every output by name (response)."""
    from litefleet.litert import app_view, unique_names

    sig = app_view(runtime.manifest.signature) if runtime.manifest else None
    inputs = [(t.name, t.shape[1:]) for t in sig.inputs] if sig else []
    out_names = unique_names([t.name for t in sig.outputs], "output") if sig else []
    outputs = list(zip(out_names, [t.shape[1:] for t in sig.outputs], strict=True)) if sig else []

    def nested(dims: list[int]) -> dict[str, Any]:
        schema: dict[str, Any] = {"type": "number"}
        for d in reversed(dims):
            schema = {"type": "array", "items": schema, "minItems": d, "maxItems": d}
        return schema

    def sample_or_batch(dims: list[int]) -> dict[str, Any]:
        return {"oneOf": [nested(dims), {"type": "array", "items": nested(dims)}]}

    def by_name(tensors: list[tuple[str, list[int]]], make) -> dict[str, Any]:
        return {
            "type": "object",
            "required": [n for n, _ in tensors],
            "additionalProperties": False,
            "properties": {n: make(d) for n, d in tensors},
        }

    inputs_schema = by_name(inputs, sample_or_batch)
    if len(inputs) == 1:  # one input: the bare array as well
        inputs_schema = {"oneOf": [sample_or_batch(inputs[0][1]), inputs_schema]}
    instance = nested(inputs[0][1]) if len(inputs) == 1 else by_name(inputs, nested)
    error = {
        "content": {
            "application/json": {
                "schema": {"type": "object", "properties": {"error": {"type": "string"}}}
            }
        }
    }
    return {
        "openapi": "3.1.0",
        "info": {"title": "litefleet device runtime", "version": "2"},
        "paths": {
            "/v1/predict": {
                "post": {
                    "summary": "Predict with the active model (one sample or a batch); "
                    "every output by tensor name",
                    "requestBody": {
                        "required": True,
                        "content": {
                            "application/json": {
                                "schema": {
                                    "oneOf": [
                                        {
                                            "type": "object",
                                            "required": ["inputs"],
                                            "additionalProperties": False,
                                            "properties": {"inputs": inputs_schema},
                                        },
                                        {
                                            "type": "object",
                                            "required": ["instances"],
                                            "additionalProperties": False,
                                            "properties": {
                                                "instances": {"type": "array", "items": instance}
                                            },
                                        },
                                    ]
                                }
                            }
                        },
                    },
                    "responses": {
                        "200": {
                            "description": "every output by tensor name (the batch layout of "
                            "the request), and the version that answered",
                            "content": {
                                "application/json": {
                                    "schema": {
                                        "type": "object",
                                        "required": ["version", "outputs"],
                                        "properties": {
                                            "outputs": by_name(outputs, sample_or_batch),
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


class PredictService:
    """The routes of `agent serve` over a `ModelRuntime`, transport-free:
    `handle(method, path, body) -> Reply`."""

    def __init__(self, runtime: ModelRuntime) -> None:
        self.runtime = runtime

    def handle(self, method: str, path: str, body: bytes) -> Reply:
        allowed = ROUTES.get(path)
        if allowed is None:
            return _json(404, {"error": f"no such path {path}; see /openapi.json"})
        if allowed != method:
            return _json(
                405, {"error": f"{method} not allowed on {path}; use {allowed}"}, {"Allow": allowed}
            )
        if method == "POST":
            return self.predict(body)
        runtime = self.runtime
        runtime.refresh()  # report the version active now, not the one of the last predict
        if path == "/healthz":
            return _json(200, {"ok": True, "version": runtime.version})
        if path == "/openapi.json":
            return _json(200, openapi(runtime))
        m = runtime.manifest
        return _json(
            200,
            {
                "version": runtime.version,
                "swaps": runtime.swaps,
                "variant": m.variant if m else None,
            },
        )

    def predict(self, body: bytes) -> Reply:
        if not body:
            return _json(400, {"error": f"empty body; {EXPECTED}"})
        try:
            inputs = parse_predict_body(body)
            outputs, version = self.runtime.run_with_version(inputs)  # type: ignore[arg-type]
        except BadBody as exc:
            return _json(exc.status, {"error": str(exc)})
        except (ValueError, UserError) as exc:  # shape mismatch and the like
            return _json(422, {"error": str(exc)})
        return _json(
            200, {"version": version, "outputs": {k: v.tolist() for k, v in outputs.items()}}
        )


def _json(status: int, obj: object, headers: dict[str, str] | None = None) -> Reply:
    return Reply(status, json.dumps(obj).encode(), headers or {})


def make_server(home: Path, host: str = "127.0.0.1", port: int = 8500) -> LeanHTTPServer:
    """The server of `agent serve` (not started: `serve_forever()` or `start()`)."""
    runtime = ModelRuntime(home)
    server = LeanHTTPServer(PredictService(runtime).handle, host, port, max_body=MAX_BODY)
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
