"""Operator auth attacked over plain HTTP (the browser tests do it through Chromium): every
operator endpoint refuses no credentials, a device token, a viewer's change, a session
request without or with a wrong CSRF token; device reports refuse an operator token."""

from __future__ import annotations

import re
import time
from pathlib import Path

import httpx
import pytest

from litefleet.registry.operators import OperatorBook
from litefleet.registry.rollout import read_rollout
from litefleet.testing.lab import MODEL, Lab
from litefleet.testing.operators import operator_headers, operator_token

OPERATOR_GETS = (
    "/v1/fleet",
    "/v1/halts",
    "/metrics",
    "/v1/operator/devices",
    "/v1/operator/audit",
    "/v1/operator/alerts",
)
PAUSE = {"model": MODEL, "version": 1, "action": "pause", "reason": "test"}


@pytest.fixture(scope="module")
def lab(tmp_path_factory) -> Lab:
    with Lab(tmp_path_factory.mktemp("console-auth")) as lab:
        lab.publish("v1", 1)
        lab.publish("v2", 2)
        yield lab


def login(lab: Lab, name: str, role: str) -> tuple[httpx.Client, str]:
    """A logged-in console client and its session's CSRF token."""
    secret = operator_token(lab.repo, name, role)
    client = httpx.Client(base_url=lab.server.url, follow_redirects=False)
    form = client.get("/login")
    csrf = re.search(r'name="csrf" value="([^"]+)"', form.text).group(1)
    done = client.post("/login", data={"csrf": csrf, "name": name, "secret": secret})
    assert done.status_code == 303 and done.headers["location"] == "/console"
    page = client.get("/console")
    assert page.status_code == 200
    return client, re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)


def test_no_credentials_no_operator_endpoint(lab):
    for path in OPERATOR_GETS:
        assert httpx.get(f"{lab.server.url}{path}").status_code == 401, path
    for path in ("/v1/operator/rollout", "/v1/operator/pin", "/v1/operator/tags"):
        assert httpx.post(f"{lab.server.url}{path}", json={}).status_code in (401, 422), path
    r = httpx.post(f"{lab.server.url}/v1/operator/rollout", json=PAUSE)
    assert r.status_code == 401
    page = httpx.get(f"{lab.server.url}/console/devices")
    assert page.status_code == 303 and page.headers["location"].startswith("/login")
    assert read_rollout(lab.repo, MODEL).rollouts[1].status == "active"


def test_device_tokens_and_operator_tokens_do_not_cross(lab):
    device_token = lab.token_for("cam-1")
    as_device = {"authorization": f"Bearer {device_token}"}
    for path in OPERATOR_GETS:
        assert httpx.get(f"{lab.server.url}{path}", headers=as_device).status_code == 401
    assert (
        httpx.post(
            f"{lab.server.url}/v1/operator/rollout", json=PAUSE, headers=as_device
        ).status_code
        == 401
    )
    body = {"events": [{"type": "heartbeat", "model": MODEL, "version": 1, "time": time.time()}]}
    as_operator = operator_headers(lab.repo)
    r = httpx.post(f"{lab.server.url}/v1/devices/cam-1/events", json=body, headers=as_operator)
    assert r.status_code == 401, "an operator token is not a device token"
    r = httpx.post(f"{lab.server.url}/v1/devices/cam-1/events", json=body, headers=as_device)
    assert r.status_code == 202


def test_a_viewer_reads_but_cannot_steer(lab):
    viewer = operator_headers(lab.repo, "vera", "viewer")
    assert httpx.get(f"{lab.server.url}/v1/fleet", headers=viewer).status_code == 200
    r = httpx.post(f"{lab.server.url}/v1/operator/rollout", json=PAUSE, headers=viewer)
    assert r.status_code == 403
    client, csrf = login(lab, "vera", "viewer")
    assert "Pause</button>" not in client.get("/console").text
    forged = client.post("/console/actions/rollout", data={**PAUSE, "csrf": csrf, "version": "1"})
    assert forged.status_code == 403
    assert read_rollout(lab.repo, MODEL).rollouts[1].status == "active"


