"""The release-side commands, through typer, on a real repository and server."""

from __future__ import annotations

import json
import re

import pytest

from litefleet.errors import UserError
from litefleet.registry.repository import Repository
from litefleet.registry.rollout import read_rollout
from litefleet.testing.operators import operator_token

from .conftest import MODEL, invoke, tree

run = invoke


def test_init_publish_rollout_token(app, builds, tmp_path):
    path = tmp_path / "repo"
    result = run(app, "repo", "init", path, "--expiry", "timestamp=12h", "--threshold", "root=2")
    assert result.exit_code == 0, result.output
    repo = Repository(path)
    assert repo.config.expiry["timestamp"] == 12 * 3600
    assert len(repo.load("root").signed.roles["root"].keyids) == 2
    result = run(app, "publish", path, builds["v1"], "--model", MODEL, "--rollout", "10")
    assert result.exit_code == 0 and "published digits 1" in result.output
    result = run(app, "publish", path, builds["v2"], "--model", MODEL, "--channel", "beta")
    patches = re.search(r"published digits 2: \d+ variants, (\d+) patches", result.output)
    assert patches and int(patches.group(1)) > 0, result.output
    assert (
        run(app, "rollout", path, "--model", MODEL, "--version", 1, "--percent", 60).exit_code == 0
    )
    assert run(app, "rollout", path, "--model", MODEL, "--version", 2, "--pause").exit_code == 0
    state = read_rollout(repo, MODEL)
    assert state.rollouts[1].percent == 60 and state.rollouts[2].status == "paused"
    token = run(app, "repo", "token", path, "--device", "cam-1").output.strip()
    assert len(token) > 30 and token not in (path / "keys" / "tokens.json").read_text()
    many = run(app, "repo", "token", path, "--device", "a", "--device", "b").output.split()
    assert many[0] == "a" and many[2] == "b" and len(many) == 4
    assert isinstance(run(app, "repo", "token", path).exception, UserError)  # needs a device
    assert "targets" in run(app, "repo", "expiry", path, "--set", "targets=30d").output
    assert "targets version" in run(app, "repo", "resign", path, "targets").output
    assert "timestamp version" in run(app, "repo", "refresh-timestamp", path).output
    assert run(app, "repo", "rotate-key", path, "timestamp").exit_code == 0


@pytest.mark.parametrize(
    "args",
    [
        ("rollout", "{repo}", "--model", MODEL, "--version", "1"),
        ("rollout", "{repo}", "--model", MODEL, "--version", "1", "--pause", "--abort"),
        ("rollout", "{repo}", "--model", "unknown", "--version", "1", "--pause"),
        ("publish", "{repo}", "{repo}", "--model", MODEL),
        ("publish", "{repo}", "{build}", "--model", MODEL, "--version", "1"),
        ("repo", "rotate-key", "{repo}", "janitor"),
        ("repo", "init", "{repo}"),
        ("repo", "init", "{tmp}/new", "--expiry", "timestamp=soon"),
        ("repo", "init", "{tmp}/new", "--offline-keys", "{tmp}/new/keys2"),
        ("repo", "token", "{repo}", "--device", "bad id!"),
        ("repo", "expiry", "{repo}", "--set", "targets=1s"),
        ("repo", "resign", "{repo}", "root"),
    ],
)
def test_user_errors(app, published, builds, tmp_path, args):
    before = tree(published.path)
    fill = {"repo": published.path, "build": builds["v1"], "tmp": tmp_path}
    result = run(app, *(a.format(**fill) for a in args))
    # the entry point (litefleet.cli.main) turns a UserError into one line and exit code 2
    assert isinstance(result.exception, UserError), result.output
    assert tree(published.path) == before


def test_fleet_status(app, published, serve):
    server = serve(published)
    token = operator_token(published, "ops", "viewer")
    refused = run(app, "fleet", "status", "--server", server.url)
    assert isinstance(refused.exception, UserError) and "operator token" in str(refused.exception)
    result = run(app, "fleet", "status", "--server", server.url, "--json", "--token", token)
    assert result.exit_code == 0, result.output
    rows = json.loads(result.output)["releases"]
    assert [(r["version"], r["rollout_status"]) for r in rows] == [(1, "active"), (2, "active")]
    table = run(app, "fleet", "status", "--server", server.url, "--token", token)
    assert "digits" in table.output and "100% active" in table.output
    down = run(app, "fleet", "status", "--server", "http://127.0.0.1:9")
    assert isinstance(down.exception, UserError)


def test_fleet_status_says_where_the_fleet_view_lives(app, tmp_path):
    import http.server
    import threading

    from litefleet.testing.services import free_port

    down = run(app, "fleet", "status", "--server", f"http://127.0.0.1:{free_port()}")
    assert isinstance(down.exception, UserError)
    assert "connection refused" in str(down.exception) and "--server" in str(down.exception)
    # a server without the fleet view (as nginx's devices' listener is): 404 says so
    handler = lambda *a: http.server.SimpleHTTPRequestHandler(*a, directory=str(tmp_path))  # noqa: E731
    with http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler) as web:
        threading.Thread(target=web.serve_forever, daemon=True).start()
        url = f"http://127.0.0.1:{web.server_address[1]}"
        wrong = run(app, "fleet", "status", "--server", url)
        web.shutdown()
    assert isinstance(wrong.exception, UserError)
    assert "HTTP 404" in str(wrong.exception) and "operator listener" in str(wrong.exception)


def test_init_says_whether_keys_are_encrypted(app, tmp_path, monkeypatch):
    monkeypatch.delenv("LITEFLEET_KEY_PASSPHRASE", raising=False)
    plain = run(app, "repo", "init", tmp_path / "plain")
    assert plain.exit_code == 0 and "keys NOT encrypted" in plain.output
    assert "LITEFLEET_KEY_PASSPHRASE" in plain.output
    monkeypatch.setenv("LITEFLEET_KEY_PASSPHRASE", "correct horse")
    sealed = run(app, "repo", "init", tmp_path / "sealed")
    assert sealed.exit_code == 0 and "keys encrypted with the passphrase" in sealed.output
    pem = next((tmp_path / "sealed.offline-keys" / "targets").glob("*.pem")).read_text()
    assert "ENCRYPTED" in pem.splitlines()[0]


def test_moved_offline_keys_say_how_to_point_at_them(app, tmp_path, monkeypatch):
    """docs/deploy.md: `mv repo.offline-keys usb/`; the next signature names the variable."""
    monkeypatch.delenv("LITEFLEET_OFFLINE_KEYS_DIR", raising=False)
    monkeypatch.delenv("LITEFLEET_KEY_PASSPHRASE", raising=False)
    assert run(app, "repo", "init", tmp_path / "repo").exit_code == 0
    (tmp_path / "usb").mkdir()
    (tmp_path / "repo.offline-keys").rename(tmp_path / "usb" / "repo.offline-keys")
    moved = run(app, "repo", "resign", tmp_path / "repo", "targets")
    assert isinstance(moved.exception, UserError)
    assert "LITEFLEET_OFFLINE_KEYS_DIR=" in str(moved.exception)
    assert "repo.offline-keys" in str(moved.exception)
    monkeypatch.setenv("LITEFLEET_OFFLINE_KEYS_DIR", str(tmp_path / "usb" / "repo.offline-keys"))
    again = run(app, "repo", "resign", tmp_path / "repo", "targets")
    assert again.exit_code == 0 and "targets version 2" in again.output
