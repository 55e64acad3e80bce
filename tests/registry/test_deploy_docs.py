"""docs/deploy.md's commands, run as written, against a fresh PostgreSQL and nginx.

The blocks marked `<!-- runnable: fleet -->` run in order in one bash (`set -euo
pipefail`), in a fresh folder holding `out/build` (a real build folder made from the tiny
models), with the machine's `initdb`, `pg_ctl` and `nginx`: `litefleet deploy postgres`
makes the cluster, `serve --workers` runs on it, nginx in front, and a device installs the
release through nginx. Only the ports are chosen by the test (free ones, through the
page's own `WEB_PORT`/`OPS_PORT`/`API_PORT` variables). Skipped, naming what is missing, without
PostgreSQL or nginx (`.ci/run` installs them).
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import tempfile
from pathlib import Path

import pytest

from litefleet.testing.services import free_port, missing
from tests.docsrunner import ROOT, add_build, marked_blocks, page_env, run_blocks

PAGE = ROOT / "docs" / "deploy.md"
MARKER = "<!-- runnable: fleet -->"

pytestmark = pytest.mark.skipif(
    bool(missing()) or shutil.which("curl") is None,
    reason=f"needs {', '.join(missing()) or 'curl'} (see .ci/run)",
)


def fleet_blocks(page: Path) -> list[str]:
    return marked_blocks(page, MARKER, fence=re.compile(r"^```bash"))


def test_the_page_marks_its_stand_up_and_stop_blocks():
    blocks = fleet_blocks(PAGE)
    assert len(blocks) == 2
    assert "litefleet deploy postgres pg/" in blocks[0] and "--stop" in blocks[1]


@pytest.fixture
def work(tmp_path: Path):
    """The page's folder. Not under pytest's basetemp: every pytest session on the machine
    resets /tmp/pytest-of-USER to 0700, and as root the postgres user must reach pg/."""
    folder = Path(tempfile.mkdtemp(prefix="litefleet-deploy-docs-"))
    folder.chmod(0o711)
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def test_deploy_md_runs_verbatim(tmp_path: Path, work: Path):
    add_build(work, tmp_path / "lab")
    env = page_env(
        WEB_PORT=str(free_port()),
        API_PORT=str(free_port()),
        OPS_PORT=str(free_port()),
        COLUMNS="200",  # the fleet table on one line per release
    )
    env.pop("LITEFLEET_OFFLINE_KEYS_DIR", None)
    try:
        returncode, out = run_blocks(fleet_blocks(PAGE), work, env)
    finally:  # whatever the page left running if it failed half-way
        if (work / "nginx" / "nginx.pid").exists():
            pid = int((work / "nginx" / "nginx.pid").read_text())
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGQUIT)
        if (work / "pg" / "data").is_dir():
            from litefleet.registry.postgres import stop_cluster

            with contextlib.suppress(Exception):
                stop_cluster(work / "pg")
    assert returncode == 0, f"deploy.md failed:\n{out[-5000:]}"
    assert "installed: active 1" in out, out[-3000:]
    running = [line for line in out.splitlines() if "digits" in line and "100% active" in line]
    assert running and running[0].split("│")[4].strip() == "1", out[-3000:]  # 1 device runs it
    url = (work / "pg" / "url").read_text()
    assert url.startswith("postgresql+psycopg://litefleet:") and "@127.0.0.1:" in url
    assert oct((work / "pg" / "url").stat().st_mode & 0o777) == "0o600"
    # the device's events reached PostgreSQL through nginx and the workers: nothing in SQLite
    assert not (work / "repo" / "telemetry.db").exists()
