"""`litefleet demo` end to end: real builds, server, agent processes and app; it checks
its own outcome, so exit code 0 means every step of the story behaved."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest


@pytest.mark.slow
def test_demo_runs_the_whole_story(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "litefleet", "demo", "--quick", "--workdir", str(tmp_path / "w")],
        capture_output=True,
        text=True,
        timeout=900,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "COLUMNS": "160"},
    )
    tail = result.stdout[-4000:] + result.stderr[-2000:]
    assert result.returncode == 0, tail
    assert re.search(r"all \d+ checks passed", result.stdout), tail
    report = (tmp_path / "w" / "demo-report.html").read_text()
    assert "<img src='data:image/png;base64," in report
    assert " 0 failed" in report
    # the demo leaves no process behind
    leftover = subprocess.run(["pgrep", "-f", str(tmp_path)], capture_output=True, text=True)
    assert leftover.stdout.strip() == "", leftover.stdout
