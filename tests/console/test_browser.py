"""The console in real headless Chromium against the real server and real agents.

One lab for the module (tests run in file order and build on each other): six enrolled
devices in two groups (camera, kiosk), each a real `Agent` checking against the server.
Screenshots for the docs: `LITEFLEET_CONSOLE_SCREENSHOTS=docs/img pytest tests/console`.
"""

from __future__ import annotations

import json
import os
import re
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from playwright.sync_api import expect

from litefleet.device.agent import Agent
from litefleet.registry.alerts import AlertBook, Hook, verify_signature
from litefleet.registry.rollout import read_rollout
from litefleet.registry.tokens import DeviceTokens
from litefleet.testing.lab import MODEL, Lab
from litefleet.testing.operators import operator_token

CAMS = ("cam-1", "cam-2", "cam-3")
KIOSKS = ("kiosk-1", "kiosk-2", "kiosk-3")
SECRET = "webhook-test-secret"
SHOTS = os.environ.get("LITEFLEET_CONSOLE_SCREENSHOTS")
WAIT_MS = 30_000


class Receiver:
    """A webhook receiver on 127.0.0.1: answers 500 to the first POST (to see the retry)."""

    def __init__(self) -> None:
        self.posts: list[tuple[dict, bytes]] = []
        self.got = threading.Event()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["content-length"]))
                first = not outer.posts
                outer.posts.append(({k.lower(): v for k, v in self.headers.items()}, body))
                self.send_response(500 if first else 204)
                self.end_headers()
                if not first:
                    outer.got.set()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()


@pytest.fixture(scope="module")
def fleet(tmp_path_factory):
    receiver = Receiver()
    root = tmp_path_factory.mktemp("console")
    settings = {"alert_interval": 0.2, "adoption_interval": 1.0}
    with Lab(root, settings=settings) as lab:
        AlertBook(lab.repo.keys.path).add(Hook(id="ops", url=receiver.url, secret=SECRET))
        homes = {d: lab.device(d, direct=True) for d in CAMS + KIOSKS}
        book = DeviceTokens(lab.repo.keys.path)
        for d in CAMS:
            book.set_tags(d, ["camera", "eu"])
        for d in KIOSKS:
            book.set_tags(d, ["kiosk"])
        lab.publish("v1", 1)
        for home in homes.values():
            assert Agent(home).check().active_version == 1
        yield lab, homes, receiver
    receiver.close()


def login(browser, lab: Lab, name: str, role: str):
    page = browser.new_context().new_page()
    page.goto(f"{lab.server.url}/console")
    assert "/login" in page.url, "no session: the console sends you to the login form"
    page.fill("input[name=name]", name)
    page.fill("input[name=secret]", operator_token(lab.repo, name, role))
    page.click("button[type=submit]")
    page.wait_for_url(re.compile(r".*/console$"))
    return page


def shot(page, name: str) -> None:
    if SHOTS:
        Path(SHOTS).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(SHOTS) / f"console-{name}.png"), full_page=True)


def row(page, version: int):
    return page.locator(f'tr[data-release="{MODEL}-{version}"]')


def test_watch_a_rollout_progress_then_pause_it(browser, fleet):
    lab, homes, _ = fleet
    lab.publish("v2", 2)
    page = login(browser, lab, "olga", "operator")
    expect(row(page, 2).locator(".running")).to_have_text("0")
    for d in CAMS[:2]:
        assert Agent(homes[d]).check().active_version == 2
    # the page refreshes itself: the running count follows the agents
    expect(row(page, 2).locator(".running")).to_have_text("2", timeout=WAIT_MS)
    expect(row(page, 1).locator(".running")).to_have_text("4", timeout=WAIT_MS)
    shot(page, "overview")
    row(page, 2).locator("input[name=reason]").fill("latency up on cameras")
    row(page, 2).locator("button[value=pause]").click()
    expect(page.locator(".flash.ok")).to_contain_text("paused")
    expect(row(page, 2).locator(".rollout")).to_contain_text("paused")
    assert read_rollout(lab.repo, MODEL).rollouts[2].status == "paused"
    for d in (CAMS[2], *KIOSKS):  # in the cohort (100 %), but the release is paused
        r = Agent(homes[d]).check()
        assert (r.action, r.active_version) == ("none", 1), r
    audit = page.locator("table.audit tbody tr").first
    expect(audit).to_contain_text("olga")
    expect(audit).to_contain_text("latency up on cameras")
    expect(page.locator("section.push")).to_contain_text("Push is off")


