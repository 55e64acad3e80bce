"""The store's invariants: atomic switch, journal, keep N, recovery from leftovers."""

from __future__ import annotations

import json

import pytest

from litefleet.device.store import ModelStore
from litefleet.errors import UserError
from litefleet.fsutil import atomic_write_json

from .conftest import install_local


def test_install_activate_keeps_previous_and_journal(tmp_path, models_dir):
    store = ModelStore(tmp_path)
    install_local(store, models_dir, 1, "v1")
    install_local(store, models_dir, 2, "v2")
    st = store.state()
    assert (st.active, st.previous, st.highest_activated) == (2, 1, 2)
    pointer = json.loads((tmp_path / "active").read_text())
    assert pointer == {"version": 2, "file": "versions/2/float32.tflite"}
    assert [h.event for h in st.history][-2:] == ["installed", "activated"]


def test_keep_n_never_deletes_active_or_previous(tmp_path, models_dir):
    store = ModelStore(tmp_path, keep=2)
    for v in (1, 2, 3, 4):
        install_local(store, models_dir, v, f"v{v}")
    assert store.installed() == [3, 4]
    # roll back to 3, install 5: 3 (previous of 5... and active before) must survive
    store.rollback(to=3)
    install_local(store, models_dir, 5, "v5")
    st = store.state()
    assert st.active == 5 and st.previous == 3
    assert set(store.installed()) >= {3, 5}
    assert 4 in st.blocked


def test_rollback_on_command_blocks_the_version_left(tmp_path, models_dir):
    store = ModelStore(tmp_path)
    for v in (1, 2, 3):
        install_local(store, models_dir, v, f"v{v}")
    assert store.rollback() == 2
    st = store.state()
    assert st.active == 2 and st.previous == 1 and "command" in st.blocked[3]
    assert store.rollback(to=1) == 1
    with pytest.raises(UserError, match="not installed"):
        store.rollback(to=7)


def test_rollback_without_other_version_is_a_user_error(tmp_path, models_dir):
    store = ModelStore(tmp_path)
    install_local(store, models_dir, 1, "v1")
    with pytest.raises(UserError, match="no other installed version"):
        store.rollback()


def test_recover_cleans_leftovers_and_half_versions(tmp_path, models_dir):
    store = ModelStore(tmp_path)
    install_local(store, models_dir, 1, "v1")
    install_local(store, models_dir, 2, "v2")
    (tmp_path / "versions" / ".tmp-abc").mkdir()
    (tmp_path / ".tmp-state").write_text("{")
    (tmp_path / "versions" / "9").mkdir()  # no manifest: incomplete
    # a version whose file was corrupted behind our back is not valid either
    (tmp_path / "versions" / "2" / "float32.tflite").write_bytes(b"garbage")
    st = ModelStore(tmp_path).state()
    assert not (tmp_path / "versions" / ".tmp-abc").exists()
    assert not (tmp_path / ".tmp-state").exists()
    assert not (tmp_path / "versions" / "9").exists()
    assert st.active == 1, "the corrupted active version falls back to a valid one"
    assert json.loads((tmp_path / "active").read_text())["version"] == 1


def test_recover_rolls_journal_forward_when_pointer_lags(tmp_path, models_dir):
    """Crash after the journal, before the pointer: the journal's intent wins."""
    store = ModelStore(tmp_path)
    install_local(store, models_dir, 1, "v1")
    install_local(store, models_dir, 2, "v2", activate=False)
    st = store.state()
    st.active, st.previous = 2, 1
    (tmp_path / "state.json").write_text(st.model_dump_json())
    assert ModelStore(tmp_path).active_version() == 2


def test_recover_with_lost_journal_uses_pointer(tmp_path, models_dir):
    store = ModelStore(tmp_path)
    install_local(store, models_dir, 1, "v1")
    install_local(store, models_dir, 2, "v2")
    (tmp_path / "state.json").unlink()
    st = ModelStore(tmp_path).state()
    assert st.active == 2 and st.highest_activated == 2 and set(st.installed) == {1, 2}


def test_activate_refuses_a_missing_version(tmp_path, models_dir):
    store = ModelStore(tmp_path)
    install_local(store, models_dir, 1, "v1")
    with pytest.raises(UserError):
        store.activate(5)
    assert store.active_version() == 1


def test_recover_leaves_a_live_staging_folder_alone(tmp_path):
    """The store lock is not held while a check downloads into staging: a concurrent
    `rollback`/`recover` must not delete its folder; a dead one's leftovers still go."""
    home = tmp_path / "home"
    store = ModelStore(home)
    with store.staging() as stage:
        (stage / "m.tflite").write_bytes(b"partial")
        ModelStore(home).recover()  # another process's recovery, mid-download
        assert (stage / "m.tflite").exists()
    leftover = store.versions_dir / ".tmp-dead"
    leftover.mkdir()
    ModelStore(home).recover()
    assert not leftover.exists()


def test_boot_counter_counts_only_dead_attempts(tmp_path):
    store = ModelStore(tmp_path / "home")
    with store.attempt(7):
        assert store.died_attempting() is None, "a live attempt is not a death"
    assert store.state().attempting is None
    st = store.state()
    st.attempting = 7  # what a SIGKILLed attempt leaves behind
    atomic_write_json(store.state_path, st.model_dump(mode="json"))
    assert store.died_attempting() == (7, 1)
    assert store.died_attempting() is None
