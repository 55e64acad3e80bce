"""Every shell block marked runnable in README.md and docs/*.md runs verbatim.

A block is runnable when the line just before its ```bash fence is `<!-- runnable -->`.
The blocks of one page run in order, in one bash (`set -euo pipefail`), in a fresh folder
that holds `out/build`, a build folder in the real format (made from the selftest's tiny
models: the pages say "with a build folder from `litefleet build`", which takes minutes).
Background processes a page starts (`litefleet serve … &`) are stopped at the end.
Other blocks stay illustrative (a `make test` inside the tests would recurse).
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

import pytest

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
MARKER = "<!-- runnable -->"
FENCE = re.compile(r"^```(bash|sh)\s*$")


def runnable_blocks(page: Path) -> list[str]:
    lines = page.read_text().splitlines()
    blocks = []
    for i, line in enumerate(lines):
        if line.strip() != MARKER:
            continue
        assert i + 1 < len(lines) and FENCE.match(lines[i + 1]), (
            f"{page.name}:{i + 1}: {MARKER} must come right before a ```bash block"
        )
        end = next(j for j in range(i + 2, len(lines)) if lines[j].startswith("```"))
        blocks.append("\n".join(lines[i + 2 : end]))
    return blocks


def test_markers_precede_bash_blocks_and_the_device_page_has_some():
    counts = {page.name: len(runnable_blocks(page)) for page in PAGES}
    assert counts["device.md"] >= 3, counts


def test_the_settings_table_is_the_code_s():
    from litefleet.device.policy import settings_markdown

    assert settings_markdown() in (ROOT / "docs" / "device.md").read_text()


@pytest.mark.parametrize("page", [p for p in PAGES if runnable_blocks(p)], ids=lambda p: p.name)
def test_runnable_blocks_run_verbatim(page: Path, tmp_path: Path):
    from litefleet.testing.lab import Lab

    work = tmp_path / "work"
    (work / "out").mkdir(parents=True)
    shutil.copytree(Lab(tmp_path / "lab").build("v1"), work / "out" / "build")
    script = "\n".join(runnable_blocks(page))
    env = {
        **os.environ,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
        "PYTHONPATH": str(ROOT / "src"),
    }
    proc = subprocess.Popen(
        ["bash", "-euo", "pipefail", "-c", script],
        cwd=work,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        out, _ = proc.communicate(timeout=600)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)  # the servers the page started
    assert proc.returncode == 0, f"{page.name} failed:\n{out[-5000:]}"
