"""A fresh venv with only `litefleet[device]`, installed from this checkout as a user would
(`pip install '/path/to/litefleet[device]'`): the agent commands work against an update
server run from the full install, TensorFlow cannot be imported there, and commands that
need another extra say which one in one line.

The venv is cached by the hash of pyproject.toml (only litefleet itself is reinstalled on
each run), so the network is needed once; pip's own cache makes a rebuild cheap.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]


def _run(*args, timeout: float = 600, **kw) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    return subprocess.run(
        [str(a) for a in args], capture_output=True, text=True, timeout=timeout, env=env, **kw
    )


@pytest.fixture(scope="session")
def device_venv(request, tmp_path_factory) -> Path:
    key = hashlib.sha256((ROOT / "pyproject.toml").read_bytes()).hexdigest()[:12]
    cache = getattr(request.config, "cache", None)  # None with -p no:cacheprovider
    name = f"litefleet-device-venv-{key}"
    venv = Path(cache.mkdir(name)) if cache else tmp_path_factory.mktemp(name)
    py = venv / "bin" / "python"
    if not (venv / "ready").exists():
        shutil.rmtree(venv)
        made = _run(sys.executable, "-m", "venv", venv)
        assert made.returncode == 0, made.stderr
        deps = _run(py, "-m", "pip", "install", "-q", f"{ROOT}[device]")
        if deps.returncode != 0:
            pytest.fail(f"pip install '{ROOT}[device]' failed:\n{deps.stderr[-3000:]}")
        (venv / "ready").write_text("ok")
        return venv  # just installed from this checkout
    # this checkout's code, not a stale copy: reinstall litefleet itself (no deps)
    again = _run(py, "-m", "pip", "install", "-q", "--no-deps", "--force-reinstall", ROOT)
    assert again.returncode == 0, again.stderr[-3000:]
    return venv


def test_device_only_venv_runs_the_agent_against_a_full_server(
    device_venv, registry, build, data, tmp_path
):
    bin_ = device_venv / "bin"
    lf = bin_ / "litefleet"

    blocked = _run(bin_ / "python", "-c", "import tensorflow")
    assert blocked.returncode != 0 and "No module named 'tensorflow'" in blocked.stderr

    registry.publish(build("v1"), 1)
    home = tmp_path / "home"
    init = _run(
        lf, "agent", "init", "--home", home, "--server", registry.url,
        "--root", registry.root, "--model", "blobs", "--device-id", "edge-1",
        "--token", registry.token_for("edge-1"),
    )  # fmt: skip
    assert init.returncode == 0, init.stderr
    check = _run(lf, "agent", "check", "--home", home, "--json")
    assert check.returncode == 0, check.stderr
    assert json.loads(check.stdout)["action"] == "installed"

    x, _ = data
    np.save(tmp_path / "x.npy", x[:4])
    pred = _run(lf, "agent", "predict", tmp_path / "x.npy", "--home", home)
    assert pred.returncode == 0, pred.stderr
    assert json.loads(pred.stdout)["version"] == 1
    status = _run(lf, "agent", "status", "--home", home, "--json")
    assert status.returncode == 0 and json.loads(status.stdout)["active"] == 1

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    proc = subprocess.Popen(
        [str(lf), "agent", "serve", "--home", str(home), "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
    )
    try:
        url = f"http://127.0.0.1:{port}"
        for _ in range(200):
            try:
                httpx.get(f"{url}/healthz", timeout=1)
                break
            except httpx.HTTPError:
                time.sleep(0.1)
        r = httpx.post(f"{url}/v1/predict", json={"inputs": x[:2].tolist()}, timeout=10)
        assert r.status_code == 200 and r.json()["version"] == 1, r.text
    finally:
        proc.terminate()
        proc.wait(10)

    for args, extra in (
        (["build"], "pipeline"),
        (["serve", registry.path], "server"),
        (["simulate"], "server"),
    ):
        out = _run(lf, *args)
        lines = out.stderr.strip().splitlines()
        assert out.returncode == 2, (args, out.stderr)
        assert len(lines) == 1 and f"needs `litefleet[{extra}]`" in lines[0], (args, out.stderr)


def test_selftest_runs_in_the_device_only_venv(device_venv, tmp_path):
    """No FastAPI/uvicorn there: the lab signs with `cryptography` (in the device extra), serves
    the repository with the standard library and plays the attacker through the stdlib proxy."""
    py = device_venv / "bin" / "python"
    absent = _run(py, "-c", "import fastapi")
    assert absent.returncode != 0 and "No module named 'fastapi'" in absent.stderr
    for module in ("starlette", "uvicorn", "sqlalchemy", "tensorflow"):
        assert _run(py, "-c", f"import {module}").returncode != 0, module

    out = _run(device_venv / "bin" / "litefleet", "selftest", "--json", "--workdir", tmp_path)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    report = json.loads(out.stdout)
    small = {"crash loop": 1, "stuck server": 2}  # a few slow trials each (issue 9)
    assert set(report) == {
        "crash injection (SIGKILL)",
        "attacks through the proxy",
        "bad releases",
        "network faults",
        *small,
    }
    for name, tally in report.items():
        assert tally["failures"] == [] and tally["trials"] >= small.get(name, 8), (name, tally)
    assert report["network faults"]["notes"].get("downloads resumed with Range", 0) >= 1