def test_session_changes_need_the_csrf_token(lab):
    client, csrf = login(lab, "olga", "operator")
    form = {**PAUSE, "version": "2", "reason": "csrf test"}
    assert client.post("/console/actions/rollout", data=form).status_code == 403
    assert (
        client.post("/console/actions/rollout", data={**form, "csrf": "x" * 43}).status_code == 403
    )
    r = client.post("/v1/operator/rollout", json={**PAUSE, "version": 2})
    assert r.status_code == 403, "JSON with a session cookie needs X-CSRF-Token too"
    assert read_rollout(lab.repo, MODEL).rollouts[2].status == "active"
    done = client.post("/console/actions/rollout", data={**form, "csrf": csrf})
    assert done.status_code == 303 and "error" not in done.headers["location"]
    assert read_rollout(lab.repo, MODEL).rollouts[2].status == "paused"
    r = client.post(
        "/v1/operator/rollout",
        json={**PAUSE, "version": 2, "action": "resume"},
        headers={"x-csrf-token": csrf},
    )
    assert r.status_code == 200 and r.json()["status"] == "active"
    audit = httpx.get(f"{lab.server.url}/v1/operator/audit", headers=operator_headers(lab.repo))
    mine = [a for a in audit.json() if a["who"] == "olga"]
    assert [a["action"] for a in mine[:2]] == ["resume", "pause"]
    assert mine[1]["reason"] == "csrf test" and mine[1]["target"] == f"{MODEL} 2"


def test_login_cookie_flags_and_refusals(lab):
    client = httpx.Client(base_url=lab.server.url, follow_redirects=False)
    form = client.get("/login")
    csrf = re.search(r'name="csrf" value="([^"]+)"', form.text).group(1)
    secret = operator_token(lab.repo, "olga", "operator")
    wrong = client.post("/login", data={"csrf": csrf, "name": "olga", "secret": secret + "x"})
    assert wrong.status_code == 303 and "error" in wrong.headers["location"]
    assert "lf_session" not in wrong.headers.get("set-cookie", "")
    no_csrf = httpx.post(
        f"{lab.server.url}/login", data={"csrf": csrf, "name": "olga", "secret": secret}
    )
    assert no_csrf.status_code == 403, "login CSRF: the form token must match its cookie"
    ok = client.post(
        "/login", data={"csrf": csrf, "name": "olga", "secret": secret, "next": "//evil.example"}
    )
    assert ok.headers["location"] == "/console", "no open redirect"
    cookie = ok.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=strict" in cookie
    # the cookie is a session, not the secret; the book keeps only scrypt hashes
    book = Path(lab.repo.keys.path / "operators.json").read_text()
    assert secret not in book and secret.split(".")[-1] not in book


def test_a_removed_operator_is_refused_at_once(lab):
    client, _ = login(lab, "temp", "operator")
    headers = operator_headers(lab.repo, "temp", "operator")
    assert httpx.get(f"{lab.server.url}/v1/fleet", headers=headers).status_code == 200
    OperatorBook(lab.repo.keys.path).remove("temp")
    assert httpx.get(f"{lab.server.url}/v1/fleet", headers=headers).status_code == 401
    assert client.get("/console").status_code == 303


def test_metrics_public_only_when_asked(tmp_path: Path):
    with Lab(tmp_path / "pub", settings={"public_metrics": True}) as lab:
        assert httpx.get(f"{lab.server.url}/metrics").status_code == 200
        assert httpx.get(f"{lab.server.url}/v1/fleet").status_code == 401


def test_the_overview_shows_stages_and_the_audit_of_a_change(lab):
    lab.publish("v3", 3, rollout_percent=1.0, stages=[1.0, 10.0, 100.0], bake_s=3600)
    client, csrf = login(lab, "olga", "operator")
    page = client.get("/console").text
    assert 'data-release="selftest-3"' in page and "stages" in page
    assert re.search(r'<span class="cur">1</span>\s*→', page), "the current stage is marked"
    done = client.post(
        "/console/actions/pin",
        data={"csrf": csrf, "model": MODEL, "target": "device:cam-9", "version": "1"},
    )
    assert done.status_code == 303 and "done=" in done.headers["location"]
    page = client.get("/console").text
    assert "device:cam-9 → v1" in page and "pin selftest device:cam-9" in page
