"""A real python-tuf client against the real server: what a device trusts and what it refuses."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from securesystemslib.signer import CryptoSigner
from tuf.api import exceptions
from tuf.api.metadata import Metadata, Timestamp

from litefleet.delta import apply_patch
from litefleet.registry.repository import Repository
from litefleet.release import (
    ReleaseIndex,
    RolloutState,
    VariantInfo,
    index_path,
    rollout_path,
)

from .conftest import MODEL, make_updater


def _root(repo: Repository) -> bytes:
    return (repo.metadata_dir / "1.root.json").read_bytes()


def test_refresh_finds_index_and_downloads_model(published, serve, tmp_path):
    server = serve(published)
    updater = make_updater(server, _root(published), tmp_path / "dev")
    updater.refresh()
    info = updater.get_targetinfo(index_path(MODEL))
    assert info is not None
    index = ReleaseIndex.model_validate_json(Path(updater.download_target(info)).read_bytes())
    assert [r.version for r in index.releases] == [1, 2]
    entry = index.release(2).variants["baseline-int8"]
    target = updater.get_targetinfo(entry.path)
    variant = VariantInfo.model_validate(target.custom["litefleet"])
    assert (variant.version, variant.precision, variant.sha256) == (2, "int8", entry.sha256)
    data = Path(updater.download_target(target)).read_bytes()
    assert data[4:8] == b"TFL3" and len(data) == entry.bytes
    # the rollout state comes through the delegated, online-signed role
    rollout = updater.get_targetinfo(rollout_path(MODEL))
    state = RolloutState.model_validate_json(Path(updater.download_target(rollout)).read_bytes())
    assert state.rollouts[2].percent == 100 and state.rollouts[2].status == "active"


def test_patch_rebuilds_signed_bytes(published, serve, tmp_path):
    server = serve(published)
    updater = make_updater(server, _root(published), tmp_path / "dev")
    index_info = updater.get_targetinfo(index_path(MODEL))
    index = ReleaseIndex.model_validate_json(Path(updater.download_target(index_info)).read_bytes())
    v1 = index.release(1).variants["baseline-float32"]
    v2 = index.release(2).variants["baseline-float32"]
    assert v2.patches, "a last-layer fine-tune must give a patch smaller than the file"
    patch_entry = v2.patches[0]
    assert patch_entry.from_version == 1 and patch_entry.bytes < v2.bytes / 4
    old = Path(updater.download_target(updater.get_targetinfo(v1.path))).read_bytes()
    patch = Path(updater.download_target(updater.get_targetinfo(patch_entry.path))).read_bytes()
    rebuilt = apply_patch(old, patch)
    updater.get_targetinfo(v2.path).verify_length_and_hashes(rebuilt)  # the signed bytes
    with pytest.raises(exceptions.LengthOrHashMismatchError):
        updater.get_targetinfo(v2.path).verify_length_and_hashes(
            apply_patch(old[:-1] + b"x", patch)
        )


def test_refuses_target_changed_on_disk(published, serve, tmp_path):
    server = serve(published)
    path = index_path(MODEL).replace("releases.json", "1/baseline-int8.tflite")
    stored = published.target_file(path)
    data = bytearray(stored.read_bytes())
    data[100] ^= 0xFF
    stored.write_bytes(bytes(data))
    updater = make_updater(server, _root(published), tmp_path / "dev")
    with pytest.raises(exceptions.LengthOrHashMismatchError):
        updater.download_target(updater.get_targetinfo(path))


def test_refuses_rollback_of_timestamp_and_snapshot(published, serve, tmp_path):
    server = serve(published)
    meta = published.metadata_dir
    old_timestamp = (meta / "timestamp.json").read_bytes()
    old_snapshot_version = published.load("snapshot").signed.version
    published.refresh_timestamp()
    updater = make_updater(server, _root(published), tmp_path / "dev")
    updater.refresh()  # the device now trusts the newer timestamp
    (meta / "timestamp.json").write_bytes(old_timestamp)
    with pytest.raises(exceptions.BadVersionNumberError):
        make_updater(server, _root(published), tmp_path / "dev").refresh()
    # an old snapshot served under the new snapshot's name
    published.refresh_timestamp()
    newest = published.load("snapshot").signed.version
    shutil.copy(
        meta / f"{old_snapshot_version - 1}.snapshot.json", meta / f"{newest}.snapshot.json"
    )
    fresh = make_updater(server, _root(published), tmp_path / "dev2")
    with pytest.raises(exceptions.BadVersionNumberError):
        fresh.refresh()


def test_refuses_expired_timestamp(published, serve, tmp_path):
    server = serve(published)
    stale = Repository(published.path, clock=lambda: datetime.now(UTC) - timedelta(days=2))
    stale.refresh_timestamp()  # signed two days ago with a one-day expiry: a freeze attack
    with pytest.raises(exceptions.ExpiredMetadataError):
        make_updater(server, _root(published), tmp_path / "dev").refresh()


def test_refuses_metadata_signed_by_unlisted_key(published, serve, tmp_path):
    server = serve(published)
    path = published.metadata_dir / "timestamp.json"
    md = Metadata[Timestamp].from_file(str(path))
    md.signed.version += 1
    md.signatures.clear()
    md.sign(CryptoSigner.generate_ed25519())  # a key root does not list
    md.to_file(str(path))
    with pytest.raises(exceptions.UnsignedMetadataError):
        make_updater(server, _root(published), tmp_path / "dev").refresh()


@pytest.mark.parametrize("role", ["timestamp", "targets", "snapshot", "rollout", "root"])
def test_client_follows_key_rotation(published, serve, tmp_path, role):
    server = serve(published)
    old_root = _root(published)
    make_updater(server, old_root, tmp_path / "dev").refresh()  # trusted before the rotation
    before = published.load("root").signed.version
    published.rotate_key(role)
    updater = make_updater(server, old_root, tmp_path / "dev")
    updater.refresh()
    if role != "rollout":
        assert published.load("root").signed.version == before + 1
    info = updater.get_targetinfo(rollout_path(MODEL))
    assert RolloutState.model_validate_json(Path(updater.download_target(info)).read_bytes())
    # a device that only ever saw the first root walks the whole chain too
    make_updater(server, old_root, tmp_path / "new-device").refresh()
