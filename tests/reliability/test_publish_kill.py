"""SIGKILL `publish` on the repository side: clients always see a consistent release."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time

from tuf.ngclient import Updater

from litefleet.device.agent import Agent
from litefleet.registry.publish import read_index
from litefleet.registry.repository import Repository
from litefleet.selftest.tally import Tally
from litefleet.testing.lab import MODEL

from .conftest import size

_PUBLISH_LOOP = """
import sys
from litefleet.registry.publish import publish
from litefleet.registry.repository import Repository
repo = Repository(sys.argv[1])
print("ready", flush=True)
for build in sys.argv[2:] * 100:
    publish(repo, build, "selftest", min_accuracy=0.9)
"""


def _tuf_sees_everything(lab, home) -> str:
    """A fresh python-tuf client refreshes and downloads every signed target."""
    (home / "meta").mkdir(parents=True)
    (home / "meta" / "root.json").write_bytes(lab.trusted_root.read_bytes())
    updater = Updater(
        str(home / "meta"),
        f"{lab.server.url}/metadata/",
        str(home),
        f"{lab.server.url}/targets/",
        bootstrap=None,
    )
    updater.refresh()
    for role in ("targets", "rollout"):
        for path in Repository(lab.repo.path).load(role).signed.targets:
            info = updater.get_targetinfo(path)
            if info is None:
                return f"{path} not reachable through TUF"
            updater.download_target(info, str(home / "t"))
    return ""


def test_sigkill_during_publish(lab, report, tmp_path):
    tally = Tally("publish killed (SIGKILL)")
    lab.publish("v1", 1)
    builds = [str(lab.build(name)) for name in ("v2", "v3", "v4")]
    rng = random.Random(2)
    for i in range(size(3, 20)):
        proc = subprocess.Popen(
            [sys.executable, "-c", _PUBLISH_LOOP, str(lab.repo.path), *builds],
            stdout=subprocess.PIPE,
            env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"},
        )
        assert proc.stdout is not None and proc.stdout.readline().strip() == b"ready"
        time.sleep(rng.uniform(0.05, 1.5))
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        bad = ""
        try:
            repo = Repository(lab.repo.path)
            for role in ("targets", "rollout"):
                for path in repo.load(role).signed.targets:
                    if repo.read_target(path) is None:  # raises on a hash mismatch
                        bad = f"{path} missing"
            bad = bad or _tuf_sees_everything(lab, tmp_path / f"client-{i}")
            if not bad:
                latest = max(r.version for r in read_index(repo, MODEL).releases)
                home = lab.device(f"after-kill-{i}", direct=True)
                r = Agent(home).check()
                bad = lab.store_problem(home, expect=latest) or (
                    "" if r.action == "installed" else f"{r.action} {r.reason}"
                )
        except Exception as exc:
            bad = f"{type(exc).__name__}: {exc}"
        tally.trial(f"kill {i}", not bad, bad)
    index = read_index(Repository(lab.repo.path), MODEL)
    tally.note("releases signed by the killed processes", len(index.releases) - 1)
    report.add(tally)
    assert tally.ok, tally.failures
