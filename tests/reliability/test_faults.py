"""Crash injection, attacks, bad releases and network faults (the scenarios `litefleet
selftest` also runs), at the suite's size."""

from __future__ import annotations

import pytest

from litefleet.selftest import attacks, badreleases, crash, network
from litefleet.selftest.tally import Tally

from .conftest import size


def _check(report, tally: Tally) -> None:
    report.add(tally)
    assert tally.ok, "\n".join(tally.failures)


def test_sigkill_during_updates(lab, report):
    # 9 crash points x per_point + random instants: 24 fast, 260 full
    tally = crash.run(lab, per_point=size(2, 20), random_kills=size(6, 80))
    _check(report, tally)
    assert tally.notes["killed"] >= size(15, 200)


def test_attacks_are_refused(lab, report):
    _check(report, attacks.run(lab, rounds=size(1, 3)))


def test_bad_releases_never_activate(lab, report):
    _check(report, badreleases.run(lab, rounds=size(1, 4)))


@pytest.mark.timeout(600)
def test_network_faults_back_off_resume_recover(lab, report):
    _check(report, network.run(lab, rounds=size(1, 3)))
