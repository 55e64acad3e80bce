"""The reliability suite: faults, attacks and bad input against the real server and agents.

Fast by default (CI, a few minutes on 2 cores); `LITEFLEET_RELIABILITY=full` runs every
scenario at full size (>= 200 kills, 1,000 devices for a minute). Every test adds its
trials to one `Report`, printed as a table at the end of the session (and written as JSON
to `$LITEFLEET_RELIABILITY_REPORT` when set).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from litefleet.selftest.tally import Report
from litefleet.testing.lab import Lab

FULL = os.environ.get("LITEFLEET_RELIABILITY", "").lower() == "full"
_REPORT = Report()


def size(fast: int, full: int) -> int:
    """How many trials: small for CI, large with LITEFLEET_RELIABILITY=full."""
    return full if FULL else fast


@pytest.fixture(scope="session")
def report() -> Report:
    return _REPORT


@pytest.fixture
def lab(tmp_path: Path) -> Iterator[Lab]:
    with Lab(tmp_path / "lab") as lab:
        yield lab


def pytest_terminal_summary(terminalreporter, exitstatus, config) -> None:
    if not _REPORT.tallies:
        return
    mode = "full" if FULL else "fast (LITEFLEET_RELIABILITY=full for the full run)"
    terminalreporter.section(f"litefleet reliability summary, {mode}")
    terminalreporter.write_line(_REPORT.table())
    for failure in _REPORT.failures():
        terminalreporter.write_line(f"FAILED {failure}")
    out = os.environ.get("LITEFLEET_RELIABILITY_REPORT")
    if out:
        data = {"mode": "full" if FULL else "fast", "scenarios": _REPORT.to_json()}
        Path(out).write_text(json.dumps(data, indent=1))
