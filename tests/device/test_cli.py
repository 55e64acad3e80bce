"""The `agent` commands run with TensorFlow unimportable; `serve` answers over HTTP."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time

import httpx

from litefleet.device.agent import Agent

from .test_e2e import RUNNER, cli


def test_every_agent_command_loads_without_tensorflow():
    for cmd in ("init", "check", "run", "status", "rollback", "unblock", "predict", "serve"):
        out = cli(cmd, "--help")
        assert out.returncode == 0, (cmd, out.stderr)
    out = cli(
        "init",
        "--home",
        "/nonexistent/x",
        "--server",
        "http://h",
        "--root",
        "/no.json",
        "--model",
        "m",
    )
    assert out.returncode == 2 and "root metadata not found" in out.stderr


def test_a_policy_that_is_not_a_json_object_is_one_line(tmp_path):
    base = ("init", "--home", tmp_path / "h", "--server", "http://h", "--root", "/no.json")
    for policy, expected in (
        ("{", "--policy is not JSON: "),
        ("[1]", "--policy must be a JSON object of settings"),
    ):
        out = cli(*base, "--model", "m", "--policy", policy)
        assert out.returncode == 2 and expected in out.stderr, out.stderr
        assert out.stderr.count("\n") == 1, out.stderr
    assert not (tmp_path / "h").exists()


def test_serve_predicts_over_http_and_follows_activation(registry, device, build, data):
    x, _ = data
    registry.publish(build("v1"), 1)
    home = device("srv")
    Agent(home).check()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen(
        [
            sys.executable,
            str(RUNNER),
            "--block-tf",
            "agent",
            "serve",
            "--home",
            str(home),
            "--port",
            str(port),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        url = f"http://127.0.0.1:{port}"
        for _ in range(100):
            try:
                httpx.get(f"{url}/healthz", timeout=1)
                break
            except httpx.HTTPError:
                time.sleep(0.1)
        r = httpx.post(f"{url}/v1/predict", json={"inputs": x[:3].tolist()}, timeout=5)
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["version"] == 1 and [len(v) for v in body["outputs"].values()] == [3]
        # TF Serving's row form answers the same batch
        rows = httpx.post(f"{url}/v1/predict", json={"instances": x[:3].tolist()}, timeout=5)
        assert rows.json()["outputs"] == body["outputs"]
        doc = httpx.get(f"{url}/openapi.json", timeout=5).json()
        response = doc["paths"]["/v1/predict"]["post"]["responses"]["200"]["content"]
        outputs = response["application/json"]["schema"]["properties"]["outputs"]
        assert outputs["required"] == list(body["outputs"])
        registry.publish(build("v2"), 2)
        assert Agent(home).check().active_version == 2
        r = httpx.post(f"{url}/v1/predict", json={"inputs": x[0].tolist()}, timeout=5)
        assert r.json()["version"] == 2
        bad = httpx.post(f"{url}/v1/predict", json={"inputs": [[1, 2]]}, timeout=5)
        assert bad.status_code == 422 and "does not match" in bad.json()["error"]
        assert json.loads(httpx.get(f"{url}/v1/status").text)["swaps"] >= 2
        # wrong bodies and methods get a clear answer
        r = httpx.post(f"{url}/v1/predict", content=b"{not json", timeout=5)
        assert r.status_code == 400 and "not JSON" in r.json()["error"]
        r = httpx.post(f"{url}/v1/predict", json={"input": [1.0]}, timeout=5)
        assert r.status_code == 422 and 'missing "inputs"' in r.json()["error"]
        r = httpx.post(f"{url}/v1/predict", json={"inputs": [[1, "a"]]}, timeout=5)
        assert r.status_code == 422 and "numbers" in r.json()["error"]
        r = httpx.get(f"{url}/v1/predict", timeout=5)
        assert r.status_code == 405 and r.headers["allow"] == "POST"
        doc = httpx.get(f"{url}/openapi.json", timeout=5).json()
        assert doc["openapi"].startswith("3.") and "post" in doc["paths"]["/v1/predict"]
        # /v1/status names the version active now, before any predict has run on it
        registry.publish(build("v3"), 3)
        assert Agent(home).check().active_version == 3
        assert httpx.get(f"{url}/v1/status", timeout=5).json()["version"] == 3
    finally:
        proc.terminate()
        proc.wait(10)