def test_a_failing_release_halts_shows_its_reason_and_fires_the_webhook(browser, fleet):
    lab, homes, receiver = fleet
    lab.publish("bad", 3, min_accuracy=0.9, allow_regression=True)  # a bad publisher
    for d in (*CAMS, *KIOSKS[:2]):
        assert Agent(homes[d]).check().action == "rejected"
    assert read_rollout(lab.repo, MODEL).rollouts[3].status == "paused", "automatic halt"
    last = Agent(homes[KIOSKS[2]]).check()
    assert (last.action, last.active_version) == ("none", 1), "the halt kept it off release 3"
    assert receiver.got.wait(30), "no webhook after the halt"
    deadline = time.monotonic() + 30
    while not any(b'"version": 3' in b for _, b in receiver.posts):
        assert time.monotonic() < deadline, "no webhook for the halt of release 3"
        time.sleep(0.1)
    deliveries = [h["x-litefleet-delivery"] for h, _ in receiver.posts]
    assert deliveries.count(deliveries[0]) >= 2, "the first POST got a 500 and was retried"
    halts = [(h, json.loads(b), b) for h, b in receiver.posts if h["x-litefleet-event"] == "halt"]
    headers, alert, body = next(a for a in halts if a[1]["version"] == 3)
    assert verify_signature(SECRET, body, headers["x-litefleet-signature"])
    assert not verify_signature("another secret", body, headers["x-litefleet-signature"])
    assert alert["model"] == MODEL and "auto-halt" in alert["reason"]
    assert any(a["version"] == 2 and a["by"] == "olga" for _, a, _ in halts), "operator pause"

    page = login(browser, lab, "olga", "operator")
    expect(page.locator("section.cols").first).to_contain_text("auto-halt")
    page.goto(f"{lab.server.url}/console/devices?q=kiosk-2")
    expect(page.locator("table.devices tbody tr")).to_have_count(1)
    expect(page.locator("table.devices td.reason")).to_contain_text("golden")
    shot(page, "devices")
    page.click("text=kiosk-2")
    expect(page.locator("table.timeline")).to_contain_text("health_failed")
    expect(page.locator("table.timeline")).to_contain_text("golden")
    shot(page, "device")


def test_a_viewer_sees_but_cannot_pause(browser, fleet):
    lab, _, _ = fleet
    page = login(browser, lab, "vic", "viewer")
    expect(row(page, 1)).to_be_visible()
    expect(page.locator("button[value=pause]")).to_have_count(0)
    csrf = page.locator("header input[name=csrf]").input_value()
    forged = page.request.post(
        f"{lab.server.url}/console/actions/rollout",
        form={"csrf": csrf, "model": MODEL, "version": "1", "action": "pause"},
        max_redirects=0,
    )
    assert forged.status == 403
    assert read_rollout(lab.repo, MODEL).rollouts[1].status == "active"


def test_no_session_or_a_wrong_csrf_token_is_refused(browser, fleet):
    lab, _, _ = fleet
    anonymous = browser.new_context()
    form = {"model": MODEL, "version": "1", "action": "pause", "csrf": "guess"}
    r = anonymous.request.post(f"{lab.server.url}/console/actions/rollout", form=form)
    assert r.status == 401
    page = login(browser, lab, "olga", "operator")
    r = page.request.post(f"{lab.server.url}/console/actions/rollout", form=form, max_redirects=0)
    assert r.status == 403
    r = page.request.post(
        f"{lab.server.url}/v1/operator/rollout",
        data={"model": MODEL, "version": 1, "action": "pause"},
        headers={"x-csrf-token": "guess"},
    )
    assert r.status == 403
    assert read_rollout(lab.repo, MODEL).rollouts[1].status == "active"


def test_pin_a_group_and_retag_a_device_from_the_console(browser, fleet):
    lab, homes, _ = fleet
    page = login(browser, lab, "olga", "operator")
    pin = page.locator("form.pin")
    pin.locator("input[name=target]").fill("tag:kiosk")
    pin.locator("input[name=version]").fill("2")
    pin.locator("input[name=reason]").fill("kiosks test v2")
    pin.locator("button").click()
    expect(page.locator(".flash.ok")).to_contain_text("pinned to 2")
    state = read_rollout(lab.repo, MODEL)
    assert state.pins == {"tag:kiosk": 2} and set(state.groups["kiosk"]) == set(KIOSKS)
    for d in KIOSKS:  # v2 is paused, but a pin names the release those devices run
        assert Agent(homes[d]).check().active_version == 2
    assert Agent(homes["cam-3"]).check().active_version == 1
    page.goto(f"{lab.server.url}/console/devices/cam-3")
    page.fill("form input[name=tags]", "camera,kiosk")
    page.click("text=Set tags")
    expect(page.locator(".flash.ok")).to_contain_text("camera, kiosk")
    assert "cam-3" in read_rollout(lab.repo, MODEL).groups["kiosk"], "groups re-signed"
    assert Agent(homes["cam-3"]).check().active_version == 2
    page.goto(f"{lab.server.url}/console?tag=kiosk")
    expect(row(page, 2).locator(".running")).to_have_text("4", timeout=WAIT_MS)
    shot(page, "group")


def test_login_page(browser, fleet):
    lab, _, _ = fleet
    page = browser.new_context().new_page()
    page.goto(f"{lab.server.url}/")
    expect(page.locator("h1")).to_have_text("Operator login")
    shot(page, "login")
