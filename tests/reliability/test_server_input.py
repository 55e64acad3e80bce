"""Hostile input to the update server: schema fuzzing (schemathesis, with the request body
in the schema), every field of every body replaced by hostile values, fuzzed telemetry
bodies, and hand-written requests (malformed JSON, huge bodies, other devices' ids, bad
tokens, path traversal). No 5xx, no file outside the served folders, the database intact."""

from __future__ import annotations

import http.client
import json
import sqlite3
from urllib.parse import quote, urlsplit

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from litefleet.registry.server import ServerSettings, ServerThread, create_app
from litefleet.selftest.tally import Tally
from litefleet.testing.lab import MODEL

from .conftest import size

CANARY = "canary-7f3a9c-must-never-be-served"
TRAVERSALS = [
    "/metadata/../keys/CANARY.txt",
    "/metadata/%2e%2e/keys/CANARY.txt",
    "/metadata/%2E%2E%2Fkeys%2FCANARY.txt",
    "/metadata/%252e%252e/keys/CANARY.txt",
    "/metadata/%252e%252e%252fkeys%252fCANARY.txt",
    "/targets/..%2f..%2fkeys%2fCANARY.txt",
    "/targets/..%5c..%5ckeys%5cCANARY.txt",
    "/targets/....//....//keys/CANARY.txt",
    "/metadata/..\\keys\\CANARY.txt",
    "/metadata/%c0%ae%c0%ae/keys/CANARY.txt",
    "/targets/../CANARY.txt",
    "/targets/%2e%2e/CANARY.txt",
    "/targets/../telemetry.db",
    "/metadata/../litefleet.json",
    "/metadata/.lock",
    "/metadata/.timestamp.json.tmp",
    "/targets//etc/passwd",
    "/targets/%2fetc%2fpasswd",
    "/metadata/root.json%00.txt",
    "/metadata/" + "a" * 5000,
    "/keys/CANARY.txt",
    "/CANARY.txt",
]


def _raw_get(base: str, path: str) -> tuple[int, bytes]:
    """A GET with the path byte for byte (httpx would normalise the dot segments away)."""
    u = urlsplit(base)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=10)
    try:
        conn.putrequest("GET", path, skip_accept_encoding=True)
        conn.endheaders()
        r = conn.getresponse()
        return r.status, r.read()
    finally:
        conn.close()


def _events(n: int = 1) -> dict:
    return {
        "events": [
            {"type": "heartbeat", "model": MODEL, "version": 1, "time": 1.0e9 + i, "metrics": {}}
            for i in range(n)
        ]
    }


def _v(version: int) -> dict:
    return {"events": [{**_events()["events"][0], "version": version}]}


def _db_count(lab) -> int:
    with sqlite3.connect(lab.repo.path / "telemetry.db") as db:
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        return db.execute("SELECT count(*) FROM events").fetchone()[0]


