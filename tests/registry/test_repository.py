"""The repository on disk: layout, keys, ordered commits, crash safety, thresholds."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import pytest
from tuf.api.metadata import Metadata

from litefleet.errors import UserError
from litefleet.registry.keys import ONLINE_ROLES, KeyStore, offline_keys_exposed
from litefleet.registry.publish import read_index
from litefleet.registry.repository import RepoConfig, Repository
from litefleet.registry.tokens import DeviceTokens

from .conftest import MODEL, make_updater, tree


def assert_consistent(repo: Repository) -> None:
    """What a client can reach through timestamp -> snapshot -> targets exists and verifies."""
    for role in ("targets", "rollout"):
        for path, info in repo.load(role).signed.targets.items():
            assert repo.read_target(path) is not None, path  # raises on a hash mismatch
            del info


def test_init_layout_and_private_keys(repo: Repository):
    meta = {p.name for p in repo.metadata_dir.iterdir()}
    assert {"root.json", "1.root.json", "timestamp.json", "1.snapshot.json"} <= meta
    assert {"1.targets.json", "1.rollout.json"} <= meta
    root = Metadata.from_file(str(repo.metadata_dir / "root.json")).signed
    assert root.consistent_snapshot
    delegation = repo.load("targets").signed.delegations.roles["rollout"]
    assert delegation.paths == ["*/rollout.json"] and delegation.terminating
    offline = repo.path.parent / "repo.offline-keys"
    for folder in (repo.path / "keys", offline):
        for pem in folder.rglob("*.pem"):
            assert pem.stat().st_mode & 0o777 == 0o600
        assert folder.stat().st_mode & 0o077 == 0
    # root and targets keys are outside the repository folder the server runs on
    assert {p.parent.name for p in offline.rglob("*.pem")} == {"root", "targets"}
    assert {p.parent.name for p in repo.path.rglob("*.pem")} == set(ONLINE_ROLES)
    assert offline_keys_exposed(repo.path / "keys", repo.path) == []
    with pytest.raises(UserError, match="not empty"):
        Repository.init(repo.path)
    with pytest.raises(UserError, match="not a litefleet repository"):
        Repository(repo.path / "metadata")


def test_failed_transaction_leaves_nothing(repo: Repository):
    before = tree(repo.path)
    with pytest.raises(RuntimeError), repo.transaction(roles=("targets",)) as tx:
        tx.add_target(f"{MODEL}/1/x.tflite", b"new bytes")
        raise RuntimeError("crash before commit")
    assert tree(repo.path) == before


def test_online_key_store_refuses_offline_roles(repo: Repository):
    online = KeyStore(repo.path / "keys", allowed=ONLINE_ROLES)
    assert online.signers("timestamp")
    with pytest.raises(UserError, match="offline role 'targets'"):
        online.signers("targets")
    server_view = Repository(repo.path, keys=online)
    with pytest.raises(UserError):
        server_view.rotate_key("timestamp")  # needs the root key
    server_view.refresh_timestamp()  # online keys suffice


def test_tokens_are_bound_to_one_device_and_stored_hashed(repo: Repository):
    book = DeviceTokens(repo.path / "keys")
    token = book.issue("cam-1", "a")
    other = book.issue("cam-2")
    stored = (repo.path / "keys" / "tokens.json").read_text()
    assert token not in stored and other not in stored
    assert (repo.path / "keys" / "tokens.json").stat().st_mode & 0o777 == 0o600
    assert book.device_of(token) == "cam-1" and book.device_of(other) == "cam-2"
    assert book.device_of(token + "x") is None
    renewed = book.issue("cam-1")  # a new token replaces the device's old one
    assert book.device_of(token) is None and book.device_of(renewed) == "cam-1"
    assert book.revoke("cam-1") == 1 and book.device_of(renewed) is None
    with pytest.raises(UserError, match="device id"):
        book.issue("../etc")


def test_old_layout_with_offline_keys_inside_is_detected(tmp_path, monkeypatch):
    """A repository whose root/targets keys sit in REPO/keys (older `repo init`)."""
    monkeypatch.setenv("LITEFLEET_OFFLINE_KEYS_DIR", str(tmp_path / "r" / "keys"))
    repo = Repository.init(tmp_path / "r")
    exposed = offline_keys_exposed(repo.path / "keys", repo.path)
    assert {p.parent.name for p in exposed} == {"root", "targets"}


def test_expiry_is_configurable_and_resign_uses_it(repo: Repository):
    from datetime import UTC, datetime

    assert repo.config.expiry["targets"] == 90 * 86400  # the recommended default
    repo.set_expiry({"targets": 30 * 86400, "rollout": 2 * 86400})
    again = Repository(repo.path)
    assert again.config.expiry["targets"] == 30 * 86400
    again.resign("targets")
    again.resign("rollout")
    now = datetime.now(UTC)
    left = again.load("targets").signed.expires - now
    assert timedelta(days=29) < left <= timedelta(days=30)
    assert again.load("rollout").signed.expires - now <= timedelta(days=2)
    with pytest.raises(UserError, match="between"):
        again.set_expiry({"targets": 10})


def test_refresh_online_resigns_only_what_expires(repo: Repository):
    assert repo.refresh_online(timedelta(hours=1)) == []
    version = repo.load("timestamp").signed.version
    assert repo.refresh_online(timedelta(days=2)) == ["timestamp"]
    assert repo.load("timestamp").signed.version == version + 1
    done = repo.refresh_online(timedelta(days=400))
    assert "rollout" in done and any("offline" in d for d in done)


def test_threshold_two_targets_keys(tmp_path: Path, serve):
    config = RepoConfig()
    config.thresholds["targets"] = 2
    repo = Repository.init(tmp_path / "repo", config)
    assert len(repo.load("targets").signatures) == 2
    with repo.transaction(roles=("targets",)) as tx:
        tx.add_target(f"{MODEL}/1/golden.npz", b"golden")
    server = serve(repo)
    updater = make_updater(server, (repo.metadata_dir / "1.root.json").read_bytes(), tmp_path / "d")
    assert updater.get_targetinfo(f"{MODEL}/1/golden.npz").length == 6


_PUBLISH_LOOP = """
import sys
from litefleet.registry.publish import publish
from litefleet.registry.repository import Repository
repo = Repository(sys.argv[1])
print("ready", flush=True)
for build in sys.argv[2:] * 50:
    publish(repo, build, "digits")
"""


def test_killed_publish_never_breaks_the_repository(published: Repository, builds, tmp_path, serve):
    """SIGKILL a process that publishes in a loop: the signed state stays consistent."""
    for delay in (0.3, 1.1):
        proc = subprocess.Popen(
            [sys.executable, "-c", _PUBLISH_LOOP, str(published.path), *map(str, builds.values())],
            stdout=subprocess.PIPE,
            env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"},
        )
        assert proc.stdout.readline().strip() == b"ready"
        time.sleep(delay)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        assert_consistent(published)
    index = read_index(Repository(published.path), MODEL)
    assert [r.version for r in index.releases][:2] == [1, 2]  # the loop usually added more
    server = serve(published)
    root = (published.metadata_dir / "1.root.json").read_bytes()
    updater = make_updater(server, root, tmp_path / "device")
    newest = index.releases[-1].variants["baseline-int8"].path
    assert updater.download_target(updater.get_targetinfo(newest))
