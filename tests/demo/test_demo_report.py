"""The demo's leftovers, without running the story: where its folders and report go, and
that its report keeps every reason whole and its event labels apart."""

from __future__ import annotations

import re
import tempfile
from pathlib import Path
from types import SimpleNamespace

import pytest
from rich.console import Console

from litefleet.demo import run as demo_run
from litefleet.demo import summary
from litefleet.demo.story import Check, DemoRun
from litefleet.errors import UserError

HASH = "9f" * 32
REASON = f"targets/digits/4/int8.tflite: sha256 {HASH} does not match the signed hash {'ab' * 32}"


def test_workdir_keeps_a_foreign_folder_and_replaces_only_its_own(tmp_path):
    foreign = tmp_path / "home"
    foreign.mkdir()
    (foreign / "thesis.tex").write_text("years of work")
    with pytest.raises(UserError, match="not empty"):
        demo_run.prepare_workdir(foreign)
    assert (foreign / "thesis.tex").read_text() == "years of work"
    earlier = tmp_path / "demo"
    earlier.mkdir()
    (earlier / demo_run.MARK).touch()
    (earlier / "old-log.txt").write_text("x")
    assert demo_run.prepare_workdir(earlier) == earlier and not any(earlier.iterdir())
    assert demo_run.prepare_workdir(tmp_path / "new" / "w").is_dir()


def test_report_without_a_workdir_goes_to_the_temporary_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "tmp"))
    (tmp_path / "tmp").mkdir()
    report = demo_run.kept_report_path()
    assert report.parent == tmp_path / "tmp" and report.name.startswith("litefleet-demo-report-")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["tmp"]  # nothing in the current folder


def _finished_run(tmp_path: Path) -> DemoRun:
    run = DemoRun(
        workdir=tmp_path,
        console=Console(file=open(tmp_path / "console.txt", "w")),  # noqa: SIM115
        processes=None,  # type: ignore[arg-type]
        devices=[SimpleNamespace(name=n) for n in ("gateway", "camera", "kiosk")],  # type: ignore[misc]
        timeout=1,
    )
    for t in range(0, 120, 2):
        version = 1 if t < 40 else 2
        run.timeline.append((float(t), {d.name: version for d in run.devices}))
    for t, what in ((10, "sign v1"), (11, "start the server"), (12, "devices start"), (40, "v2")):
        run.events.append((t, what))
    run.checks.append(Check("tamper", "devices refused the tampered v4 files", True, REASON))
    return run


JUDGED = "judge: 2 devices judged healthy on live traffic (0 failed, agreement 0.993)"
PAUSED = "judge: 3/3 devices' live canaries failed (binomial P = 1.0e-06 < 0.0001)"


def test_report_shows_the_servers_promotions_and_the_judges_verdicts(tmp_path):
    run = _finished_run(tmp_path)
    run.promotions.append(
        {
            "version": 2,
            "from_percent": 20.0,
            "to_percent": 50.0,
            "at": run.wall_started + 31.4,
            "by": "server vm pid 7",
            "reason": JUDGED,
        }
    )
    release = {
        "model": "digits",
        "running": 0,
        "tried": 5,
        "failed": 5,
        "rolled_back": 5,
        "rollout_percent": 100.0,
        "rollout_status": "paused",
        "rollout_reason": PAUSED,
        "judge": "bad",
        "canary_devices": 5,
        "canary_failed": 5,
        "live_agreement": 0.8213,
    }
    fleet = {"releases": [{**release, "version": 4}, {**release, "version": 1, "judge": None}]}
    timeline = [[run.wall_started + t, 1 if t < 30 else 2, t * 10] for t in range(60)]
    app = {
        "requests": 9,
        "failures": 0,
        "swaps": 2,
        "by_version": {"1": 4, "2": 5},
        "devices": {"camera": {"timeline": timeline}},
    }
    page = tmp_path / "report.html"
    summary.write_html(run, page, [], app, fleet)
    text = page.read_text()
    assert "<td>v2</td><td>20 % → 50 %</td><td>31 s</td><td>server vm pid 7</td>" in text
    assert "bad: 5/5 failed, agreement 0.821" in text and "<td>-</td>" in text
    assert text.count("<img src='data:image/png;base64,") == 3  # versions, bytes, apps
    run.console.file.close()
    run.console = Console(file=open(tmp_path / "wide.txt", "w"), width=400)  # noqa: SIM115
    summary.print_summary(run, [], app, fleet)
    run.console.file.close()
    printed = (tmp_path / "wide.txt").read_text()
    assert JUDGED in printed and PAUSED in printed and "bad: 5/5 failed, agreement 0.821" in printed


def test_report_keeps_reasons_whole_and_numbers_the_events(tmp_path):
    run = _finished_run(tmp_path)
    rows = [
        {
            "device": "cam-1",
            "strategy": "smart",
            "role": "camera",
            "history": [1, 2],
            "variant": "int8",
            "bytes_full": 10,
            "bytes_patch": 5,
            "installs": ["v1 full"],
            "v2_via": "patch int8",
            "actions": {"installed": 2, "rejected": 1},
            "reasons": {"rejected v4": REASON},
        }
    ]
    app = {"requests": 3, "failures": 0, "swaps": 1, "by_version": {2: 3}, "timeline": []}
    page = tmp_path / "report.html"
    summary.write_html(run, page, rows, app, {"releases": []})
    text = page.read_text()
    assert text.count(REASON) == 2  # the check's detail and the device's reason, whole
    story = re.search(r"<h2>Story</h2><ol>(.*)</ol>", text)
    assert story and story.group(1).count("<li>") == 4  # numbered like the plot's markers
    assert "<img src='data:image/png;base64," in text
    summary.print_summary(run, rows, app, {"releases": []})  # the rich tables fold, never cut
    run.console.file.close()
    printed = "".join((tmp_path / "console.txt").read_text().replace("│", "").split())
    assert HASH in printed
