"""Regression tests for the failures the reliability suite found in device code."""

from __future__ import annotations

import time
from pathlib import Path

import httpx

from litefleet.device.agent import Agent
from litefleet.device.probation import ProbationRules, probation_verdict
from litefleet.device.resuming_http import ResumingFetcher
from litefleet.device.store import ModelStore
from litefleet.drift import DriftMonitor, Feedback, reference_stats
from litefleet.testing import proxy as px
from litefleet.testing.lab import app_traffic
from litefleet.testing.tiny_data import dataset


def test_small_in_distribution_sample_is_not_a_drift_spike():
    """Found by `bad releases`: 20 normal inputs gave PSI ~1.1 and failed probation."""
    x, _ = dataset()
    monitor = DriftMonitor(reference_stats(x[:400]))
    for row in x[400:420]:
        monitor.observe(row, None)
    assert monitor.drift() < 0.5
    fb = Feedback(drift=0.9, predictions=30)  # even a noisy value waits for more samples
    assert probation_verdict(ProbationRules().start(1, 0.0), fb, 1.0, ProbationRules())[0] == (
        "pending"
    )
    shifted = DriftMonitor(reference_stats(x[:400]))
    for row in x[:60] + 8.0:
        shifted.observe(row, None)
    assert shifted.drift() > 1.0, "a real shift is still a spike"


def test_only_version_failing_probation_does_not_wedge_the_agent(lab):
    """Found by `bad releases`: with nothing to roll back to, every check raised."""
    lab.publish("v1", 1)
    home = lab.device("only", direct=True, probation={"predictions": 10**6})
    assert Agent(home).check().active_version == 1
    with app_traffic(home, lab.x, shift=8.0):
        time.sleep(1.0)
    r = Agent(home).check()
    assert r.action != "error" and r.active_version == 1, r
    assert ModelStore(home).state().probation is None
    lab.publish("v2", 2)
    assert Agent(home).check().active_version == 2, "a fixed release still arrives"


def test_fetcher_resumes_with_range_and_drops_bad_partials(lab, tmp_path: Path):
    """python-tuf's fetcher restarted every cut download from byte 0."""
    lab.publish("v1", 1)
    path = next(lab.repo.targets_dir.rglob("*golden-inputs.npz")).relative_to(lab.repo.targets_dir)
    url = f"{lab.proxy.url}/targets/{path}"
    whole = httpx.get(f"{lab.server.url}/targets/{path}").content
    fetcher = ResumingFetcher(
        partial_dir=tmp_path, resumable_prefix=f"{lab.proxy.url}/targets/", retries=0
    )
    lab.proxy.fault = px.cut(r"\.npz$", 0.5, ranges=True)
    try:
        fetcher.download_bytes(url, len(whole))
        raise AssertionError("the cut download should fail")
    except Exception as exc:  # urllib3's ProtocolError, unwrapped by python-tuf
        assert "Connection" in repr(exc) or "IncompleteRead" in repr(exc), exc
    parts = list(tmp_path.glob("*.part"))
    have = parts[0].stat().st_size if len(parts) == 1 else 0
    assert 0 < have < len(whole), parts
    lab.proxy.fault = None
    assert fetcher.download_bytes(url, len(whole)) == whole
    assert lab.proxy.ranges and lab.proxy.ranges[-1][1] == f"bytes={have}-"
    assert not list(tmp_path.glob("*.part")), "a finished download leaves no partial"
    # a partial with wrong bytes: the download completes, python-tuf's hash check refuses
    # it, and since the partial is gone at completion the next try starts clean
    parts[0].write_bytes(b"\xff" * 100)
    assert fetcher.download_bytes(url, len(whole)) != whole
    assert not list(tmp_path.glob("*.part"))
    assert fetcher.download_bytes(url, len(whole)) == whole
    # a partial longer than the file: the server answers 416, the fetcher starts over
    parts[0].write_bytes(b"\0" * (len(whole) + 10))
    assert fetcher.download_bytes(url, len(whole)) == whole
    assert not list(tmp_path.glob("*.part"))


def test_disk_full_is_a_result_not_a_crash(lab, monkeypatch):
    """Found by `disk full`: ENOSPC escaped `check()` (first from recovery's journal write).
    Injected here, so it runs where a tmpfs cannot be mounted."""
    import errno

    from litefleet.device import store as store_mod

    lab.publish("v1", 1)
    home = lab.device("enospc", direct=True)
    assert Agent(home).check().active_version == 1
    lab.publish("v2", 2)

    def full(*_a, **_k):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(store_mod.ModelStore, "commit", full)
    monkeypatch.setattr("litefleet.device.agent.atomic_write_json", full)
    r = Agent(home).check()
    assert (r.action, r.completed, r.active_version) == ("error", False, 1), r
    assert "No space" in r.reason
    monkeypatch.undo()
    assert not lab.store_problem(home, expect=1)
    assert Agent(home).check().active_version == 2
