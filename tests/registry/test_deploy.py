"""`litefleet deploy nginx`: the written nginx.conf, run by real nginx, answers the static
tree like the Python server (types, caching, ETag, Range, nothing hidden) and proxies /v1/."""

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


def _raw(url: str, path: str) -> int:
    host, port = url.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=10)
    try:
        conn.putrequest("GET", path, skip_accept_encoding=True)
        conn.endheaders()
        return conn.getresponse().status
    finally:
        conn.close()


def test_nginx_serves_like_the_python_server(published, serve, tmp_path):
    api = serve(published)
    port = free_port()
    conf = write_nginx(
        NginxSite(
            repo=published.path,
            listen=f"127.0.0.1:{port}",
            api=api.url,
            prefix=tmp_path / "nginx",
            user="root" if os.geteuid() == 0 else None,
        )
    )
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
        assert httpx.get(f"{web.url}/v1/fleet").status_code == 401, "operator API without auth"
        ok = httpx.get(f"{web.url}/v1/fleet", headers=operator_headers(published))
        assert ok.status_code == 200


def test_deploy_refuses_bad_options(repo, tmp_path):
    from litefleet.errors import UserError

    for listen, api in (("8080", "http://127.0.0.1:8000"), ("127.0.0.1:80", "ftp://x")):
        with pytest.raises(UserError):
            write_nginx(NginxSite(repo.path, listen, api, tmp_path / "n"))
    with pytest.raises(UserError, match="not a litefleet repository"):
        write_nginx(NginxSite(tmp_path, "127.0.0.1:80", "http://127.0.0.1:8000", tmp_path / "n"))
