"""Push in the console: off, a nudge the broker did not take (its error shown), and nudges
a real Mosquitto acknowledged, each after a signed change made through the operator API.

The server's record is `KEYS/push-log.json` (written by `push.notify` in whichever process
signed); the overview and `GET /v1/operator/push` read it with the broker URL, never the
publisher's password.
"""

from __future__ import annotations

import httpx
import pytest

from litefleet.registry.mosquitto import write_mosquitto
from litefleet.registry.push import PushSettings
from litefleet.registry.pushlog import KEEP, PushLog
from litefleet.testing.lab import MODEL, Lab
from litefleet.testing.operators import operator_headers
from litefleet.testing.services import MosquittoServer, free_port, mosquitto_site


@pytest.fixture(scope="module")
def lab(tmp_path_factory) -> Lab:
    with Lab(tmp_path_factory.mktemp("push-status")) as lab:
        lab.publish("v1", 1)  # push is off: no nudge recorded
        yield lab


def steer(lab: Lab, action: str) -> None:
    body = {"model": MODEL, "version": 1, "action": action, "reason": f"push test {action}"}
    r = httpx.post(
        f"{lab.server.url}/v1/operator/rollout", json=body, headers=operator_headers(lab.repo)
    )
    assert r.status_code == 200, r.text


def push_api(lab: Lab) -> dict:
    r = httpx.get(f"{lab.server.url}/v1/operator/push", headers=operator_headers(lab.repo))
    assert r.status_code == 200
    return r.json()


def overview(lab: Lab) -> str:
    r = httpx.get(f"{lab.server.url}/console", headers=operator_headers(lab.repo))
    assert r.status_code == 200
    return r.text.split('<section class="push"', 1)[1].split("</section>", 1)[0]


def test_push_off(lab):
    steer(lab, "pause")
    assert push_api(lab) == {"broker": None, "problem": "", "nudges": []}
    assert "Push is off" in overview(lab)
    assert httpx.get(f"{lab.server.url}/v1/operator/push").status_code == 401


def test_a_nudge_the_broker_did_not_take_shows_its_error(lab):
    nowhere = f"mqtt://127.0.0.1:{free_port()}"
    PushSettings(nowhere, "litefleet-server", "hunter2-password").save(lab.repo.keys.path)
    steer(lab, "resume")
    status = push_api(lab)
    assert status["broker"] == nowhere
    [nudge] = status["nudges"]
    assert (nudge["model"], nudge["kind"], nudge["version"]) == (MODEL, "resume", 1)
    assert nudge["delivered"] is False and nudge["error"], nudge
    html = overview(lab)
    assert nowhere in html and "not delivered" in html and "failed: " in html
    assert "hunter2" not in html and "hunter2" not in str(status), "no password shown"


def test_nudges_a_real_broker_acknowledged(lab, tmp_path):
    port = free_port()
    site = mosquitto_site(lab.repo.keys.path, tmp_path / "mosquitto", port)
    with MosquittoServer(write_mosquitto(site), port) as broker:  # writes KEYS/push.json
        steer(lab, "pause")
        steer(lab, "abort")
        status = push_api(lab)
    assert status["broker"] == broker.url
    newest = [(n["kind"], n["delivered"], n["error"]) for n in status["nudges"][:2]]
    assert newest == [("abort", True, ""), ("pause", True, "")]
    html = overview(lab)
    assert "delivered to the broker" in html and html.index("abort") < html.index("pause")
    assert "agent status" in html, "where a device's own push state is"


def test_the_log_keeps_the_newest(tmp_path):
    from litefleet.nudge import Nudge

    log = PushLog(tmp_path)
    for v in range(1, KEEP + 6):
        log.record(Nudge.of("m", "release", v), delivered=v % 2 == 0, error="" if v % 2 else "x")
    kept = log.recent()
    assert len(kept) == KEEP and kept[0].version == KEEP + 5 and kept[-1].version == 6
    (tmp_path / "push-log.json").write_text("not json")
    assert log.recent() == [], "a damaged log reads as empty, the console still answers"
