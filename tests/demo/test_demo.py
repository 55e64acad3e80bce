"""`litefleet demo` end to end: real builds, server, agent processes and app; it checks
its own outcome, so exit code 0 means every step of the story behaved."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

CLAIMS = [
    ("publish", "the first publish set the model&#x27;s quality floor"),
    ("stages", "the server promoted v2 20 % → 50 % by itself"),
    ("stages", "the server promoted v2 50 % → 100 % by itself"),
    ("stages", "v2 reached 100 % with no operator command"),
    ("bad release", "publish refuses v3 by the quality rules"),
    ("bad release", "devices that tried v3 refused it at the health gate: below the model"),
    ("bad on live", "publish accepts v4 (never answers 8 or 9)"),
    ("bad on live", "each device that installed v4 passed its gate, then its live canary"),
    ("bad on live", "the server&#x27;s canary judge paused v4 fleet-wide by itself"),
]
"""(step, start of the claim) of the checks the demo must show passed."""


def test_the_demo_never_sets_the_accuracy_a_device_requires():
    """The quality rules, not a hand-picked `--min-accuracy`, stop the bad releases."""
    import litefleet.demo

    for source in Path(litefleet.demo.__file__).parent.glob("*.py"):
        text = source.read_text()
        assert '"--min-accuracy"' not in text, source.name  # as a command's argument
        assert "min_accuracy" not in text, source.name


@pytest.mark.slow
def test_demo_runs_the_whole_story(tmp_path):
    """Without --workdir, as `make demo` runs it from a repository: the current folder gets
    nothing, the temporary work folder goes, the report it names stays."""
    here, tmp = tmp_path / "here", tmp_path / "tmp"
    here.mkdir()
    tmp.mkdir()
    result = subprocess.run(
        [sys.executable, "-m", "litefleet", "demo", "--quick"],
        capture_output=True,
        text=True,
        timeout=900,
        cwd=here,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "COLUMNS": "160", "TMPDIR": str(tmp)},
    )
    tail = result.stdout[-4000:] + result.stderr[-2000:]
    assert result.returncode == 0, tail
    assert re.search(r"all \d+ checks passed", result.stdout), tail
    assert list(here.iterdir()) == [], "the demo left files in the current folder"
    left = [p for p in tmp.glob("litefleet-demo-*") if p.is_dir()]
    assert not left, f"the temporary work folder is still there: {left}"
    named = re.search(r"report: (\S+\.html)", result.stdout)
    assert named, tail
    report = Path(named.group(1)).read_text()
    assert Path(named.group(1)).parent == tmp
    assert "<img src='data:image/png;base64," in report
    assert " 0 failed" in report
    for claim in CLAIMS:  # issue 20: each one a passed check of the story, in the report
        assert f"<td>✔</td><td>{claim[0]}</td><td>{claim[1]}" in report, claim
    assert "<td>✘</td>" not in report
    # the demo leaves no process behind
    leftover = subprocess.run(["pgrep", "-f", str(tmp_path)], capture_output=True, text=True)
    assert leftover.stdout.strip() == "", leftover.stdout


PREBUILT_DEMO = """
import shutil
import sys
from pathlib import Path

from litefleet.demo import story

PREBUILT = Path(sys.argv.pop(1))


def prebuilt(run, name, **overrides):
    out = run.workdir / "builds" / name
    shutil.copytree(PREBUILT, out)
    run.builds[name] = out
    return out


story.step_build = prebuilt
from litefleet.cli import main

main()
"""
"""`litefleet demo` whose build step copies a finished build: the interrupt is the subject, and
the whole story (its real builds included) runs in `test_demo_runs_the_whole_story`."""


@pytest.mark.slow
def test_ctrl_c_stops_every_process_the_demo_started(tmp_path, build_factory):
    """SIGINT while the agents run: the demo stops the server, the agents and the app."""
    import signal
    import time

    work = tmp_path / "w"
    launcher = tmp_path / "prebuilt_demo.py"
    launcher.write_text(PREBUILT_DEMO)
    prebuilt = str(build_factory("v1"))
    demo = subprocess.Popen(
        [sys.executable, str(launcher), prebuilt, "demo", "--quick", "--workdir", str(work)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"},
    )
    app_log = work / "logs" / "app.log"
    deadline = time.monotonic() + 600
    while not app_log.exists() and demo.poll() is None and time.monotonic() < deadline:
        time.sleep(0.5)
    assert app_log.exists(), "the demo never got as far as starting the app"
    children = subprocess.run(["pgrep", "-f", str(work)], capture_output=True, text=True)
    assert len(children.stdout.split()) >= 6  # server, five agents (and the app)
    demo.send_signal(signal.SIGINT)
    output, _ = demo.communicate(timeout=120)
    assert demo.returncode != 0
    assert "interrupted" in output
    leftover = subprocess.run(["pgrep", "-f", str(work)], capture_output=True, text=True)
    assert leftover.stdout.strip() == "", leftover.stdout
