"""Run a docs page's marked shell blocks verbatim: the one runner of every docs test.

A block is marked when the line just before its ```bash fence is the marker comment. The
marked blocks of a page run in order, in one bash (`set -euo pipefail`) in its own process
group, in a folder that holds `out/build`, a build folder in the real format made from the
tiny models; whatever the page left running is stopped at the end.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FENCE = re.compile(r"^```(bash|sh)\s*$")


def marked_blocks(page: Path, marker: str, fence: re.Pattern[str] = FENCE) -> list[str]:
    """The body of every block that `marker` precedes, in page order."""
    lines = page.read_text().splitlines()
    blocks = []
    for i, line in enumerate(lines):
        if line.strip() != marker:
            continue
        assert i + 1 < len(lines) and fence.match(lines[i + 1]), (
            f"{page.name}:{i + 1}: {marker} must come right before a ```bash block"
        )
        end = next(j for j in range(i + 2, len(lines)) if lines[j].startswith("```"))
        blocks.append("\n".join(lines[i + 2 : end]))
    return blocks


def add_build(work: Path, lab_dir: Path) -> None:
    """Put a real build folder at `work/out/build` (the pages' "a folder from `litefleet
    build`", without the minutes a build takes)."""
    from litefleet.testing.lab import Lab

    (work / "out").mkdir(parents=True)
    shutil.copytree(Lab(lab_dir).build("v1"), work / "out" / "build")


def page_env(**extra: str) -> dict[str, str]:
    """This environment, with this venv's `litefleet` first on PATH and this checkout's code."""
    return {
        **os.environ,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
        "PYTHONPATH": str(ROOT / "src"),
        **extra,
    }


def run_blocks(
    blocks: list[str], cwd: Path, env: dict[str, str], timeout: float = 600
) -> tuple[int, str]:
    """Run `blocks` as one script; its exit code and its output (stdout and stderr)."""
    proc = subprocess.Popen(
        ["bash", "-euo", "pipefail", "-c", "\n".join(blocks)],
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        out, _ = proc.communicate(timeout=timeout)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)  # the servers the page started
    return proc.returncode, out
