"""The automatic halt against forged reports and several workers, over real HTTP.

Proves the numbers documented in `litefleet.registry.halt`: fewer colluding enrolled devices
in the rollout than `HaltRule.colluders_needed` never pause a release (however often they
report, whatever else they forge), one more does; reports from devices outside the cohort,
from unenrolled ids or with another device's token move nothing; two server processes on
one database pause a release exactly once, and an operator's resume is respected by both.
"""

from __future__ import annotations

import threading
import time

import httpx
import pytest

from litefleet.registry.halt import HaltRule
from litefleet.registry.repository import Repository
from litefleet.registry.rollout import change_rollout, read_rollout
from litefleet.registry.tokens import DeviceTokens
from litefleet.release import in_rollout
from litefleet.testing.operators import operator_headers

from .conftest import MODEL

PERCENT = 50.0


def _ids(prefix: str, n: int, inside: bool) -> list[str]:
    """`n` device ids inside (or outside) the 50 % cohort of release 2."""
    out, i = [], 0
    while len(out) < n:
        d = f"{prefix}-{i}"
        if in_rollout(d, MODEL, 2, PERCENT) == inside:
            out.append(d)
        i += 1
    return out


def _report(server, device: str, token: str, *types: str, version: int = 2) -> int:
    body = {
        "events": [
            {"type": t, "model": MODEL, "version": version, "time": time.time() + k}
            for k, t in enumerate(types)
        ]
    }
    r = httpx.post(
        f"{server.url}/v1/devices/{device}/events",
        json=body,
        headers={"Authorization": f"Bearer {token}"},
        timeout=30,
    )
    return r.status_code


def _status(repo: Repository) -> str:
    return read_rollout(repo, MODEL).rollouts[2].status


def _rollout_version(repo: Repository) -> int:
    return repo.load("rollout").signed.version


@pytest.mark.parametrize("honest", [0, 8, 20])
def test_fewer_colluders_than_documented_never_halt(published, serve, honest):
    change_rollout(published, MODEL, 2, "percent", PERCENT)
    rule = HaltRule()
    needed = rule.colluders_needed(honest)
    book = DeviceTokens(published.keys.path)
    good = book.issue_many(_ids("good", honest, inside=True))
    colluders = book.issue_many(_ids("evil", needed, inside=True))
    outsiders = book.issue_many(_ids("out", 25, inside=False))
    server = serve(published, device_rate=1000, device_burst=1000)
    for d, t in good.items():
        assert _report(server, d, t, "installed", "activated") == 202
    # everything short of the last colluder: repeated failures, outsiders, forgeries
    *few, last = list(colluders.items())
    for _ in range(3):
        for d, t in few:
            assert _report(server, d, t, "installed", "health_failed", "rolled_back") == 202
    for d, t in outsiders.items():  # enrolled, but release 2 was never offered to them
        assert _report(server, d, t, "installed", "health_failed") == 202
    for _d, t in few:  # a colluder speaking for others: refused
        for victim in ("ghost-1", "ghost-2", *good):
            assert _report(server, victim, t, "health_failed") == 403
    assert _report(server, "ghost-3", "made-up-token", "health_failed") == 401
    assert _status(published) == "active", f"{needed - 1} colluders halted it"
    assert _report(server, last[0], last[1], "installed", "health_failed") == 202
    assert _status(published) == "paused", f"{needed} colluders did not halt it"
    reason = read_rollout(published, MODEL).rollouts[2].reason
    assert f"{needed}/{needed + honest}" in reason


def test_colluders_needed_formula():
    rule = HaltRule(threshold=0.2, min_devices=5, min_failed=3)
    assert [rule.colluders_needed(h) for h in (0, 1, 4, 8, 12, 20, 100)] == [
        5, 4, 3, 3, 4, 6, 26,
    ]  # fmt: skip


def test_two_workers_pause_once_and_respect_an_operator_resume(published, serve, tmp_path):
    """Two server instances (as two workers) on one database, reports through both."""
    db = f"sqlite:///{tmp_path / 'shared.db'}"
    settings = {"db_url": db, "device_rate": 1000, "device_burst": 1000}
    workers = [serve(published, **settings), serve(Repository(published.path), **settings)]
    book = DeviceTokens(published.keys.path)
    fleet = book.issue_many([f"dev-{i}" for i in range(12)])
    before = _rollout_version(published)
    errors: list[int] = []

    def report(i: int, device: str, token: str) -> None:
        code = _report(workers[i % 2], device, token, "installed", "health_failed")
        if code != 202:
            errors.append(code)

    threads = [
        threading.Thread(target=report, args=(i, d, t)) for i, (d, t) in enumerate(fleet.items())
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert _status(published) == "paused"
    assert _rollout_version(published) == before + 1, "the pause was signed more than once"
    for w in workers:
        halts = httpx.get(f"{w.url}/v1/halts", headers=operator_headers(published)).json()
        assert [(h["state"], h["pauses"]) for h in halts] == [("paused", 1)]

    change_rollout(published, MODEL, 2, "resume", reason="operator: false alarm")
    # the same devices report the same failures again, through both workers and a restart
    workers.append(serve(Repository(published.path), **settings))
    for i, (d, t) in enumerate(fleet.items()):
        assert _report(workers[i % 3], d, t, "health_failed", "rolled_back") == 202
    assert _status(published) == "active", "old failures paused a resumed release again"
    for w in workers:
        halts = httpx.get(f"{w.url}/v1/halts", headers=operator_headers(published)).json()
        assert halts[0]["state"] == "resumed" and "operator" in halts[0]["resumed_by"]
    # new evidence after the resume may pause it once more
    fresh = book.issue_many([f"new-{i}" for i in range(4)])  # 4 of 16: above 20 %
    for i, (d, t) in enumerate(fresh.items()):
        assert _report(workers[i % 2], d, t, "installed", "health_failed") == 202
    assert _status(published) == "paused"
    halts = httpx.get(f"{workers[0].url}/v1/halts", headers=operator_headers(published)).json()
    assert (halts[0]["state"], halts[0]["pauses"]) == ("paused", 2)


def test_halt_book_claims_are_exclusive_and_a_dead_claim_expires(tmp_path, monkeypatch):
    """The compare-and-set under the automatic pause, on the database alone."""
    from litefleet.registry import halt
    from litefleet.registry.halt import HaltBook
    from litefleet.registry.telemetry import TelemetryStore

    book = HaltBook(TelemetryStore(f"sqlite:///{tmp_path / 't.db'}").engine)
    assert book.claim(MODEL, 2, None, "first") == 1
    assert book.claim(MODEL, 2, None, "second worker") is None  # lost the race
    seen = book.get(MODEL, 2)
    assert seen is not None and seen.state == "pausing"
    assert book.claim(MODEL, 2, seen, "while signing") is None
    # the claimer died before signing: after STALE_CLAIM_S another worker may take over
    monkeypatch.setattr(halt, "STALE_CLAIM_S", -1.0)
    assert book.claim(MODEL, 2, seen, "take over") == 2
    book.paused(MODEL, 2, 2, "2026-01-01T00:00:00+00:00")
    paused = book.get(MODEL, 2)
    assert paused is not None and (paused.state, paused.pauses) == ("paused", 1)
    assert book.claim(MODEL, 2, paused, "again") is None  # paused: nothing to claim
    assert book.resumed(paused, "operator")
    assert not book.resumed(paused, "operator, noticed twice")  # recorded once
