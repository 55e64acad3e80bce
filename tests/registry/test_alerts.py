"""Webhooks: signed, once per alert whatever the number of workers, retried with backoff,
and the three triggers (halt in tests/console, failure rate and silent devices here)."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest

from litefleet.errors import UserError
from litefleet.registry.alerts import MAX_TRIES, AlertBook, Alerts, Hook, verify_signature
from litefleet.registry.telemetry import ReleaseHealth, TelemetryStore
from litefleet.release import EventBatch


class Sink:
    """Answers each POST with the next status of `codes` (then 200)."""

    def __init__(self, codes: list[int]) -> None:
        self.codes, self.posts = list(codes), []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["content-length"]))
                outer.posts.append(({k.lower(): v for k, v in self.headers.items()}, body))
                self.send_response(outer.codes.pop(0) if outer.codes else 200)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture
def setup(tmp_path):
    store = TelemetryStore(f"sqlite:///{tmp_path / 't.db'}")
    book = AlertBook(tmp_path / "keys")
    yield store, book
    store.engine.dispose()


def test_a_failing_hook_is_retried_with_backoff_then_given_up(setup):
    store, book = setup
    sink = Sink([500] * MAX_TRIES)
    book.add(Hook(id="a", url=sink.url, secret="s3"))
    alerts = Alerts(book, store.engine)
    assert alerts.raise_("halt", "k1", {"model": "m"}) == 1
    assert alerts.raise_("halt", "k1", {"model": "m"}) == 0, "one alert per key"
    other = Alerts(AlertBook(book.dir), store.engine)  # a second worker: same outbox
    assert other.raise_("halt", "k1", {"model": "m"}) == 0
    now, waits = time.time(), []
    with httpx.Client(timeout=5) as client:
        for _ in range(MAX_TRIES):
            assert alerts.deliver_due(client, now=now) == 0
            (row,) = alerts.recent()
            if row["status"] == "failed":
                break
            waits.append(row["next_try"] - now)
            assert alerts.deliver_due(client, now=now) == 0, "not due again before its backoff"
            now = row["next_try"]
    assert waits == [1, 2, 4, 8, 16, 32, 64]
    (row,) = alerts.recent()
    assert (row["status"], row["attempts"], row["last_error"]) == ("failed", MAX_TRIES, "HTTP 500")
    assert len(sink.posts) == MAX_TRIES
    headers, body = sink.posts[0]
    assert verify_signature("s3", body, headers["x-litefleet-signature"])
    assert not verify_signature("s3", body + b" ", headers["x-litefleet-signature"])
    assert json.loads(body)["kind"] == "halt"


def test_failure_rate_and_silent_devices(setup):
    store, book = setup
    sink = Sink([])
    book.add(
        Hook(
            id="b",
            url=sink.url,
            secret="x",
            on=["failure_rate", "unseen"],
            failure_rate=0.3,
            min_devices=4,
            unseen_checks=2,
            check_interval_s=60,
        )
    )
    alerts = Alerts(book, store.engine)
    alerts.on_failures(ReleaseHealth("m", 2, 3, 3, 3, 0, 0))
    alerts.on_failures(ReleaseHealth("m", 2, 10, 3, 3, 0, 0))
    assert alerts.recent() == [], "too few tried, then 30 % is not above 30 %"
    alerts.on_failures(ReleaseHealth("m", 2, 10, 4, 4, 0, 0))
    alerts.raise_("halt", "h", {})  # this hook does not take halts
    assert [r["kind"] for r in alerts.recent()] == ["failure_rate"]

    t0 = time.time()
    for device, age in (("old", 200), ("fresh", 10)):
        batch = EventBatch.model_validate(
            {"events": [{"type": "heartbeat", "model": "m", "version": 1, "time": t0}]}
        )
        store.add(device, batch, received=t0 - age)
    assert alerts.check_unseen(now=t0) == 1, "silent for more than 2 checks of 60 s"
    assert alerts.check_unseen(now=t0 + 1) == 0, "once per silence"
    with httpx.Client(timeout=5) as client:
        assert alerts.deliver_due(client) == 2
    kinds = {json.loads(b)["kind"]: json.loads(b) for _, b in sink.posts}
    assert kinds["unseen"]["device_id"] == "old"
    assert kinds["failure_rate"]["failure_rate"] == 0.4


def test_bad_hooks_are_refused(setup):
    _, book = setup
    with pytest.raises(UserError, match="http"):
        book.add(Hook(id="c", url="ftp://x", secret=""))
    with pytest.raises(UserError, match="--on"):
        book.add(Hook(id="c", url="http://127.0.0.1:1/", secret="", on=["nope"]))
    assert book.hooks() == []
    assert (book.dir / "alerts.json").exists() is False
