"""The server over real HTTP: static repository files, telemetry, automatic halt, fleet view."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from litefleet.registry.repository import Repository
from litefleet.registry.rollout import read_rollout
from litefleet.registry.telemetry import TelemetryStore
from litefleet.registry.tokens import DeviceTokens
from litefleet.testing.operators import operator_headers

from .conftest import MODEL, make_updater, tree


@pytest.fixture
def tokens(request: pytest.FixtureRequest):
    """Issue (once) and return the token of a device, in the test's repository: `published`
    when the test uses it, else `repo`."""
    name = "published" if "published" in request.fixturenames else "repo"
    repo: Repository = request.getfixturevalue(name)
    book, issued = DeviceTokens(repo.keys.path), {}

    def token_of(device: str) -> str:
        if device not in issued:
            issued[device] = book.issue(device, "tests")
        return issued[device]

    return token_of


@pytest.fixture
def token(tokens) -> str:
    return tokens("dev-1")


def _events(*items: tuple[str, int | None]) -> dict:
    now = time.time()
    return {
        "events": [
            {"type": t, "model": MODEL, "version": v, "time": now + i, "metrics": {"drift": 0.1}}
            for i, (t, v) in enumerate(items)
        ]
    }


def _post(server, device: str, body, token: str | None, **kw) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return httpx.post(f"{server.url}/v1/devices/{device}/events", json=body, headers=headers, **kw)


def test_static_files_etag_range_and_cache(repo, serve):
    server = serve(repo)
    url = f"{server.url}/metadata/timestamp.json"
    first = httpx.get(url)
    assert first.status_code == 200
    assert first.headers["content-type"] == "application/json"
    assert first.headers["cache-control"] == "no-cache"
    assert "last-modified" in first.headers
    again = httpx.get(url, headers={"If-None-Match": first.headers["etag"]})
    assert again.status_code == 304
    versioned_url = f"{server.url}/metadata/1.root.json"
    versioned = httpx.get(versioned_url)
    assert "immutable" in versioned.headers["cache-control"]
    # Range (resumable downloads) on files that never change; a mutable file is served
    # whole, read through one descriptor, so a concurrent os.replace cannot tear it.
    part = httpx.get(versioned_url, headers={"Range": "bytes=10-19"})
    assert part.status_code == 206 and part.content == versioned.content[10:20]


def test_mutable_metadata_is_never_torn_by_a_concurrent_replace(repo, serve):
    """Re-signing timestamp.json while clients fetch it: every response is one whole file."""
    import json
    import threading

    server = serve(repo)
    url = f"{server.url}/metadata/timestamp.json"
    stop = threading.Event()

    def resign() -> None:
        while not stop.is_set():
            repo.refresh_timestamp()

    writer = threading.Thread(target=resign)
    writer.start()
    try:
        with httpx.Client() as client:
            for _ in range(200):
                response = client.get(url)
                assert response.status_code == 200
                json.loads(response.content)  # complete, parseable metadata
    finally:
        stop.set()
        writer.join()


@pytest.mark.parametrize(
    "path",
    [
        "/metadata/../keys/tokens.json",
        "/metadata/%2e%2e/keys/tokens.json",
        "/targets/..%2fkeys%2ftokens.json",
        "/targets/../litefleet.json",
        "/keys/tokens.json",
        "/metadata/.timestamp.json.tmp",
        "/telemetry.db",
    ],
)
def test_nothing_outside_metadata_and_targets(repo, serve, token, path):
    server = serve(repo)
    (repo.metadata_dir / ".timestamp.json.tmp").write_text("{}")  # a write in flight

    def raw_get(raw_path: str) -> httpx.Response:
        with httpx.Client(base_url=server.url) as client:
            request = client.build_request("GET", "/")
            request.url = request.url.copy_with(raw_path=raw_path.encode())  # no normalising
            return client.send(request)

    assert raw_get("/metadata/timestamp.json").status_code == 200  # the raw path does reach it
    resp = raw_get(path)
    assert resp.status_code == 404, path
    assert token not in resp.text


def test_telemetry_stored_with_token(repo, serve, token):
    server = serve(repo)
    resp = _post(server, "dev-1", _events(("installed", 1), ("activated", 1)), token)
    assert resp.status_code == 202 and resp.json() == {"stored": 2}
    store = TelemetryStore(f"sqlite:///{repo.path}/telemetry.db")
    assert store.count_events() == 2
    assert store.health(MODEL, 1).running == 1
    assert (repo.path / "telemetry.db").stat().st_mode & 0o777 == 0o600


def test_a_token_speaks_for_its_own_device_only(repo, serve, tokens):
    server = serve(repo)
    mine = tokens("cam-1")
    tokens("cam-2")
    assert _post(server, "cam-1", _events(("heartbeat", 1)), mine).status_code == 202
    for victim in ("cam-2", "never-enrolled", "bad id!"):
        resp = _post(server, victim, _events(("health_failed", 1)), mine)
        assert resp.status_code == 403, (victim, resp.text)
    # a renewed token revokes the old one at once (the server re-reads the token file)
    DeviceTokens(repo.keys.path).issue("cam-1")
    assert _post(server, "cam-1", _events(("heartbeat", 1)), mine).status_code == 401
    store = TelemetryStore(f"sqlite:///{repo.path}/telemetry.db")
    assert store.count_events() == 1


def test_a_device_that_floods_gets_429_and_loses_nothing(repo, serve, token):
    server = serve(repo, device_rate=0.5, device_burst=3)
    codes = [_post(server, "dev-1", _events(("heartbeat", 1)), token) for _ in range(6)]
    assert [r.status_code for r in codes[:3]] == [202] * 3
    assert codes[3].status_code == 429 and int(codes[3].headers["retry-after"]) >= 1
    accepted = sum(r.status_code == 202 for r in codes)
    store = TelemetryStore(f"sqlite:///{repo.path}/telemetry.db")
    assert store.count_events() == accepted


@pytest.mark.parametrize(
    ("device", "body", "auth", "status"),
    [
        ("dev-1", _events(("installed", 1)), None, 401),
        ("dev-1", _events(("installed", 1)), "wrong-token", 401),
        ("bad id!", _events(("installed", 1)), "good", 403),
        ("dev-1", _events(("installed", 2**31)), "good", 422),
        ("dev-1", _events(("installed", 10**30)), "good", 422),
        ("dev-1", {"events": []}, "good", 422),
        ("dev-1", {"events": [{"type": "exploded", "model": MODEL, "time": 1}]}, "good", 422),
        ("dev-1", {"events": [{"type": "heartbeat", "model": "../x", "time": 1}]}, "good", 422),
        ("dev-1", {**_events(("heartbeat", 1)), "extra": 1}, "good", 422),
        (
            "dev-1",
            {"events": [{"type": "heartbeat", "model": MODEL, "time": 1, "metrics": {"a": "x"}}]},
            "good",
            422,
        ),
        ("dev-1", {"events": [_events(("heartbeat", 1))["events"][0]] * 501}, "good", 422),
        (
            "dev-1",
            {"events": [{**_events(("heartbeat", 1))["events"][0], "reason": "x" * 300_000}]},
            "good",
            413,
        ),
    ],
)
def test_bad_telemetry_is_4xx_and_stores_nothing(repo, serve, token, device, body, auth, status):
    server = serve(repo)
    resp = _post(server, device, body, token if auth == "good" else auth)
    assert resp.status_code == status, resp.text
    assert TelemetryStore(f"sqlite:///{repo.path}/telemetry.db").count_events() == 0


def test_malformed_json_and_huge_chunked_body(repo, serve, token):
    server = serve(repo)
    url = f"{server.url}/v1/devices/dev-1/events"
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    assert httpx.post(url, content=b"{not json", headers=headers).status_code == 422

    def chunks():
        yield b'{"events": ['
        for _ in range(2000):
            yield b'{"type":"heartbeat","model":"digits","time":1},' * 10

    assert httpx.post(url, content=chunks(), headers=headers).status_code == 413
    assert TelemetryStore(f"sqlite:///{repo.path}/telemetry.db").count_events() == 0


def test_automatic_halt_pauses_rollout_for_devices(published, serve, tokens, tmp_path):
    server = serve(published)
    for i in range(4):
        _post(server, f"ok-{i}", _events(("installed", 2), ("activated", 2)), tokens(f"ok-{i}"))
    # 2 failures among 6 devices: above 20 %, but fewer than 3 devices failed
    _post(server, "bad-0", _events(("installed", 2), ("health_failed", 2)), tokens("bad-0"))
    _post(
        server,
        "bad-1",
        _events(("installed", 2), ("rolled_back", 2), ("activated", 1)),
        tokens("bad-1"),
    )
    assert read_rollout(published, MODEL).rollouts[2].status == "active"
    _post(server, "bad-2", _events(("installed", 2), ("health_failed", 2)), tokens("bad-2"))
    entry = read_rollout(published, MODEL).rollouts[2]
    assert entry.status == "paused" and "3/7" in entry.reason
    # a device sees the pause through TUF (signed by the online rollout key)
    updater = make_updater(
        server, (published.metadata_dir / "1.root.json").read_bytes(), tmp_path / "d"
    )
    info = updater.get_targetinfo(f"{MODEL}/rollout.json")
    assert '"paused"' in Path(updater.download_target(info)).read_text()

    fleet = httpx.get(f"{server.url}/v1/fleet", headers=operator_headers(published)).json()[
        "releases"
    ]
    row = next(r for r in fleet if r["version"] == 2)
    assert (row["running"], row["tried"], row["failed"], row["rolled_back"]) == (4, 7, 3, 1)
    assert row["rollout_status"] == "paused" and row["halt_state"] == "paused"
    assert next(r for r in fleet if r["version"] == 1)["running"] == 1
    metrics = httpx.get(f"{server.url}/metrics", headers=operator_headers(published)).text
    assert 'litefleet_release_failed{model="digits",version="2"} 3.0' in metrics
    assert "litefleet_auto_halts 1.0" in metrics
    halts = httpx.get(f"{server.url}/v1/halts", headers=operator_headers(published)).json()
    assert [(h["version"], h["state"], h["pauses"]) for h in halts] == [(2, "paused", 1)]
    assert "pid" in halts[0]["paused_by"] and "3/7" in halts[0]["reason"]


def test_server_never_signs_with_offline_keys(published, serve):
    """The server's key store refuses targets/root even when their files are present."""
    server = serve(published)
    app_repo = server.server.config.app.state.repo
    with pytest.raises(Exception, match="offline role 'targets'"):
        app_repo.keys.signers("targets")