def test_by_hand(lab, report):
    tally = Tally("server input: by hand")
    (lab.repo.path / "keys" / "CANARY.txt").write_text(CANARY)
    (lab.repo.path / "CANARY.txt").write_text(CANARY)
    url = lab.server.url
    for path in TRAVERSALS:
        status, body = _raw_get(url, path)
        leaked = CANARY.encode() in body or b"root:x:" in body or b"SQLite format" in body
        ok = status < 500 and status in (400, 404, 405, 414, 431) and not leaked
        tally.trial(f"GET {path[:60]}", ok, f"{status} leaked={leaked}")
    token = lab.token_for("dev-1")
    lab.token_for("dev-2")
    good = {"Authorization": f"Bearer {token}"}
    events = f"{url}/v1/devices/dev-1/events"
    requests = [
        ("no token", events, {}, json.dumps(_events()).encode(), 401),
        ("wrong token", events, {"Authorization": "Bearer nope"}, b"{}", 401),
        ("not bearer", events, {"Authorization": f"Basic {token}"}, b"{}", 401),
        ("token with junk", events, {"Authorization": f"Bearer {token}x"}, b"{}", 401),
        (
            "another device's id",
            f"{url}/v1/devices/dev-2/events",
            good,
            json.dumps(_events()).encode(),
            403,
        ),
        ("version 10**30", events, good, json.dumps(_events() | _v(10**30)).encode(), 422),
        ("version 2**31", events, good, json.dumps(_events() | _v(2**31)).encode(), 422),
        ("malformed JSON", events, good, b'{"events": [', 422),
        ("JSON of the wrong shape", events, good, b"[1, 2, 3]", 422),
        ("empty batch", events, good, b'{"events": []}', 422),
        ("non-UTF-8 body", events, good, b"\xff\xfe\x00{", 422),
        (
            "infinite time",
            events,
            good,
            b'{"events": [{"type": "heartbeat", "model": "m", "version": 1, "time": Infinity}]}',
            422,
        ),
        (
            "NaN metric",
            events,
            good,
            b'{"events": [{"type": "heartbeat", "model": "m", '
            b'"version": 1, "time": 1, "metrics": {"x": NaN}}]}',
            422,
        ),
        (
            "unknown event type",
            events,
            good,
            json.dumps({"events": [{"type": "pwned", "model": "m", "time": 1}]}).encode(),
            422,
        ),
        ("huge body", events, good, b"{" + b" " * (400 * 1024) + b"}", 413),
        ("bad device id", f"{url}/v1/devices/..%2f..%2fetc/events", good, b"{}", None),
        (
            "device id too long",
            f"{url}/v1/devices/{'d' * 300}/events",
            good,
            json.dumps(_events()).encode(),
            403,
        ),
        (
            "unknown device",
            f"{url}/v1/devices/never-seen-before/events",
            good,
            json.dumps(_events()).encode(),
            403,
        ),
        ("its own device", events, good, json.dumps(_events()).encode(), 202),
    ]
    before = _db_count(lab)
    accepted = 0
    with httpx.Client(timeout=30) as client:
        for name, target, headers, body, want in requests:
            r = client.post(
                target, content=body, headers={**headers, "Content-Type": "application/json"}
            )
            ok = r.status_code < 500 and (want is None or r.status_code == want)
            accepted += len(_events()["events"]) if r.status_code == 202 else 0
            tally.trial(name, ok, f"status {r.status_code}, expected {want}")

        def chunks():
            for _ in range(64):
                yield b" " * 8192

        r = client.post(events, content=chunks(), headers=good)
        tally.trial("huge chunked body", r.status_code == 413, f"status {r.status_code}")
    tally.trial(
        "database: only accepted events stored",
        _db_count(lab) == before + accepted,
        f"{_db_count(lab)} != {before} + {accepted}",
    )
    report.add(tally)
    assert tally.ok, tally.failures


_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
_event = st.fixed_dictionaries(
    {
        "type": st.sampled_from(["installed", "activated", "heartbeat", "rolled_back"]) | st.text(),
        "model": st.text(max_size=200) | st.just(MODEL),
        "version": st.none() | st.integers(min_value=-(2**70), max_value=2**70) | _json,
        "time": st.floats() | _json,
        "reason": st.text(max_size=50) | _json,
        "metrics": st.dictionaries(st.text(max_size=10), st.floats()) | _json,
    },
)
_batch = st.fixed_dictionaries({"events": st.lists(_event, min_size=0, max_size=5)}) | _json


def test_fuzzed_bodies_and_schema(lab, report):
    """Telemetry bodies from a strategy shaped like `EventBatch`, plus schemathesis over
    every operation of the OpenAPI schema (ASGI, in process)."""
    import schemathesis

    tally = Tally("server input: fuzzed")
    app = create_app(_unlimited(lab))
    token = lab.token_for("dev-9")
    server = ServerThread(create_app(_unlimited(lab))).__enter__()
    client = httpx.Client(base_url=server.url, timeout=30)
    before = _db_count(lab)
    accepted = [0]

    @given(body=_batch, device=st.text(min_size=1, max_size=40) | st.just("dev-9"))
    @settings(max_examples=size(150, 1500), deadline=None, suppress_health_check=list(HealthCheck))
    def fuzz_events(body, device):
        path = "/v1/devices/" + quote(device, safe="") + "/events"
        r = client.post(
            path,
            content=json.dumps(body),  # Python writes NaN/Infinity: the server must refuse
            headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
        )
        if r.status_code == 202:
            accepted[0] += r.json()["stored"]
        tally.trial("POST events (fuzzed body)", r.status_code < 500, f"{r.status_code} {body}")

    try:
        fuzz_events()
        _fuzz_every_field(client, token, tally, accepted)
    finally:
        client.close()
        server.__exit__()
    tally.trial(
        "database: only accepted events stored",
        _db_count(lab) == before + accepted[0],
        f"{_db_count(lab)} != {before} + {accepted[0]}",
    )
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    for result in schema.get_all_operations():
        _fuzz_operation(result.ok(), token, tally)
    tally.note("schemathesis operations", len(list(schema.get_all_operations())))
    report.add(tally)
    assert tally.ok, tally.failures[:5]


