"""The CLI of issue 22: operator accounts, device groups at enrollment and later, a rollout
for groups, pins, webhooks; `fleet status` with an operator token and a group filter."""

from __future__ import annotations

import json

import httpx
import pytest

from litefleet.errors import UserError
from litefleet.registry.operators import OperatorBook
from litefleet.registry.rollout import read_rollout
from litefleet.registry.tokens import DeviceTokens
from litefleet.testing.lab import MODEL, Lab
from litefleet.testing.operators import operator_token

from .conftest import invoke


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    with Lab(tmp_path_factory.mktemp("groups")) as lab:
        lab.publish("v1", 1)
        lab.publish("v2", 2)
        yield lab


def run(app, *args) -> str:
    result = invoke(app, *args)
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    assert result.exit_code == 0, result.output
    return result.output


def test_operator_accounts(app, lab):
    repo = lab.repo.path
    secret = run(app, "repo", "operator", "add", repo, "ana", "--role", "operator").strip()
    assert secret.startswith("op.ana.")
    assert run(app, "repo", "operator", "list", repo).split() == ["ana", "operator"]
    assert OperatorBook(lab.repo.keys.path).verify(secret).role == "operator"
    assert OperatorBook(lab.repo.keys.path).verify(secret + "x") is None
    with pytest.raises(UserError, match="role"):
        run(app, "repo", "operator", "add", repo, "bob", "--role", "admin")
    with pytest.raises(UserError, match="operator name"):
        run(app, "repo", "operator", "add", repo, "../x")
    run(app, "repo", "operator", "remove", repo, "ana")
    assert OperatorBook(lab.repo.keys.path).verify(secret) is None


def test_groups_a_tagged_rollout_and_pins_are_signed(app, lab):
    repo = lab.repo.path
    out = run(app, "repo", "token", repo, "--device", "c1", "--device", "c2", "--tag", "camera")
    assert len(out.splitlines()) == 2
    run(app, "repo", "token", repo, "--device", "k1", "--tag", "kiosk", "--tag", "eu")
    run(app, "repo", "token", repo, "--device", "c1")  # a new token keeps the groups
    assert DeviceTokens(lab.repo.keys.path).tags_by_device() == {
        "c1": ["camera"],
        "c2": ["camera"],
        "k1": ["eu", "kiosk"],
    }
    out = run(app, "rollout", repo, "--model", MODEL, "--version", "2", "--percent", "50",
              "--tag", "camera")  # fmt: skip
    assert "groups camera" in out
    state = read_rollout(lab.repo, MODEL)
    assert state.rollouts[2].tags == ["camera"] and state.groups == {"camera": ["c1", "c2"]}
    run(app, "pin", repo, "--model", MODEL, "--tag", "kiosk", "--version", "1")
    run(app, "repo", "tag", repo, "--device", "c2", "--tag", "kiosk")  # re-signs the groups
    state = read_rollout(lab.repo, MODEL)
    assert state.pins == {"tag:kiosk": 1}
    assert state.groups == {"camera": ["c1"], "kiosk": ["c2", "k1"]}
    run(app, "pin", repo, "--model", MODEL, "--tag", "kiosk", "--unpin")
    assert read_rollout(lab.repo, MODEL).pins == {}
    with pytest.raises(UserError, match="no release 9"):
        run(app, "pin", repo, "--model", MODEL, "--device", "c1", "--version", "9")
    with pytest.raises(UserError, match="not enrolled"):
        run(app, "repo", "tag", repo, "--device", "ghost", "--tag", "x")
    with pytest.raises(UserError, match="tag"):
        run(app, "repo", "token", repo, "--device", "c3", "--tag", "bad tag")
    all_devices = run(app, "rollout", repo, "--model", MODEL, "--version", "2", "--percent",
                      "100", "--all-devices")  # fmt: skip
    assert "groups" not in all_devices and read_rollout(lab.repo, MODEL).rollouts[2].tags == []


def test_fleet_status_with_a_token_and_a_group(app, lab):
    token = operator_token(lab.repo, "viewer1", "viewer")
    for device in ("c1", "k1"):
        lab._tokens[device] = DeviceTokens(lab.repo.keys.path).issue(device)
        body = {"events": [{"type": "activated", "model": MODEL, "version": 2, "time": 1.0}]}
        r = httpx.post(
            f"{lab.server.url}/v1/devices/{device}/events",
            json=body,
            headers={"authorization": f"Bearer {lab._tokens[device]}"},
        )
        assert r.status_code == 202
    out = run(app, "fleet", "status", "--server", lab.server.url, "--json", "--token", token,
              "--tag", "camera")  # fmt: skip
    rows = {r["version"]: r for r in json.loads(out)["releases"]}
    assert rows[2]["running"] == 1, "only the camera group"
    out = run(app, "fleet", "status", "--server", lab.server.url, "--json", "--token", token)
    assert {r["version"]: r for r in json.loads(out)["releases"]}[2]["running"] == 2


def test_webhook_configuration(app, lab):
    repo = lab.repo.path
    out = run(app, "alerts", "add", repo, "--url", "http://127.0.0.1:9/h", "--on", "halt",
              "--on", "unseen", "--unseen-checks", "4", "--check-interval", "30m")  # fmt: skip
    assert "secret" in out
    listed = run(app, "alerts", "list", repo)
    assert "default http://127.0.0.1:9/h on=halt,unseen" in listed and "unseen>4x1800s" in listed
    assert (lab.repo.keys.path / "alerts.json").stat().st_mode & 0o077 == 0
    run(app, "alerts", "remove", repo, "default")
    assert run(app, "alerts", "list", repo) == ""