def test_server_refreshes_expiring_timestamp(repo, serve):
    stale = Repository(repo.path, clock=lambda: datetime.now(UTC) - timedelta(hours=23))
    stale.refresh_timestamp()  # expires within the hour
    before = repo.load("timestamp").signed.version
    server = serve(repo, refresh_interval=0.1)
    deadline = time.monotonic() + 10
    while repo.load("timestamp").signed.version == before and time.monotonic() < deadline:
        time.sleep(0.05)
    ts = repo.load("timestamp").signed
    assert ts.version > before
    assert ts.expires > datetime.now(UTC) + timedelta(hours=20)
    assert httpx.get(f"{server.url}/healthz").json()["timestamp_version"] == ts.version


def test_concurrent_publish_and_halt_do_not_lose_updates(published, builds):
    """The repository lock serialises writers: each sees the other's metadata."""
    import threading

    from litefleet.registry.publish import publish
    from litefleet.registry.rollout import pause_if_active

    other = Repository(published.path)
    errors: list[BaseException] = []

    def halt() -> None:
        try:
            for _ in range(5):
                pause_if_active(other, MODEL, 2, "test")
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    before = tree(published.path)
    t = threading.Thread(target=halt)
    t.start()
    # v2's bytes again: the halt may pause v2 first, so skip the known-bad refusal
    publish(published, builds["v2"], MODEL, version=3, force=True)
    t.join()
    assert not errors and tree(published.path) != before
    state = read_rollout(published, MODEL)
    assert state.rollouts[2].status == "paused" and state.rollouts[3].status == "active"


def test_server_warns_loudly_about_readable_offline_keys(tmp_path, monkeypatch, caplog):
    """A repository whose root/targets keys sit inside it (the layout of older versions)."""
    monkeypatch.setenv("LITEFLEET_OFFLINE_KEYS_DIR", str(tmp_path / "old" / "keys"))
    old = Repository.init(tmp_path / "old")
    monkeypatch.delenv("LITEFLEET_OFFLINE_KEYS_DIR")
    from litefleet.registry.server import ServerSettings, create_app

    create_app(ServerSettings(repo=old.path, refresh_interval=None))
    assert "OFFLINE KEYS READABLE" in caplog.text
    caplog.clear()
    fresh = Repository.init(tmp_path / "new")
    create_app(ServerSettings(repo=fresh.path, refresh_interval=None))
    assert "OFFLINE KEYS" not in caplog.text
