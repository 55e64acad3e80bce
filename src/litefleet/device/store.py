"""The versioned model store on the device: the only owner of what is installed and active.

    HOME/versions/<v>/<variant>.tflite, manifest.json (small: no statistics), drift.json,
                      card.json, golden-inputs.npz, golden-reference.npz (the release's files:
                      the previous version's golden reference stays for the quality gate)
    HOME/active       {"version": v, "file": "versions/<v>/<variant>.tflite"}; os.replace'd
    HOME/state.json   the journal: active, previous, probation, blocked, highest installed

Invariants, kept through a crash at any instant:
- a `versions/<v>` folder exists only complete (files are staged in `versions/.tmp-*`,
  the manifest is written last, then the folder is renamed into place);
- `active` names a complete version whose model file matches its manifest's sha256;
- the journal is written before the pointer; `recover()` (run on every open) reconciles
  the two, deletes `.tmp-*` leftovers and half-deleted folders;
- garbage collection keeps the newest `keep` versions and never the active or previous one;
- every path built from a name (version, file) stays inside the home (`inside`);
- a boot counter: `begin_attempt(v)` is durable before a version is tried, so an agent that
  dies while trying it (power cut, OOM kill) is counted at the next start (`died_attempting`);
- the sha256 of every model refused or rolled back is kept: those bytes are not activated
  again, whatever version number they are re-signed under, until an operator `unblock`s them.

The store lock is held only for local state changes, never across the network: a check
stages its files under a shared `staging.lock`, and `recover()` leaves `.tmp-` files alone
while anyone is staging.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import shutil
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field

from litefleet.device.crashpoints import crashpoint
from litefleet.device.probation import Probation
from litefleet.errors import UserError
from litefleet.fsutil import (
    TMP_PREFIX,
    atomic_write_json,
    fsync_dir,
    fsync_file,
    read_json,
)
from litefleet.lock import FileLock
from litefleet.release import (
    DRIFT_FILE,
    FeatureStats,
    FileName,
    Name,
    Precision,
    Signature,
    Version,
)

MANIFEST = "manifest.json"


class Manifest(BaseModel):
    """What the device knows about one installed version (copied from signed metadata)."""

    model: Name
    version: Version
    variant: Name
    file: FileName
    """A bare file name inside `versions/<v>/` (validated: never a path)."""
    precision: Precision
    sha256: str
    bytes: int
    signature: Signature
    accuracy: float = 0.0
    """Golden-set accuracy measured on this device by the health gate."""
    latency_ms: float = 0.0
    """Median latency measured on this device by the health gate."""
    source: Literal["full", "patch", "local"] = "full"
    installed: float = 0.0
    # the first format kept drift statistics here (megabytes for an image model): an old
    # manifest's `reference_stats` is ignored on read; drift.json sits beside it now


class HistoryItem(BaseModel):
    time: float
    event: str
    version: int | None = None
    reason: str = ""


class StoreState(BaseModel):
    """The journal, `state.json`."""

    active: int | None = None
    previous: int | None = None
    highest_activated: int = 0
    """Monotonic release counter: the agent never goes below it unless signed aborted.
    Counted at activation, not install: a crash between the two must not hide a release."""
    installed: list[int] = Field(default_factory=list)
    """Versions on disk, in install order."""
    blocked: dict[int, str] = Field(default_factory=dict)
    """Versions rolled back or refused, with the reason: not installed again by the agent."""
    probation: Probation | None = None
    attempting: int | None = None
    """The version being tried (download + gate), written before; cleared after."""
    crashed_attempts: dict[int, int] = Field(default_factory=dict)
    """Per version: attempts that ended with the agent dead (the boot counter)."""
    refused_sha256: dict[str, str] = Field(default_factory=dict)
    """sha256 of model bytes refused by the gate or rolled back -> why."""
    history: list[HistoryItem] = Field(default_factory=list)

    def note(self, event: str, version: int | None, reason: str = "") -> None:
        self.history = [
            *self.history[-49:],
            HistoryItem(time=time.time(), event=event, version=version, reason=reason),
        ]


class ModelStore:
    """Open a store (and repair it): `ModelStore(home)`. All writers hold `store.lock`."""

    def __init__(self, home: Path, keep: int = 3, recover: bool = True) -> None:
        self.home = Path(home)
        self.keep = max(2, keep)
        self.versions_dir = self.home / "versions"
        self.lock = FileLock(self.home / "store.lock")
        self.versions_dir.mkdir(parents=True, exist_ok=True)
        if recover:
            self.recover()

    # ------------------------------------------------------------------ reading

    @property
    def pointer_path(self) -> Path:
        return self.home / "active"

    @property
    def state_path(self) -> Path:
        return self.home / "state.json"

    def state(self) -> StoreState:
        data = read_json(self.state_path)
        return StoreState.model_validate(data) if data else StoreState()

    def read_pointer(self) -> tuple[int, Path] | None:
        data = read_json(self.pointer_path)
        if not data:
            return None
        return int(data["version"]), self.home / data["file"]

    def active_version(self) -> int | None:
        p = self.read_pointer()
        return p[0] if p else None

    def manifest(self, version: int) -> Manifest:
        data = read_json(self.versions_dir / str(version) / MANIFEST)
        if data is None:
            raise UserError(f"version {version} is not installed")
        return Manifest.model_validate(data)

    def drift_stats(self, version: int) -> FeatureStats | None:
        """The installed version's bounded drift statistics (`drift.json`), or None when
        it has none or they do not parse (no drift monitoring, never a failed start)."""
        try:
            data = read_json(self.versions_dir / str(version) / DRIFT_FILE)
            return FeatureStats.model_validate(data) if data else None
        except (OSError, ValueError):
            return None

    def find_file(self, name: str, sha256: str) -> Path | None:
        """An installed version's release file `name` with these bytes (golden inputs
        unchanged since that release): copied into a new version instead of downloaded."""
        for version in sorted(self.installed(), reverse=True):
            path = self.versions_dir / str(version) / name
            with suppress(OSError):
                if path.is_file() and sha256_file(path) == sha256:
                    return path
        return None

    def copy_in(self, source: Path, dest: Path) -> None:
        """Copy a file of an installed version (found by its hash) into a staging folder."""
        shutil.copyfile(self.inside(source), dest)

    def model_path(self, version: int) -> Path:
        return self.inside(self.versions_dir / str(version) / self.manifest(version).file)

    def inside(self, path: Path) -> Path:
        """`path`, refused unless it stays inside the home (names come from metadata)."""
        resolved = Path(os.path.abspath(path))
        if not resolved.is_relative_to(Path(os.path.abspath(self.home))) or (
            path.exists() and not path.resolve().is_relative_to(self.home.resolve())
        ):
            raise UserError(f"refused path outside the device home: {path}")
        return path

    def installed(self) -> list[int]:
        return sorted(
            int(p.name)
            for p in self.versions_dir.iterdir()
            if p.name.isdigit() and (p / MANIFEST).exists()
        )

    # ------------------------------------------------------------------ recovery

    def recover(self) -> StoreState:
        """Delete leftovers, drop incomplete versions, make pointer and journal agree."""
        with self.lock:
            for folder in (self.home, self.versions_dir, self.home / "downloads"):
                if folder.exists() and not self._someone_staging():
                    for p in folder.iterdir():
                        if p.name.startswith(TMP_PREFIX):
                            _remove(p)
            valid = [v for v in self._scan_versions() if self._valid(v)]
            st = self.state()
            unchanged = st.model_dump(mode="json")
            pointer = self.read_pointer()
            p_version = pointer[0] if pointer else None
            candidates = [st.active, p_version, st.previous]
            want = next((v for v in candidates if v in valid), None)
            if want is None:
                usable = [v for v in valid if v not in st.blocked] or valid
                want = max(usable) if usable else None
            st.installed = [v for v in st.installed if v in valid] + [
                v for v in valid if v not in st.installed
            ]
            if st.active != want:
                st.note("recovered", want, f"journal said {st.active}, pointer {p_version}")
                if st.active in valid and st.active != want:
                    st.previous = st.active
                st.active = want
            if st.previous not in valid or st.previous == st.active:
                st.previous = None
            if st.active is not None:
                st.highest_activated = max(st.highest_activated, st.active)
            if st.probation and st.probation.version != st.active:
                st.probation = None
            if st.model_dump(mode="json") != unchanged or not self.state_path.exists():
                # only when repaired: a check on a full disk must not fail before it starts
                atomic_write_json(self.state_path, st.model_dump(mode="json"))
            if want is not None and p_version != want:
                self._write_pointer(want)
            elif want is None and pointer:
                self.pointer_path.unlink()
            return st

    def _scan_versions(self) -> list[int]:
        out = []
        for p in self.versions_dir.iterdir():
            if p.name.isdigit():
                if (p / MANIFEST).exists():
                    out.append(int(p.name))
                else:  # a rename never leaves this; be safe and drop it
                    _remove(p)
        return sorted(out)

    def _valid(self, version: int) -> bool:
        try:
            m = self.manifest(version)
            path = self.versions_dir / str(version) / m.file
            return path.stat().st_size == m.bytes and sha256_file(path) == m.sha256
        except (OSError, ValueError, UserError):
            return False

    # ------------------------------------------------------------------ installing

    @contextmanager
    def staging(self) -> Iterator[Path]:
        """A scratch folder inside the store; removed unless `commit` moved it. Held without
        the store lock (downloads and the gate run here), under a shared `staging.lock`."""
        fd = os.open(self.home / "staging.lock", os.O_RDWR | os.O_CREAT, 0o644)
        fcntl.flock(fd, fcntl.LOCK_SH)
        path = self.versions_dir / f"{TMP_PREFIX}{uuid.uuid4().hex}"
        try:
            path.mkdir()
            yield path
        finally:
            if path.exists():
                _remove(path)
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)

    def _someone_staging(self) -> bool:
        return self._held("staging.lock")

    def _held(self, name: str) -> bool:
        """Whether another open file description holds a flock on HOME/`name`."""
        fd = os.open(self.home / name, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        finally:
            os.close(fd)  # closing drops the lock if we got it
        return False

    def downloads_dir(self) -> Path:
        d = self.home / "downloads"
        d.mkdir(exist_ok=True)
        return d

    def commit(self, staging: Path, manifest: Manifest) -> None:
        """Make a fully written staging folder `versions/<v>`: manifest last, one rename."""
        model = staging / manifest.file
        if sha256_file(model) != manifest.sha256:
            raise UserError(f"staged model of version {manifest.version} does not match its hash")
        for f in staging.iterdir():
            fsync_file(f)
        atomic_write_json(staging / MANIFEST, manifest.model_dump(mode="json"))
        crashpoint("install.staged")
        with self.lock:
            target = self.inside(self.versions_dir / str(manifest.version))
            if target.exists():
                st = self.state()
                if manifest.version in (st.active, st.previous):
                    raise UserError(f"version {manifest.version} is installed and in use")
                _remove(target)
            os.replace(staging, target)
            fsync_dir(self.versions_dir)
            crashpoint("install.committed")
            st = self.state()
            st.installed = [v for v in st.installed if v != manifest.version] + [manifest.version]
            st.note("installed", manifest.version, manifest.source)
            atomic_write_json(self.state_path, st.model_dump(mode="json"))

    # ------------------------------------------------------------------ switching

    def activate(
        self, version: int, probation: Probation | None = None, reason: str = ""
    ) -> StoreState:
        """Switch `active` to an installed version: journal first, then the pointer."""
        with self.lock:
            if not self._valid(version):
                raise UserError(f"version {version} is not installed intact")
            st = self.state()
            if st.active != version:
                st.previous = st.active
            st.active = version
            st.highest_activated = max(st.highest_activated, version)
            st.probation = probation
            st.blocked.pop(version, None)
            st.note("activated", version, reason)
            atomic_write_json(self.state_path, st.model_dump(mode="json"))
            crashpoint("activate.journal")
            self._write_pointer(version)
            crashpoint("activate.pointer")
            self.gc()
            return st

    def rollback(self, to: int | None = None, reason: str = "rollback on command") -> int:
        """Go back to `to` (or the previous version); the version left is blocked."""
        with self.lock:
            st = self.state()
            bad = st.active
            valid = [v for v in self.installed() if v != bad and self._valid(v)]
            if to is None:
                older = [v for v in valid if v not in st.blocked and (bad is None or v < bad)]
                to = st.previous if st.previous in valid else (max(older) if older else None)
            if to is None:
                raise UserError("no other installed version to roll back to")
            if to not in valid:
                raise UserError(f"version {to} is not installed (have {self.installed()})")
            if bad is not None and bad != to:
                st.blocked[bad] = reason
                with suppress(UserError):
                    st.refused_sha256[self.manifest(bad).sha256] = (
                        f"rolled back from {bad}: {reason}"
                    )
            st.probation = None
            st.active, st.previous = to, _older_than(to, valid, st.blocked)
            st.blocked.pop(to, None)
            st.refused_sha256.pop(self.manifest(to).sha256, None)  # chosen: allowed again
            st.note("rolled_back", to, f"from {bad}: {reason}")
            atomic_write_json(self.state_path, st.model_dump(mode="json"))
            crashpoint("activate.journal")
            self._write_pointer(to)
            crashpoint("activate.pointer")
            return to

    def end_probation(self, version: int) -> None:
        with self.lock:
            st = self.state()
            if st.probation and st.probation.version == version:
                st.probation = None
                st.note("probation_passed", version)
                atomic_write_json(self.state_path, st.model_dump(mode="json"))

    def block(self, version: int, reason: str, sha256: list[str] | tuple[str, ...] = ()) -> None:
        """Remember a refused release (and its refused bytes) so the agent does not download
        it again and again, under this or any other version number."""
        with self.lock:
            st = self.state()
            st.blocked[version] = reason
            for digest in sha256:
                st.refused_sha256[digest] = f"refused in version {version}: {reason}"
            st.note("rejected", version, reason)
            atomic_write_json(self.state_path, st.model_dump(mode="json"))

    def unblock(self, version: int) -> str:
        """Forget a block (operator command): the agent may install `version` again, and
        `rollback` may go to it. Returns the reason it was blocked for."""
        with self.lock:
            st = self.state()
            if version not in st.blocked:
                blocked = ", ".join(str(v) for v in sorted(st.blocked)) or "none"
                raise UserError(f"version {version} is not blocked (blocked: {blocked})")
            reason = st.blocked.pop(version)
            for digest, why in list(st.refused_sha256.items()):  # its bytes too
                if why.startswith(
                    (f"refused in version {version}:", f"rolled back from {version}:")
                ):
                    del st.refused_sha256[digest]
            if st.active is not None and version in self.installed():
                # plain `rollback` goes to the newest older version that is not blocked
                st.previous = _older_than(st.active, self.installed(), st.blocked)
            st.note("unblocked", version, f"was: {reason}")
            atomic_write_json(self.state_path, st.model_dump(mode="json"))
            return reason

    def unblock_bytes(self, sha256_prefix: str) -> list[str]:
        """The operator's word: allow model bytes refused before (by sha256, 8+ hex) again."""
        if len(sha256_prefix) < 8:
            raise UserError(f"give at least 8 hex digits of the sha256, not {sha256_prefix!r}")
        with self.lock:
            st = self.state()
            done = [d for d in st.refused_sha256 if d.startswith(sha256_prefix.lower())]
            if not done:
                known = ", ".join(d[:12] for d in st.refused_sha256) or "none"
                raise UserError(f"no refused bytes match {sha256_prefix!r} (refused: {known})")
            for digest in done:
                del st.refused_sha256[digest]
            st.note("unblocked", None, "sha256 " + ", ".join(d[:12] for d in done))
            atomic_write_json(self.state_path, st.model_dump(mode="json"))
            return [f"sha256 {d[:12]}" for d in done]

    # ------------------------------------------------------------------ boot counter

    @contextmanager
    def attempt(self, version: int) -> Iterator[None]:
        """Durably say "attempting `version`" while downloading and gating it. If this
        process dies inside, the next `died_attempting` counts it (a live attempt holds
        `attempt.lock`, so a concurrent reader never mistakes it for a dead one)."""
        fd = os.open(self.home / "attempt.lock", os.O_RDWR | os.O_CREAT, 0o644)
        fcntl.flock(fd, fcntl.LOCK_EX)
        try:
            self._set_attempting(version)
            yield
            self._end_attempt(version, clean=True)
        except BaseException:
            self._end_attempt(version, clean=False)  # an error we saw is not a death
            raise
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)

    def _set_attempting(self, version: int) -> None:
        with self.lock:
            st = self.state()
            st.attempting = version
            atomic_write_json(self.state_path, st.model_dump(mode="json"))

    def _end_attempt(self, version: int, clean: bool) -> None:
        with self.lock:
            st = self.state()
            if st.attempting == version:
                st.attempting = None
                if clean:
                    st.crashed_attempts.pop(version, None)
                atomic_write_json(self.state_path, st.model_dump(mode="json"))

    def died_attempting(self) -> tuple[int, int] | None:
        """(version, deaths so far) when the last agent died while attempting a version."""
        with self.lock:
            st = self.state()
            v = st.attempting
            if v is None or self._held("attempt.lock"):
                return None
            st.attempting = None
            st.crashed_attempts[v] = st.crashed_attempts.get(v, 0) + 1
            st.note("died_attempting", v, f"death {st.crashed_attempts[v]}")
            atomic_write_json(self.state_path, st.model_dump(mode="json"))
            return v, st.crashed_attempts[v]

    def _write_pointer(self, version: int) -> None:
        rel = (self.versions_dir / str(version) / self.manifest(version).file).relative_to(
            self.home
        )
        atomic_write_json(self.pointer_path, {"version": version, "file": str(rel)})

    def gc(self) -> list[int]:
        """Delete versions beyond the newest `keep`, never the active or previous one."""
        with self.lock:
            st = self.state()
            order = [v for v in st.installed if v in self.installed()]
            keep = set(sorted(order)[-self.keep :]) | {st.active, st.previous}
            removed = []
            for v in order:
                if v not in keep:
                    # rename first: a crash mid-delete leaves a .tmp- leftover, not a half version
                    doomed = self.versions_dir / f"{TMP_PREFIX}gc-{v}-{uuid.uuid4().hex[:6]}"
                    os.replace(self.versions_dir / str(v), doomed)
                    crashpoint("gc.partial")
                    _remove(doomed)
                    removed.append(v)
            if removed:
                fsync_dir(self.versions_dir)
                st.installed = [v for v in order if v not in removed]
                atomic_write_json(self.state_path, st.model_dump(mode="json"))
            return removed


def _older_than(version: int, valid: list[int], blocked: dict[int, str]) -> int | None:
    older = [v for v in valid if v < version and v not in blocked]
    return max(older) if older else None


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()
