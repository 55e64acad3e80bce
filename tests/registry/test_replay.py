"""Telemetry the judge can trust: replayed reports change nothing, over real HTTP.

A device's captured report (the same bytes) is posted 1000 times after the device sent
newer ones: the server stores each event once, the fleet view still shows what the device
runs now, and the counts the halt rule uses stay the same.
"""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from litefleet.device.telemetry import TelemetryQueue
from litefleet.registry.telemetry import TelemetryStore
from litefleet.release import EventBatch
from litefleet.testing.lab import Lab
from litefleet.testing.operators import operator_headers

MODEL = "blobs"


@pytest.fixture
def lab(tmp_path):
    """Releases 1 and 2 of the tiny models, the real server (no rate limit in the way)."""
    settings = {"device_rate": 10_000.0, "device_burst": 10_000}
    with Lab(tmp_path / "lab", model=MODEL, settings=settings) as lab:
        lab.publish("v1", 1)
        lab.publish("v2", 2)
        yield lab


def _capture(queue: TelemetryQueue, *events: tuple[str, int]) -> bytes:
    """Record events on a real device queue and return the exact body it would post."""
    before = len(queue.pending())
    for type_, version in events:
        queue.record(type_, MODEL, version, "", accuracy=0.9)
    sent = queue.pending()[before:]
    return EventBatch(events=sent).model_dump_json().encode()


def _post(client: httpx.Client, url: str, body: bytes, token: str) -> int:
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    return client.post(url, content=body, headers=headers).status_code


def _view(server) -> list[tuple]:
    repo = server.server.config.app.state.repo
    rows = httpx.get(f"{server.url}/v1/fleet", headers=operator_headers(repo)).json()["releases"]
    return [(r["version"], r["running"], r["tried"], r["failed"], r["rolled_back"]) for r in rows]


def test_replayed_reports_change_neither_fleet_view_nor_judge(lab, tmp_path: Path):
    server, published = lab.server, lab.repo
    token = lab.token_for("cam-1")
    queue = TelemetryQueue(tmp_path / "cam-1", None, "cam-1")
    url = f"{server.url}/v1/devices/cam-1/events"
    old = _capture(queue, ("installed", 1), ("activated", 1))
    failure = _capture(queue, ("installed", 2), ("rolled_back", 2), ("activated", 1))
    newer = _capture(queue, ("installed", 2), ("activated", 2))
    with httpx.Client(timeout=30) as client:
        for body in (old, failure, newer):
            assert _post(client, url, body, token) == 202
        store = TelemetryStore(f"sqlite:///{published.path}/telemetry.db")
        stored, view = store.count_events(), _view(server)
        judge = store.halt_counts(MODEL, 2, None)
        assert view == [(1, 0, 1, 0, 0), (2, 1, 1, 1, 1)]
        for _ in range(500):  # the same bytes, after newer ones, 1000 times in all
            assert _post(client, url, old, token) == 202
            assert _post(client, url, failure, token) == 202
    assert store.count_events() == stored == 7
    assert _view(server) == view  # still runs 2: the replayed "activated 1" moved nothing
    assert store.halt_counts(MODEL, 2, None) == judge


def test_an_older_agents_events_without_ids_are_stored_once(lab):
    """Events from before ids existed: the same bytes are the same event (content hash)."""
    server, published = lab.server, lab.repo
    token = lab.token_for("old-1")
    body = b'{"events":[{"type":"activated","model":"blobs","version":1,"time":1000.0}]}'
    url = f"{server.url}/v1/devices/old-1/events"
    with httpx.Client(timeout=30) as client:
        for _ in range(20):
            assert _post(client, url, body, token) == 202
    assert TelemetryStore(f"sqlite:///{published.path}/telemetry.db").count_events() == 1


def test_a_wiped_device_home_keeps_counting_upward(tmp_path: Path):
    """The counter starts from the clock when its file is missing: a re-initialised device's
    new events still rank above everything it sent before."""
    first = TelemetryQueue(tmp_path / "a", None, "cam")
    first.record("activated", MODEL, 1)
    first.record("activated", MODEL, 2)
    seqs = [e.seq for e in first.pending()]
    assert seqs[1] == seqs[0] + 1 and len({e.id for e in first.pending()}) == 2
    (tmp_path / "a" / "telemetry" / "seq").unlink()
    first.record("activated", MODEL, 3)
    assert first.pending()[-1].seq > seqs[1]
