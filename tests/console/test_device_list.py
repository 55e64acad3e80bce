"""The device list's filters (q, tag, model, status, version) and pages, read the same way
by the console page (`/console/devices`, `page_no`) and the API (`/v1/operator/devices`,
`page`): one `DeviceFilter` behind both."""

from __future__ import annotations

import re
import time
from urllib.parse import parse_qs

import httpx
import pytest

from litefleet.registry.console import queries
from litefleet.registry.tokens import DeviceTokens
from litefleet.testing.lab import MODEL, Lab
from litefleet.testing.operators import operator_headers

FLEET = {f"cam-{i}": ["camera"] for i in range(1, 5)} | {"kiosk-1": ["kiosk"]}


@pytest.fixture(scope="module")
def lab(tmp_path_factory) -> Lab:
    with Lab(tmp_path_factory.mktemp("device-list")) as lab:
        book = DeviceTokens(lab.repo.keys.path)
        for device, tags in FLEET.items():
            token = lab.token_for(device)
            book.set_tags(device, tags)
            failed = device == "cam-4"
            event = {
                "type": "health_failed" if failed else "heartbeat",
                "model": MODEL,
                "version": 2 if device in ("cam-3", "cam-4") else 1,
                "time": time.time(),
                "reason": "golden set: 0.41 < 0.9" if failed else "",
            }
            r = httpx.post(
                f"{lab.server.url}/v1/devices/{device}/events",
                json={"events": [event]},
                headers={"authorization": f"Bearer {token}"},
            )
            assert r.status_code == 202
        yield lab


def api(lab: Lab, **params) -> dict:
    r = httpx.get(
        f"{lab.server.url}/v1/operator/devices", params=params, headers=operator_headers(lab.repo)
    )
    assert r.status_code == 200, r.text
    return r.json()


def ids(listing: dict) -> list[str]:
    return [d["device_id"] for d in listing["devices"]]


def test_the_api_filters(lab):
    assert ids(api(lab)) == sorted(FLEET)
    assert ids(api(lab, q="cam-")) == ["cam-1", "cam-2", "cam-3", "cam-4"]
    assert ids(api(lab, tag="kiosk")) == ["kiosk-1"]
    assert ids(api(lab, status="failing")) == ["cam-4"]
    assert ids(api(lab, version=1)) == ["cam-1", "cam-2", "kiosk-1"]
    assert ids(api(lab, tag="camera", version=1, status="ok")) == ["cam-1", "cam-2"]
    assert ids(api(lab, model="another")) == []
    [row] = api(lab, q="cam-4")["devices"]
    assert row["last_failure"] == "golden set: 0.41 < 0.9" and row["tags"] == ["camera"]


def test_the_page_filters_and_its_links_keep_them(lab):
    r = httpx.get(
        f"{lab.server.url}/console/devices",
        params={"tag": "camera", "version": "1"},
        headers=operator_headers(lab.repo),
    )
    assert r.status_code == 200
    shown = re.findall(r'href="/console/devices/([^"]+)"', r.text)
    assert shown == ["cam-1", "cam-2"]
    assert 'name="version" value="1"' in r.text, "the form keeps the version filter"
    links = re.findall(r'class="badge" href="/console/devices\?([^"]+)"', r.text)
    assert parse_qs(links[0].replace("&amp;", "&")) == {
        "tag": ["camera"],
        "version": ["1"],
        "page_no": ["1"],
    }


def test_pages_of_the_list(lab):
    engine = lab.server.server.config.app.state.store.engine
    everyone = queries.list_devices(engine, per_page=2)
    assert (everyone.total, everyone.pages) == (5, 3)
    last = queries.list_devices(engine, queries.DeviceFilter(q="-"), page=99, per_page=2)
    assert last.page == 3 and [r.device_id for r in last.rows] == ["kiosk-1"]
    assert queries.DeviceFilter(tag="eu", version=3).params(page_no=2) == {
        "q": "",
        "tag": "eu",
        "model": "",
        "status": "",
        "version": "3",
        "page_no": "2",
    }
