"""Disk full during an update: a small tmpfs holds the device home; the update aborts
cleanly, the active model keeps working, and the update completes once space is back."""

from __future__ import annotations

import contextlib
import os
import subprocess
from pathlib import Path

import pytest

from litefleet.device.agent import Agent
from litefleet.selftest.tally import Tally

from .conftest import size


@contextlib.contextmanager
def tmpfs(path: Path, size_bytes: int):
    path.mkdir(parents=True)
    r = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size_bytes}", "tmpfs", str(path)],
        capture_output=True,
        text=True,
    )
    if r.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({r.stderr.strip() or 'not permitted'})")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False)


def _fill(folder: Path, leave: int) -> Path:
    """A filler file that leaves about `leave` bytes free."""
    st = os.statvfs(folder)
    free = st.f_bavail * st.f_frsize
    filler = folder / "filler"
    with open(filler, "wb") as f, contextlib.suppress(OSError):
        f.write(b"\0" * max(0, free - leave))
    return filler


def test_disk_full_during_download(lab, report, tmp_path):
    tally = Tally("disk full during update")
    lab.publish("v1", 1)
    lab.publish("v2", 2)
    leaves = [0, 2048, 8192, 16384, 32768, 49152][: size(4, 6)]
    with tmpfs(tmp_path / "small", 4 << 20) as disk:
        for i, leave in enumerate(leaves):
            home = disk / f"d{i}"
            lab.rollout(2, "percent", 0)
            src = lab.device(f"disk-{i}", direct=True)
            Agent(src).check()  # v1, prepared off the small disk, then moved onto it
            subprocess.run(["cp", "-a", str(src), str(home)], check=True)
            lab.rollout(2, "percent", 100)
            filler = _fill(disk, leave)
            try:
                r = Agent(home).check()
                outcome = r.action
            except OSError as exc:  # the agent must turn this into a result
                outcome = f"raised {type(exc).__name__}: {exc}"
            bad = "" if outcome in ("error", "installed") else outcome
            bad = bad or lab.store_problem(home, expect=2 if outcome == "installed" else 1)
            filler.unlink()
            if not bad:
                r = Agent(home).check()
                bad = lab.store_problem(home, expect=2) or (
                    "" if r.completed else f"after space came back: {r.action} {r.reason}"
                )
            tally.note(f"outcome while full: {outcome}")
            tally.trial(f"{leave} bytes free", not bad, bad)
            lab.rollout(2, "percent", 0)
    report.add(tally)
    assert tally.ok, tally.failures
