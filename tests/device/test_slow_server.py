"""A server that drips one byte a second: a check ends by its own deadlines with an error
naming the timeout, and local commands (rollback, the app) never wait on it."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from litefleet.device.agent import Agent
from litefleet.device.config import load_config, save_config
from litefleet.device.runtime import ModelRuntime
from litefleet.device.store import ModelStore
from litefleet.testing.drip import DripServer

RUNNER = Path(__file__).with_name("cli_runner.py")
METADATA_DEADLINE_S = 3.0
CHECK_DEADLINE_S = 8.0


def _device_on_v2(registry, device, build) -> Path:
    registry.publish(build("v1"), 1)
    home = device("d", metadata_deadline_s=METADATA_DEADLINE_S, check_deadline_s=CHECK_DEADLINE_S)
    Agent(home).check()
    registry.publish(build("v2"), 2)
    assert Agent(home).check().active_version == 2
    return home


def _point_at(home: Path, url: str) -> None:
    save_config(home, load_config(home).model_copy(update={"server": url}))


@pytest.mark.parametrize("where", ["body", "headers"])
def test_drip_check_times_out_and_rollback_does_not_wait(registry, device, build, data, where):
    home = _device_on_v2(registry, device, build)
    with DripServer(interval=1.0, where=where) as drip:
        _point_at(home, drip.url)
        t0 = time.monotonic()
        check = subprocess.Popen(
            [
                sys.executable,
                str(RUNNER),
                "--block-tf",
                "agent",
                "check",
                "--home",
                str(home),
                "--json",
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert drip.wait_for_connection(60), "the check never reached the drip server"
        assert check.poll() is None, "the check is downloading from the drip"
        started = time.monotonic()
        result = Agent(home).rollback()  # the operator, while the check drips
        rollback_s = time.monotonic() - started
        assert check.poll() is None, "the rollback ran while the check was still stuck"
        cli_started = time.monotonic()
        cli = subprocess.run(
            [sys.executable, str(RUNNER), "--block-tf", "agent", "status", "--home", str(home)],
            capture_output=True,
            text=True,
            timeout=60,
        )
        status_s = time.monotonic() - cli_started
        x = data[0][:5]
        assert ModelRuntime(home).predict(x).shape == (5, 3)  # the app answers too
        out, _err = check.communicate(timeout=120)
        check_s = time.monotonic() - t0
    print(f"drip[{where}]: rollback {rollback_s:.3f} s, status CLI {status_s:.2f} s,")
    print(f"  check process {check_s:.2f} s")
    assert result.active_version == 1 and ModelStore(home).active_version() == 1
    # the bound: rollback within 2 s of being started while the check drips
    assert rollback_s < 2.0, rollback_s
    assert cli.returncode == 0, cli.stderr
    r = json.loads(out)
    assert r["action"] == "error" and "timed out" in r["reason"], r
    assert r["seconds"] < CHECK_DEADLINE_S + 5, r  # its own deadline, plus one drip and slack


def test_slow_target_download_has_a_size_aware_deadline(registry, device, build, tmp_path):
    """A target that arrives slower than the minimum throughput is cut at its deadline, and
    the bytes received are kept for a resume."""
    from litefleet.device.resuming_http import DownloadTimeout, ResumingFetcher

    with DripServer(interval=0.2) as drip:
        f = ResumingFetcher(
            partial_dir=tmp_path / "dl",
            resumable_prefix=f"{drip.url}/targets/",
            metadata_deadline_s=1.0,
            min_throughput=1000.0,  # 2000 bytes: 1 + 2 = 3 s
        )
        t0 = time.monotonic()
        url = f"{drip.url}/targets/abc.m.tflite"
        with pytest.raises(DownloadTimeout, match="timed out"), f.download_file(url, 2000):
            pass
        took = time.monotonic() - t0
    assert took < 3.0 + 3.0, took
    parts = list((tmp_path / "dl").glob("*.part"))
    assert parts and parts[0].stat().st_size > 0, "received bytes are kept for a resume"
