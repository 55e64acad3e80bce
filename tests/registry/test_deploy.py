"""`litefleet deploy nginx`: the written nginx.conf, run by real nginx, answers the static
tree like the Python server (types, caching, ETag, Range, nothing hidden), proxies a
device's reports, and keeps every operator path off the devices' listener."""

from __future__ import annotations

import http.client
import os
from pathlib import Path

import httpx
import pytest

from litefleet.registry.deploy import NginxSite, write_nginx
from litefleet.registry.tokens import DeviceTokens
from litefleet.testing.operators import operator_headers
from litefleet.testing.services import NginxServer, free_port

from .conftest import MODEL

pytestmark = pytest.mark.skipif(
    not Path("/usr/sbin/nginx").exists() and os.system("command -v nginx >/dev/null") != 0,
    reason="needs nginx (.ci/run installs it with apt-get)",
)


def _raw(url: str, path: str, method: str = "GET") -> int:
    """The status for `path` sent exactly as written (no client-side normalisation)."""
    host, port = url.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=10)
    try:
        conn.putrequest(method, path, skip_accept_encoding=True)
        conn.endheaders()
        return conn.getresponse().status
    finally:
        conn.close()


def _site(repo, api_url: str, prefix: Path) -> tuple[Path, int, str]:
    """nginx.conf for `repo` on free ports: (file, devices' port, operator URL)."""
    port, ops = free_port(), free_port()
    conf = write_nginx(
        NginxSite(
            repo=repo.path,
            listen=f"127.0.0.1:{port}",
            operator_listen=f"127.0.0.1:{ops}",
            api=api_url,
            prefix=prefix,
            user="root" if os.geteuid() == 0 else None,
        )
    )
    return conf, port, f"http://127.0.0.1:{ops}"


def test_nginx_serves_like_the_python_server(published, serve, tmp_path):
    api = serve(published)
    conf, port, _ = _site(published, api.url, tmp_path / "nginx")
    (published.metadata_dir / ".timestamp.json.tmp").write_text("{}")  # a write in flight
    name = next(p for p in published.load("targets").signed.targets if p.endswith(".tflite"))
    model = published.target_file(name)
    assert model is not None
    model_path = "/targets/" + str(model.relative_to(published.targets_dir))
    with NginxServer(conf, port) as web:
        for path in ("/metadata/timestamp.json", "/metadata/1.root.json", model_path):
            ours, theirs = httpx.get(api.url + path), httpx.get(web.url + path)
            assert theirs.status_code == 200 and theirs.content == ours.content, path
            for header in ("content-type", "cache-control"):
                assert theirs.headers[header] == ours.headers[header], (path, header)
        ts = httpx.get(f"{web.url}/metadata/timestamp.json")
        again = httpx.get(
            f"{web.url}/metadata/timestamp.json", headers={"If-None-Match": ts.headers["etag"]}
        )
        assert again.status_code == 304
        whole = model.read_bytes()
        part = httpx.get(web.url + model_path, headers={"Range": "bytes=10-"})
        assert part.status_code == 206 and part.content == whole[10:]
        for path in (
            "/metadata/.timestamp.json.tmp",
            "/keys/tokens.json",
            "/metadata/../keys/tokens.json",
            "/metadata/%2e%2e/litefleet.json",
            "/telemetry.db",
            "/litefleet.json",
        ):
            assert _raw(web.url, path) in (400, 404), path
        # /v1/ reaches the API: a device's own token through nginx
        token = DeviceTokens(published.keys.path).issue("cam-1")
        body = {"events": [{"type": "heartbeat", "model": MODEL, "version": 1, "time": 1e9}]}
        r = httpx.post(
            f"{web.url}/v1/devices/cam-1/events",
            json=body,
            headers={"Authorization": f"Bearer {token}"},
        )
        assert r.status_code == 202
        forged = httpx.post(
            f"{web.url}/v1/devices/cam-2/events",
            json=body,
            headers={"Authorization": f"Bearer {token}"},
        )
        assert forged.status_code == 403
        # an ordinary poll writes no error line: python-tuf asks for the next root.json
        assert httpx.get(f"{web.url}/metadata/2.root.json").status_code == 404
    errors = (tmp_path / "nginx" / "logs" / "error.log").read_text()
    assert "2.root.json" not in errors and "[error]" not in errors, errors


OPERATOR_PATHS = [
    ("GET", "/"),
    ("GET", "/login"),
    ("GET", "/console/"),
    ("GET", "/console/models/digits"),
    ("GET", "/v1/fleet"),
    ("GET", "/v1/fleet?tag=x"),
    ("GET", "/v1/halts"),
    ("GET", "/v1/operator/models"),
    ("POST", "/v1/operator/rollout"),
    ("POST", "/v1/operator/digits/1/pause"),
    ("GET", "/metrics"),
    ("GET", "/docs"),
    ("GET", "/openapi.json"),
    ("GET", "/v1/devices/cam-1/events"),  # a device path, but not a device's method
    ("POST", "/v1/devices/cam-1/other"),
    ("POST", "/v1//fleet"),
    ("GET", "/V1/FLEET"),
    ("GET", "/metadata/../v1/fleet"),
    ("GET", "/healthz/../v1/halts"),
]


def test_devices_listener_exposes_no_operator_endpoint(repo, serve, tmp_path):
    """Attack: every operator path, and tricks to reach one, sent to the devices' listener;
    the same paths on the operator listener reach the API (whatever the API answers)."""
    api = serve(repo)
    conf, port, ops = _site(repo, api.url, tmp_path / "nginx")
    with NginxServer(conf, port) as web, httpx.Client(timeout=10) as client:
        for method, path in OPERATOR_PATHS:
            answer = _raw(web.url, path, method)
            assert answer in (400, 403, 404, 405), (method, path, answer)
        for method, path in OPERATOR_PATHS[:13]:
            direct = client.request(method, api.url + path).status_code
            via_ops = client.request(method, ops + path).status_code
            assert via_ops == direct, (method, path, via_ops, direct)
        # behind the operator listener, the operator auth still holds
        assert client.get(f"{ops}/v1/fleet").status_code == 401
        assert client.get(f"{ops}/v1/fleet", headers=operator_headers(repo)).status_code == 200
        assert client.get(f"{web.url}/healthz").json()["ok"] is True  # liveness stays
        assert client.get(f"{web.url}/metadata/timestamp.json").status_code == 200


def test_deploy_refuses_bad_options(repo, tmp_path):
    from litefleet.errors import UserError

    for listen, api in (("8080", "http://127.0.0.1:8000"), ("127.0.0.1:80", "ftp://x")):
        with pytest.raises(UserError):
            write_nginx(NginxSite(repo.path, listen, api, tmp_path / "n"))
    with pytest.raises(UserError, match="its own port"):
        write_nginx(
            NginxSite(
                repo.path, "0.0.0.0:8080", "http://127.0.0.1:8000", tmp_path / "n", "127.0.0.1:8080"
            )
        )
    with pytest.raises(UserError, match="not a litefleet repository"):
        write_nginx(NginxSite(tmp_path, "127.0.0.1:80", "http://127.0.0.1:8000", tmp_path / "n"))