@pytest.fixture(autouse=True)
def _no_proxy_env(monkeypatch):
    for var in ("HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(var, raising=False)


def _unlimited(lab) -> ServerSettings:
    """The lab's repository and database, without the per-device rate limit (a fuzzer
    is one device sending hundreds of reports)."""
    return ServerSettings(
        repo=lab.repo.path, refresh_interval=None, device_rate=1e6, device_burst=10**6
    )


def _fuzz_operation(op, token: str, tally: Tally) -> None:
    @given(case=op.as_strategy(), own=st.booleans())
    @settings(max_examples=size(60, 600), deadline=None, suppress_health_check=list(HealthCheck))
    def fuzz(case, own):
        if own and "device_id" in (case.path_parameters or {}):
            case.path_parameters["device_id"] = "dev-9"  # the token's device: reach the body
        r = case.call(headers={"Authorization": f"Bearer {token}"})
        tally.trial(f"schemathesis {op.label}", r.status_code < 500, f"{r.status_code}")

    fuzz()


_hostile = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.sampled_from([-(2**63), 2**31, 2**63, 10**30, -(10**30), 2**31 - 1])
    | st.floats()
    | st.sampled_from([1e308, -1e308, 5e-324, 1e11 + 1])
    | st.text(max_size=40)
    | st.text(min_size=900, max_size=1200)
    | st.sampled_from(["", "\u0000", "../../etc", "NaN", "Infinity", "9" * 400, "𝔘" * 70])
    | _json
)
_EVENT = {
    "type": "heartbeat",
    "model": MODEL,
    "version": 1,
    "time": 1.0e9,
    "reason": "",
    "metrics": {},
}


def _fuzz_every_field(client: httpx.Client, token: str, tally: Tally, accepted: list[int]):
    """Each field of `EventBatch` and `TelemetryEvent` (and each metric's name and value)
    in turn replaced by hostile values, the rest of the body valid."""
    bodies = {
        **{f"event.{name}": lambda v, n=name: {"events": [{**_EVENT, n: v}]} for name in _EVENT},
        "event.metrics[value]": lambda v: {"events": [{**_EVENT, "metrics": {"m": v}}]},
        "event.metrics[name]": lambda v: {
            "events": [{**_EVENT, "metrics": {v if isinstance(v, str) else json.dumps(v): 1.0}}]
        },
        "event.<extra>": lambda v: {"events": [{**_EVENT, "extra": v}]},
        "events": lambda v: {"events": v},
        "events[0]": lambda v: {"events": [v]},
        "<body>": lambda v: v,
    }
    for field, make in bodies.items():
        _fuzz_field(client, token, tally, accepted, field, make)


def _fuzz_field(client, token, tally, accepted, field, make) -> None:
    @given(value=_hostile)
    @settings(max_examples=size(40, 400), deadline=None, suppress_health_check=list(HealthCheck))
    def fuzz(value):
        r = client.post(
            "/v1/devices/dev-9/events",
            content=json.dumps(make(value)),  # NaN/Infinity written raw: must be refused
            headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
        )
        if r.status_code == 202:
            accepted[0] += r.json()["stored"]
        tally.trial(f"field {field}", r.status_code < 500, f"{r.status_code} {value!r:.80}")

    fuzz()
