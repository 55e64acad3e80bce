"""Every shell block marked runnable in README.md and docs/*.md runs verbatim.

A block is runnable when the line just before its ```bash fence is `<!-- runnable -->`.
The blocks of one page run in order, in one bash (`set -euo pipefail`), in a fresh folder
that holds `out/build`, a build folder in the real format (made from the selftest's tiny
models: the pages say "with a build folder from `litefleet build`", which takes minutes).
Background processes a page starts (`litefleet serve … &`) are stopped at the end.
Other blocks stay illustrative (a `make test` inside the tests would recurse).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.docsrunner import ROOT, add_build, marked_blocks, page_env, run_blocks

PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
MARKER = "<!-- runnable -->"


def runnable_blocks(page: Path) -> list[str]:
    return marked_blocks(page, MARKER)


def test_markers_precede_bash_blocks_and_the_device_page_has_some():
    counts = {page.name: len(runnable_blocks(page)) for page in PAGES}
    assert counts["device.md"] >= 3, counts


def test_the_settings_table_is_the_code_s():
    from litefleet.device.policy import settings_markdown

    assert settings_markdown() in (ROOT / "docs" / "device.md").read_text()


@pytest.mark.parametrize("page", [p for p in PAGES if runnable_blocks(p)], ids=lambda p: p.name)
def test_runnable_blocks_run_verbatim(page: Path, tmp_path: Path):
    work = tmp_path / "work"
    add_build(work, tmp_path / "lab")
    returncode, out = run_blocks(runnable_blocks(page), work, page_env())
    assert returncode == 0, f"{page.name} failed:\n{out[-5000:]}"
