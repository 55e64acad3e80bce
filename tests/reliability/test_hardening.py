"""Crash loops and stuck servers (issue 9), the scenarios `litefleet selftest` also runs."""

from __future__ import annotations

from litefleet.selftest import hardening
from litefleet.selftest.tally import Tally

from .conftest import size


def _check(report, tally: Tally) -> None:
    report.add(tally)
    assert tally.ok, "\n".join(tally.failures)


def test_crash_loop_blocks_the_release(lab, report):
    tally = hardening.crash_loop(lab, rounds=size(1, 3))
    _check(report, tally)
    assert tally.notes["agent deaths counted"] == size(2, 6)


def test_stuck_server_never_holds_the_device(lab, report):
    _check(report, hardening.stuck_server(lab, rounds=size(1, 2)))
