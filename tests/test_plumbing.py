"""The one file lock and the one atomic writer (neutral modules used by device and registry)."""

from __future__ import annotations

import os
import threading

import pytest

from litefleet.errors import UserError
from litefleet.fsutil import TMP_PREFIX, atomic_write_bytes
from litefleet.lock import FileLock


def test_lock_is_reentrant_in_a_thread_and_exclusive_across_threads(tmp_path):
    lock = FileLock(tmp_path / "x.lock", timeout=0.2)
    other = FileLock(tmp_path / "x.lock", timeout=0.2)
    with lock, lock:  # re-entrant
        with pytest.raises(UserError, match=r"timed out waiting for lock .*x\.lock"):
            other.acquire()
        failed: list[Exception] = []

        def same_object_other_thread() -> None:
            try:
                lock.acquire()
            except UserError as exc:
                failed.append(exc)

        t = threading.Thread(target=same_object_other_thread)
        t.start()
        t.join()
        assert failed, "another thread got the lock while this one held it"
    with other:  # released after the outer `with`
        pass


def test_atomic_write_sets_the_mode_and_leaves_no_temp_file(tmp_path):
    public, private = tmp_path / "a" / "root.json", tmp_path / "key.pem"
    atomic_write_bytes(public, b"{}", mode=0o644)
    atomic_write_bytes(private, b"secret")
    assert public.read_bytes() == b"{}" and os.stat(public).st_mode & 0o777 == 0o644
    assert os.stat(private).st_mode & 0o777 == 0o600
    atomic_write_bytes(public, b"[1]", mode=0o644)
    assert public.read_bytes() == b"[1]"
    assert not [p for p in tmp_path.rglob("*") if p.name.startswith(TMP_PREFIX)]
