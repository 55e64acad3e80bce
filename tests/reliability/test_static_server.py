"""The lab's standard-library server (`litefleet.testing.static_server`), which serves the
repository when `litefleet selftest` runs in a device-only install: the HTTP it must get
right for an agent (Range, ETag, no way out of the repository, the telemetry sink), and the
selftest scenarios running on it with the server packages made impossible to import."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import httpx
import pytest

from litefleet.release import EventBatch, TelemetryEvent
from litefleet.testing.lab import Lab
from litefleet.testing.static_server import StaticRepoServer


@pytest.fixture
def static_lab(tmp_path):
    with Lab(tmp_path / "lab", server="static") as lab:
        yield lab


def test_files_with_etag_and_range(static_lab):
    assert isinstance(static_lab.server, StaticRepoServer)
    static_lab.publish("v1", 1)
    base = static_lab.server.url
    ts = httpx.get(f"{base}/metadata/timestamp.json")
    assert ts.status_code == 200 and ts.content == static_lab.metadata("timestamp.json")
    assert ts.headers["cache-control"] == "no-cache"
    etag = {"If-None-Match": ts.headers["etag"]}
    again = httpx.get(f"{base}/metadata/timestamp.json", headers=etag)
    assert again.status_code == 304 and again.content == b""

    path = next(p for p in static_lab.repo.targets_dir.rglob("*.npz"))
    url = f"{base}/targets/{path.relative_to(static_lab.repo.targets_dir).as_posix()}"
    whole = path.read_bytes()
    assert httpx.get(url).content == whole
    part = httpx.get(url, headers={"Range": "bytes=10-19"})
    assert part.status_code == 206 and part.content == whole[10:20]
    assert part.headers["content-range"] == f"bytes 10-19/{len(whole)}"
    tail = httpx.get(url, headers={"Range": "bytes=100-"})
    assert tail.status_code == 206 and tail.content == whole[100:]
    last = httpx.get(url, headers={"Range": "bytes=-7"})
    assert last.status_code == 206 and last.content == whole[-7:]
    beyond = httpx.get(url, headers={"Range": f"bytes={len(whole)}-"})
    assert beyond.status_code == 416 and beyond.headers["content-range"] == f"bytes */{len(whole)}"
    head = httpx.head(url)
    assert head.status_code == 200 and head.headers["content-length"] == str(len(whole))


def test_nothing_outside_metadata_and_targets(static_lab):
    (static_lab.repo.metadata_dir / ".timestamp.json.tmp").write_text("{}")
    (static_lab.repo.targets_dir / "escape").symlink_to(static_lab.repo.path / "keys")
    with httpx.Client(base_url=static_lab.server.url) as client:
        for raw in (
            "/metadata/../keys/tokens.json",
            "/metadata/%2e%2e/keys/tokens.json",
            "/targets/escape/tokens.json",
            "/metadata/.timestamp.json.tmp",
            "/keys/tokens.json",
            "/metadata/",
            "/metadata/nope.json",
        ):
            r = client.send(client.build_request("GET", raw))
            assert r.status_code == 404, (raw, r.status_code, r.text)
    assert httpx.get(f"{static_lab.server.url}/healthz").json() == {"ok": True}


def test_telemetry_sink_checks_the_token_and_the_body(static_lab):
    url = f"{static_lab.server.url}/v1/devices/d-1/events"
    event = TelemetryEvent(type="installed", model="selftest", version=1, time=1.0)
    body = EventBatch(events=[event]).model_dump_json()
    token = static_lab.token_for("d-1")
    auth = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    ok = httpx.post(url, content=body, headers=auth)
    assert ok.status_code == 202 and ok.json() == {"stored": 1}
    assert static_lab.server.events == [("d-1", event)]
    wrong = {**auth, "Authorization": "Bearer not-a-token"}
    assert httpx.post(url, content=body, headers=wrong).status_code == 401
    assert httpx.post(url, content=body).status_code == 401
    other = f"{static_lab.server.url}/v1/devices/d-2/events"
    assert httpx.post(other, content=body, headers=auth).status_code == 403  # not its device
    assert httpx.post(url, content=b"{not json", headers=auth).status_code == 422
    bad_id = f"{static_lab.server.url}/v1/devices/-bad/events"
    assert httpx.post(bad_id, content=body, headers=auth).status_code == 422
    huge = httpx.post(url, content=b"x" * (300 * 1024), headers=auth)
    assert huge.status_code == 413
    assert len(static_lab.server.events) == 1


def test_selftest_runs_with_the_server_packages_unimportable(tmp_path):
    """What a device-only install does: the lab falls back to the static server by itself.
    (The scenarios themselves run on it in a real device-only venv:
    tests/device/test_device_only_install.py::test_selftest_runs_in_the_device_only_venv.)"""
    code = textwrap.dedent(
        f"""
        import importlib.abc, json, sys

        class _NoServer(importlib.abc.MetaPathFinder):
            BLOCKED = ("fastapi", "starlette", "uvicorn", "sqlalchemy", "prometheus_client",
                       "tensorflow", "tf_keras")

            def find_spec(self, name, path=None, target=None):
                if name.split(".")[0] in self.BLOCKED:
                    raise ModuleNotFoundError(f"No module named {{name!r}}", name=name)
                return None

        sys.meta_path.insert(0, _NoServer())
        from litefleet.testing.lab import Lab
        with Lab({str(tmp_path / "probe")!r}) as lab:
            kind = type(lab.server).__name__
            lab.publish("v1", 1)
        blocked = [m for m in sys.modules if m.split(".")[0] in _NoServer.BLOCKED]
        print(json.dumps({{"server": kind, "loaded": blocked}}))
        """
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    data = json.loads(out.stdout.strip().splitlines()[-1])
    assert data["server"] == "StaticRepoServer" and data["loaded"] == []
