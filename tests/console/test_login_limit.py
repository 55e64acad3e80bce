"""Login throttling attacked over plain HTTP: wrong secrets for one account lock it (the
right secret too, the console form and bearer tokens alike, on every worker) until the
window passes; another account and another address are unaffected; an address guessing at
many accounts is refused; each lockout is in the audit log.

Small limits via the server's settings: a 60 s window where a lock must hold while the
test looks at it (a loaded machine), a 2 s one where the test waits for it to pass.
Addresses come from `X-Forwarded-For`, which uvicorn trusts from 127.0.0.1 as it does
behind the generated nginx.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from litefleet.registry.repository import Repository
from litefleet.registry.server import WORKER_HEADER, ServerSettings, ServerThread, create_app
from litefleet.testing.lab import Lab
from litefleet.testing.operators import operator_token
from litefleet.testing.services import free_port, stop_process, wait_for_port

WINDOW_S = 60.0
LIMITS = {"login_failures": 3, "login_address_failures": 6, "login_window_s": WINDOW_S}
SHORT_S = 2.0


@pytest.fixture(scope="module")
def lab(tmp_path_factory) -> Lab:
    with Lab(tmp_path_factory.mktemp("login-limit"), settings=LIMITS) as lab:
        yield lab


def try_login(url: str, name: str, secret: str, address: str) -> httpx.Response:
    """One console login from `address`: the form, its CSRF cookie, the POST."""
    with httpx.Client(base_url=url, headers={"x-forwarded-for": address}) as client:
        form = client.get("/login")
        csrf = re.search(r'name="csrf" value="([^"]+)"', form.text).group(1)
        return client.post("/login", data={"csrf": csrf, "name": name, "secret": secret})


def logged_in(r: httpx.Response) -> bool:
    return r.status_code == 303 and "lf_session" in r.headers.get("set-cookie", "")


def bearer(url: str, secret: str, address: str) -> int:
    headers = {"authorization": f"Bearer {secret}", "x-forwarded-for": address}
    return httpx.get(f"{url}/v1/fleet", headers=headers).status_code


def test_wrong_secrets_lock_the_account_everywhere(lab):
    url = lab.server.url
    olga = operator_token(lab.repo, "olga", "operator")
    bob = operator_token(lab.repo, "bob", "viewer")
    other = create_app(ServerSettings(repo=lab.repo.path, refresh_interval=None, **LIMITS))
    with ServerThread(other) as second:  # another worker on the same database
        for i in range(3):
            r = try_login(url, "olga", f"op.olga.guess{i}", "10.0.0.1")
            assert r.status_code == 303 and "error" in r.headers["location"]
        right = try_login(url, "olga", olga, "10.0.0.1")
        assert right.status_code == 429, "locked: even the right secret is refused"
        assert "lf_session" not in right.headers.get("set-cookie", "")
        assert 1 <= int(right.headers["retry-after"]) <= WINDOW_S
        assert "too many failed logins" in right.text, "the login page says why"
        assert bearer(url, olga, "10.0.0.1") == 429, "the bearer path is the same account"
        assert try_login(url, "olga", olga, "10.0.0.9").status_code == 429, "from anywhere"
        assert try_login(second.url, "olga", olga, "10.0.0.1").status_code == 429
    # another account from the same address is not locked
    assert logged_in(try_login(url, "bob", bob, "10.0.0.1"))
    assert bearer(url, bob, "10.0.0.1") == 200
    lockouts = [
        a for a in lab_audit(lab) if a["action"] == "lockout" and a["target"] == "account olga"
    ]
    assert len(lockouts) == 1 and "10.0.0.1" in lockouts[0]["reason"]


def test_the_lock_passes_with_its_window_and_a_success_clears_it(tmp_path: Path):
    settings = {**LIMITS, "login_window_s": SHORT_S}
    with Lab(tmp_path / "short", settings=settings) as short:
        url = short.server.url
        olga = operator_token(short.repo, "olga", "operator")
        for i in range(3):
            assert try_login(url, "olga", f"op.olga.guess{i}", "10.0.0.1").status_code == 303
        right = try_login(url, "olga", olga, "10.0.0.1")
        if right.status_code == 429:  # else the machine took longer than the window
            time.sleep(int(right.headers["retry-after"]))
        deadline = time.monotonic() + 5 * SHORT_S
        while not logged_in(r := try_login(url, "olga", olga, "10.0.0.1")):
            assert r.status_code == 429 and time.monotonic() < deadline, "never unlocked"
            time.sleep(0.2)
        # the success cleared the account's failures: two more wrong tries do not lock it
        for i in range(2):
            assert try_login(url, "olga", f"op.olga.again{i}", "10.0.0.1").status_code == 303
        assert logged_in(try_login(url, "olga", olga, "10.0.0.1"))


def test_wrong_bearer_tokens_lock_the_account_too(lab):
    url = lab.server.url
    vera = operator_token(lab.repo, "vera", "viewer")
    for i in range(3):
        assert bearer(url, f"op.vera.wrong{i}", "10.0.1.1") == 401
    assert bearer(url, vera, "10.0.1.2") == 429
    assert try_login(url, "vera", vera, "10.0.1.3").status_code == 429
    r = httpx.get(
        f"{url}/v1/fleet",
        headers={"authorization": f"Bearer {vera}", "x-forwarded-for": "10.0.1.2"},
    )
    assert r.status_code == 429 and 1 <= int(r.headers["retry-after"]) <= WINDOW_S


def test_an_address_guessing_at_many_accounts_is_refused(lab):
    url = lab.server.url
    tom = operator_token(lab.repo, "tom", "operator")
    for i in range(6):  # two tries each at three accounts: under each account's limit
        name = ("tom", "ann", "nobody")[i % 3]
        assert try_login(url, name, f"op.{name}.x{i}", "10.0.2.1").status_code == 303
    assert try_login(url, "tom", tom, "10.0.2.1").status_code == 429, "the address is locked"
    assert logged_in(try_login(url, "tom", tom, "10.0.2.2")), "tom, from elsewhere, is not"
    assert any(a["target"] == "address 10.0.2.1" for a in lab_audit(lab))


def test_a_secret_naming_another_account_is_a_failure_without_scrypt(lab):
    """Typing name A with B's secret never tries B's account (one account per try)."""
    url = lab.server.url
    kim = operator_token(lab.repo, "kim", "operator")
    r = try_login(url, "lee", kim, "10.0.3.1")
    assert r.status_code == 303 and "error" in r.headers["location"]


def lab_audit(lab: Lab) -> list[dict]:
    token = operator_token(lab.repo, "auditor", "viewer")
    headers = {"authorization": f"Bearer {token}", "x-forwarded-for": "10.9.9.9"}
    return httpx.get(f"{lab.server.url}/v1/operator/audit?limit=500", headers=headers).json()


def test_serve_with_two_workers_counts_once(tmp_path: Path):
    """`litefleet serve --workers 2 --login-failures 4`: ten wrong tokens, each on a new
    connection, get exactly four 401s whichever worker answers (a per-process count would
    allow up to eight), then concurrent bursts with the right token, spread over both
    workers, are all refused."""
    repo = Repository.init(tmp_path / "repo")
    olga = operator_token(repo, "olga", "operator")
    other = {"authorization": f"Bearer {operator_token(repo, 'ivan', 'viewer')}"}
    port = free_port()
    command = [sys.executable, "-m", "litefleet", "serve", str(repo.path), "--port", str(port)]
    command += ["--workers", "2", "--login-failures", "4", "--login-window", "600"]
    proc = subprocess.Popen(
        command,
        stdout=subprocess.DEVNULL,
        stderr=(tmp_path / "serve.err").open("wb"),
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"},
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for_port(port, timeout=120, proc=proc)

        def halts(headers: dict[str, str]) -> httpx.Response:
            return httpx.get(f"{url}/v1/halts", headers=headers, timeout=60)

        with ThreadPoolExecutor(16) as pool:
            workers: set[str] = set()
            for _ in range(40):  # both workers up and answering
                workers.update(r.headers[WORKER_HEADER] for r in pool.map(halts, [other] * 16))
                if len(workers) == 2:
                    break
                time.sleep(0.5)
            assert len(workers) == 2
            codes = [
                halts({"authorization": f"Bearer op.olga.wrong{i}"}).status_code for i in range(10)
            ]
            assert codes == [401] * 4 + [429] * 6
            right = {"authorization": f"Bearer {olga}"}
            for _ in range(3):
                assert {r.status_code for r in pool.map(halts, [right] * 16)} == {429}
            assert halts(other).status_code == 200, "another account is not locked"
    finally:
        stop_process(proc)
