"""A TUF repository on disk, changed only through locked, ordered transactions.

Layout: `metadata/` (root.json + N.root.json, timestamp.json, N.snapshot.json,
N.targets.json, N.rollout.json; consistent snapshots on), `targets/` (files under
`<dir>/<sha256>.<name>`, as python-tuf's ngclient fetches them), `keys/` (online private
keys and device tokens, never served), `litefleet.json` (expiry periods, where the offline
keys are), `.lock` (one writer at a time: CLI or server). The offline keys (root, targets)
live outside the repository folder (`REPO.offline-keys/` by default; see `keys.py`).

Roles: root and targets are offline (only the CLI loads them); snapshot, timestamp and the
delegated `rollout` role (paths `*/rollout.json`) are online, so the server can re-sign the
timestamp and pause a rollout but can never sign a model file.

Every change is a transaction:

    with repo.transaction(roles=("targets",)) as tx:
        tx.add_target("digits/3/int8.tflite", data, custom={...})

It loads the needed keys first (a wrong passphrase changes nothing), writes target files,
then on success the new targets/rollout metadata, then the snapshot, and last
`timestamp.json` (an atomic replace): the one switch that makes clients see the change. A
crash before that switch leaves only unreferenced files.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from securesystemslib.signer import CryptoSigner
from tuf.api.metadata import (
    DelegatedRole,
    Delegations,
    Metadata,
    MetaFile,
    Root,
    Signed,
    Snapshot,
    TargetFile,
    Targets,
    Timestamp,
)
from tuf.api.serialization.json import JSONSerializer

from litefleet.errors import UserError
from litefleet.fsutil import atomic_write_bytes
from litefleet.lock import FileLock
from litefleet.registry.keys import KEYS_DIR_ENV, OFFLINE_KEYS_DIR_ENV, KeyStore
from litefleet.release import ROLLOUT_ROLE

CONFIG_FILE = "litefleet.json"
ROLLOUT_PATTERN = "*/rollout.json"
TOP_ROLES = ("root", "targets", "snapshot", "timestamp")
ALL_ROLES = (*TOP_ROLES, ROLLOUT_ROLE)
_SERIALIZER = JSONSerializer(compact=False)
Clock = Callable[[], datetime]


def utcnow() -> datetime:
    return datetime.now(UTC)


RECOMMENDED_EXPIRY = {
    "root": 365 * 86400,
    "targets": 90 * 86400,
    "snapshot": 7 * 86400,
    "timestamp": 86400,
    ROLLOUT_ROLE: 7 * 86400,
}
"""Seconds each role's metadata stays valid after signing; the defaults are the advice.

