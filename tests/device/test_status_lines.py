"""`agent status` on a fresh home says what to do, not `active None (None)`."""

from __future__ import annotations

from litefleet.cli.agent import status_lines


def _status(**changes: object) -> dict:
    s: dict = {
        "model": "digits",
        "server": "http://127.0.0.1:1",
        "device_id": "dev-1",
        "strategy": "periodic",
        "active": None,
        "variant": None,
        "previous": None,
        "installed": [],
        "probation_text": "none",
        "blocked": {},
        "last_check": None,
        "next_check_text": "not scheduled",
        "download_rules": "any network",
        "metadata": {"age_text": "never fetched"},
        "telemetry_queued": 0,
        "warnings": [],
    }
    s.update(changes)
    return s


def test_fresh_home_names_the_next_step():
    text = "\n".join(status_lines(_status()))
    assert "None" not in text
    assert "no model yet" in text and "agent check" in text


def test_installed_home_shows_versions():
    lines = status_lines(_status(active=2, variant="baseline-int8", previous=1, installed=[1, 2]))
    assert lines[1] == "active 2 (baseline-int8)  previous 1  installed [1, 2]"
    first = status_lines(_status(active=1, variant="baseline-int8", installed=[1]))
    assert first[1] == "active 1 (baseline-int8)  previous -  installed [1]"