`targets` (offline) bounds how long a thief of the online keys can freeze devices on old
metadata (SECURITY.md): 90 days, re-signed with `litefleet repo resign REPO targets` before
it runs out. The online roles are re-signed by the server itself before they expire.
"""


@dataclass
class RepoConfig:
    """Expiry periods (seconds), signature thresholds and where the offline keys live,
    stored in `litefleet.json` (change expiry later with `litefleet repo expiry`)."""

    expiry: dict[str, int] = field(default_factory=lambda: dict(RECOMMENDED_EXPIRY))
    thresholds: dict[str, int] = field(default_factory=lambda: dict.fromkeys(ALL_ROLES, 1))
    offline_keys: str | None = None
    """Folder of the root and targets keys; None: inside `keys/` (older repositories)."""


def key_store(path: Path, config: RepoConfig, allowed: tuple[str, ...] | None = None) -> KeyStore:
    """The key folders of the repository at `path`, environment variables first."""
    offline = os.environ.get(OFFLINE_KEYS_DIR_ENV) or config.offline_keys
    return KeyStore(
        Path(os.environ.get(KEYS_DIR_ENV) or path / "keys"),
        allowed=allowed,
        offline_path=Path(offline) if offline else None,
    )


def default_offline_keys(path: Path) -> Path:
    """Next to the repository, never inside it: `REPO.offline-keys/`."""
    path = Path(path).resolve()
    return path.parent / f"{path.name}.offline-keys"


class Repository:
    """One repository directory: reads the current signed state, writes via `transaction`.

    Args:
        path: a folder made by `Repository.init` (or `litefleet repo init`).
        keys: where the private keys are (default: `$LITEFLEET_KEYS_DIR` or `path/keys`).

    Raises:
        UserError: `path` is not a litefleet repository.

    Example:
        >>> from litefleet import Repository
        >>> repo = Repository.init(Path("repo"))     # keys + version-1 metadata
        >>> repo = Repository(Path("repo"))          # later
    """

    def __init__(self, path: Path | str, keys: KeyStore | None = None, clock: Clock = utcnow):
        self.path = Path(path)
        if not (self.path / "metadata" / "root.json").is_file():
            raise UserError(f"{self.path} is not a litefleet repository (run `repo init`)")
        raw = json.loads((self.path / CONFIG_FILE).read_text())
        self.config = RepoConfig(**raw)
        self.keys = keys or key_store(self.path, self.config)
        self.clock = clock
        self._lock = FileLock(self.path / ".lock", timeout=None)

    @property
    def metadata_dir(self) -> Path:
        return self.path / "metadata"

    @property
    def targets_dir(self) -> Path:
        return self.path / "targets"

    # ------------------------------------------------------------------ creation

    @classmethod
    def init(
        cls,
        path: Path | str,
        config: RepoConfig | None = None,
        clock: Clock = utcnow,
        offline_keys: Path | None = None,
    ) -> Repository:
        """Create keys and version-1 metadata for every role. Refuses a non-empty folder.

        The root and targets keys go to `offline_keys` (default `REPO.offline-keys/`, next
        to the repository), never into the folder a server runs on.
        """
        path = Path(path)
        config = config or RepoConfig()
        if path.exists() and any(path.iterdir()):
            raise UserError(f"{path} exists and is not empty")
        for role, n in config.thresholds.items():
            if n < 1:
                raise UserError(f"threshold of {role} must be >= 1")
        if config.offline_keys is None and not os.environ.get(OFFLINE_KEYS_DIR_ENV):
            chosen = Path(offline_keys) if offline_keys else default_offline_keys(path)
            config.offline_keys = str(chosen.resolve())
            if chosen.exists() and any(chosen.glob("*/*.pem")):
                raise UserError(f"{chosen} already holds keys: choose another --offline-keys")
        keys = key_store(path, config)
        pub = {
            role: [keys.generate(role) for _ in range(config.thresholds[role])]
            for role in ALL_ROLES
        }
        (path / "metadata").mkdir(parents=True)
        (path / "targets").mkdir()
        _write_public(path / CONFIG_FILE, json.dumps(asdict(config), indent=1).encode())
        now = clock()

        def expires(role: str) -> datetime:
            return now + timedelta(seconds=config.expiry[role])

        root = Root(expires=expires("root"), consistent_snapshot=True)
        for role in TOP_ROLES:
            for key in pub[role]:
                root.add_key(key, role)
            root.roles[role].threshold = config.thresholds[role]
        targets = Targets(expires=expires("targets"))
        targets.delegations = Delegations(keys={}, roles={})
        targets.delegations.roles[ROLLOUT_ROLE] = DelegatedRole(
            name=ROLLOUT_ROLE,
            keyids=[],
            threshold=config.thresholds[ROLLOUT_ROLE],
            terminating=True,
            paths=[ROLLOUT_PATTERN],
        )
        for key in pub[ROLLOUT_ROLE]:
            targets.add_key(key, ROLLOUT_ROLE)
        rollout = Targets(expires=expires(ROLLOUT_ROLE))
        snapshot = Snapshot(
            expires=expires("snapshot"),
            meta={"targets.json": MetaFile(1), f"{ROLLOUT_ROLE}.json": MetaFile(1)},
        )
        timestamp = Timestamp(expires=expires("timestamp"), snapshot_meta=MetaFile(1))
        repo_meta = path / "metadata"
        for role, signed in (
            ("root", root),
            ("targets", targets),
            (ROLLOUT_ROLE, rollout),
            ("snapshot", snapshot),
        ):
            md = Metadata(signed)
            _sign(md, keys.signers(role))
            _write_public(repo_meta / f"1.{role}.json", md.to_bytes(_SERIALIZER))
        md = Metadata(timestamp)
        _sign(md, keys.signers("timestamp"))
        _write_public(repo_meta / "root.json", (repo_meta / "1.root.json").read_bytes())
        _write_public(repo_meta / "timestamp.json", md.to_bytes(_SERIALIZER))
        return cls(path, keys=keys, clock=clock)

    # ------------------------------------------------------------------ reading

    def load(self, role: str) -> Metadata[Any]:
        """The current signed metadata of `role`, following timestamp -> snapshot."""
        if role == "root":
            return Metadata.from_file(str(self.metadata_dir / "root.json"))
        timestamp = Metadata[Timestamp].from_file(str(self.metadata_dir / "timestamp.json"))
        if role == "timestamp":
            return timestamp
        snap_v = timestamp.signed.snapshot_meta.version
        snapshot = Metadata[Snapshot].from_file(str(self.metadata_dir / f"{snap_v}.snapshot.json"))
        if role == "snapshot":
            return snapshot
        version = snapshot.signed.meta[f"{role}.json"].version
        return Metadata.from_file(str(self.metadata_dir / f"{version}.{role}.json"))

    def target_info(self, path: str) -> TargetFile | None:
        role = ROLLOUT_ROLE if _is_rollout_path(path) else "targets"
        return self.load(role).signed.targets.get(path)

    def read_target(self, path: str) -> bytes | None:
        """The bytes of a published target, checked against its signed length and hash."""
        info = self.target_info(path)
        if info is None:
            return None
        data = (self.targets_dir / _stored_path(info)).read_bytes()
        info.verify_length_and_hashes(data)
        return data

    def target_file(self, path: str) -> Path | None:
        """Where a published target is stored on disk (hash-prefixed name)."""
        info = self.target_info(path)
        return None if info is None else self.targets_dir / _stored_path(info)

    def models(self) -> list[str]:
        """Models that have a signed release index."""
        paths = self.load("targets").signed.targets
        return sorted(p.split("/", 1)[0] for p in paths if re.fullmatch(r"[^/]+/releases\.json", p))

    # ------------------------------------------------------------------ writing

    @contextlib.contextmanager
    def lock(self) -> Iterator[None]:
        """An exclusive lock on the repository across processes (CLI and server).

        Re-entrant within a thread (rotation nests a transaction); another thread or
        another `Repository` object on the same folder waits. Never times out.
        """
        with self._lock:
            yield

    @contextlib.contextmanager
    def transaction(self, roles: tuple[str, ...] = ()) -> Iterator[Transaction]:
        """Lock, load the keys of `roles` (+ snapshot, timestamp), yield, then commit."""
        with self.lock():
            needed = {*roles, "snapshot", "timestamp"}
            signers = {role: self.keys.signers(role) for role in sorted(needed)}
            tx = Transaction(self, signers)
            try:
                yield tx
            except BaseException:
                tx.discard()
                raise
            tx.commit()

    def refresh_timestamp(self) -> int:
        """Re-sign the timestamp with a new version and expiry; return its version."""
        with self.transaction() as tx:
            tx.touch_timestamp_only = True
        return self.load("timestamp").signed.version

    def refresh_online(self, margin: timedelta) -> list[str]:
        """Re-sign each online role that expires within `margin`; return the roles re-signed.

        Only online keys are used; an offline role close to expiry is returned as
        `"targets (offline: re-sign with the CLI)"` so a server can warn about it.
        """
        soon = self.clock() + margin

        def due_roles() -> list[str]:
            return [
                r
                for r in (ROLLOUT_ROLE, "snapshot", "timestamp")
                if self.load(r).signed.expires <= soon
            ]

        if not due_roles():
            return self._offline_warnings(soon)
        with self.lock():
            due = due_roles()  # again under the lock: several workers may all have seen it
            if not due:
                return self._offline_warnings(soon)
            roles = (ROLLOUT_ROLE,) if ROLLOUT_ROLE in due else ()
            with self.transaction(roles=roles) as tx:
                if ROLLOUT_ROLE in due:
                    tx.touch(ROLLOUT_ROLE)
                if "snapshot" not in due and ROLLOUT_ROLE not in due:
                    tx.touch_timestamp_only = True
        return due + self._offline_warnings(soon)

    def resign(self, role: str) -> int:
        """Re-sign `role` with a fresh expiry from `litefleet.json`; return its new version.

        The offline `targets` role must be re-signed this way (by a holder of its key)
        before it expires; the server does the online roles by itself.
        """
        if role not in ALL_ROLES[1:]:
            raise UserError(f"resign one of targets, snapshot, timestamp, rollout, not {role!r}")
        if role == "timestamp":
            return self.refresh_timestamp()
        roles = (role,) if role in ("targets", ROLLOUT_ROLE) else ()
        with self.transaction(roles=roles) as tx:
            if roles:
                tx.touch(role)
        return self.load(role).signed.version

    def set_expiry(self, periods: dict[str, int]) -> None:
        """Change expiry periods (seconds); they apply from the next signature of each role."""
        for role, seconds in periods.items():
            if role not in ALL_ROLES:
                raise UserError(f"unknown role {role!r}: one of {', '.join(ALL_ROLES)}")
            if not 3600 <= seconds <= 5 * 365 * 86400:
                raise UserError(f"{role} expiry must be between 1 hour and 5 years")
        with self.lock():
            self.config.expiry.update(periods)
            data = json.dumps(asdict(self.config), indent=1).encode()
            _write_public(self.path / CONFIG_FILE, data)

    def _offline_warnings(self, soon: datetime) -> list[str]:
        return [
            f"{r} (offline: re-sign with the CLI)"
            for r in ("root", "targets")
            if self.load(r).signed.expires <= soon
        ]

    def rotate_key(self, role: str) -> list[str]:
        """Replace every key of `role` with fresh ones; return the new key ids.

        Root changes first (a new N.root.json signed by the current root keys and, for a
        root rotation, the new ones too), then the role is re-signed with its new key, then
        snapshot and timestamp: a client that trusts the old root walks the root chain.
        The rollout key lives in the targets delegation, so rotating it re-signs targets.
        """
        if role not in ALL_ROLES:
            raise UserError(f"unknown role {role!r}: one of {', '.join(ALL_ROLES)}")
        with self.lock():
            parent = "targets" if role == ROLLOUT_ROLE else "root"
            for r in {parent, role, "snapshot", "timestamp"}:
                self.keys.signers(r)  # every key decrypts before anything changes
            old_root = self.keys.signers("root")
            self.keys.retire(role)
            new_keys = [self.keys.generate(role) for _ in range(self.config.thresholds[role])]
            if role == ROLLOUT_ROLE:
                with self.transaction(roles=("targets", ROLLOUT_ROLE)) as tx:
                    delegator = tx.edit("targets")
                    for keyid in list(delegator.delegations.roles[ROLLOUT_ROLE].keyids):
                        delegator.revoke_key(keyid, ROLLOUT_ROLE)
                    for key in new_keys:
                        delegator.add_key(key, ROLLOUT_ROLE)
                    tx.touch(ROLLOUT_ROLE)
                return [k.keyid for k in new_keys]
            root_md = self.load("root")
            root: Root = root_md.signed
            for keyid in list(root.roles[role].keyids):
                root.revoke_key(keyid, role)
            for key in new_keys:
                root.add_key(key, role)
            root.version += 1
            root.expires = self.clock() + timedelta(seconds=self.config.expiry["root"])
            _sign(root_md, old_root + (self.keys.signers("root") if role == "root" else []))
            data = root_md.to_bytes(_SERIALIZER)
            _write_public(self.metadata_dir / f"{root.version}.root.json", data)
            _write_public(self.metadata_dir / "root.json", data)
            with self.transaction(roles=("targets",) if role == "targets" else ()) as tx:
                if role == "targets":
                    tx.touch("targets")
                tx.touch_timestamp_only = role in ("timestamp", "root")
        return [k.keyid for k in new_keys]


class Transaction:
    """Changes to targets and rollout metadata, committed in the safe order by `commit`."""

    def __init__(self, repo: Repository, signers: dict[str, list[CryptoSigner]]):
        self.repo = repo
        self.signers = signers
        self.touch_timestamp_only = False
        self._edited: dict[str, Metadata[Any]] = {}
        self._new_files: list[Path] = []

    def edit(self, role: str) -> Targets:
        """The editable payload of `targets` or `rollout` for this transaction."""
        if role not in self.signers:
            raise UserError(f"this change needs the {role} key, which was not loaded")
        if role not in self._edited:
            self._edited[role] = self.repo.load(role)
        return self._edited[role].signed

    def touch(self, role: str) -> None:
        """Re-sign `role` with a new version even though its targets do not change."""
        self.edit(role)

    def add_target(
        self, path: str, data: bytes, custom: dict[str, Any] | None = None
    ) -> TargetFile:
        """Store `data` under its hash-prefixed name and list it in the right role."""
        role = ROLLOUT_ROLE if _is_rollout_path(path) else "targets"
        info = TargetFile.from_data(path, data, ["sha256"])
        if custom is not None:
            info.unrecognized_fields["custom"] = custom
        dest = self.repo.targets_dir / _stored_path(info)
        if not dest.exists():
            dest.parent.mkdir(parents=True, exist_ok=True)
            self._new_files.append(dest)
            _write_public(dest, data)
        self.edit(role).targets[path] = info
        return info

    def remove_target(self, path: str) -> None:
        """Take `path` out of the signed metadata (its file stays on disk: a device that
        still holds the previous metadata may finish a download)."""
        role = ROLLOUT_ROLE if _is_rollout_path(path) else "targets"
        self.edit(role).targets.pop(path, None)

    def signed_bytes(self, role: str) -> int:
        """The size `role`'s metadata will have once signed (what a device downloads)."""
        md = self._edited[role] if role in self._edited else self.repo.load(role)
        return len(md.to_bytes(_SERIALIZER))

    def discard(self) -> None:
        """Remove the target files this failed transaction wrote: nothing references them."""
        for f in self._new_files:
            f.unlink(missing_ok=True)

    def commit(self) -> None:
        """Sign everything in memory first, then write: role files, snapshot, timestamp last."""
        repo, now = self.repo, self.repo.clock()
        writes: list[tuple[str, bytes]] = []
        snapshot_md = repo.load("snapshot")
        timestamp_md = repo.load("timestamp")
        if self._edited or not self.touch_timestamp_only:
            snapshot: Snapshot = snapshot_md.signed
            for role in (ROLLOUT_ROLE, "targets"):
                if role in self._edited:
                    md = self._edited[role]
                    self._bump(md.signed, role, now)
                    _sign(md, self.signers[role])
                    writes.append((f"{md.signed.version}.{role}.json", md.to_bytes(_SERIALIZER)))
                    snapshot.meta[f"{role}.json"] = MetaFile(md.signed.version)
            self._bump(snapshot, "snapshot", now)
            _sign(snapshot_md, self.signers["snapshot"])
            writes.append((f"{snapshot.version}.snapshot.json", snapshot_md.to_bytes(_SERIALIZER)))
            timestamp_md.signed.snapshot_meta = MetaFile(snapshot.version)
        self._bump(timestamp_md.signed, "timestamp", now)
        _sign(timestamp_md, self.signers["timestamp"])
        # the one switch clients see: everything it references is already on disk
        writes.append(("timestamp.json", timestamp_md.to_bytes(_SERIALIZER)))
        for name, data in writes:
            _write_public(repo.metadata_dir / name, data)

    def _bump(self, signed: Signed, role: str, now: datetime) -> None:
        signed.version += 1
        signed.expires = now + timedelta(seconds=self.repo.config.expiry[role])


_ROLLOUT_PATHS = DelegatedRole(
    name=ROLLOUT_ROLE, keyids=[], threshold=1, terminating=True, paths=[ROLLOUT_PATTERN]
)
"""Only its paths matter: the same pattern rule the delegation in `targets` uses."""


def _is_rollout_path(path: str) -> bool:
    return _ROLLOUT_PATHS.is_delegated_path(path)


def _stored_path(info: TargetFile) -> str:
    """The consistent-snapshot name python-tuf's ngclient requests: `<dir>/<sha256>.<name>`."""
    head, _, name = info.path.rpartition("/")
    stored = f"{info.hashes['sha256']}.{name}"
    return f"{head}/{stored}" if head else stored


def _sign(md: Metadata[Any], signers: list[CryptoSigner]) -> None:
    md.signatures.clear()
    for signer in signers:
        md.sign(signer, append=True)


def _write_public(path: Path, data: bytes) -> None:
    """Metadata is public (mode 0644): another web server may serve the folder."""
    atomic_write_bytes(path, data, mode=0o644)
