"""Private signing keys of a repository: Ed25519, one directory per role, never served.

Layout: `KEYS/<role>/<keyid>.pem` (PKCS#8 PEM, mode 0600). All keys in a role's directory
sign together, so a threshold of N is N files. When `LITEFLEET_KEY_PASSPHRASE` is set at
creation the PEM is encrypted with it; loading an encrypted key needs the same variable.
Keeping the keys outside `metadata/` and `targets/` is what makes them unreachable from
the server, which only serves those two directories.

Two folders: the online roles (snapshot, timestamp, rollout), which the server loads, live
in `REPO/keys/` (or `LITEFLEET_KEYS_DIR`); the offline roles (root, targets) live in a
separate folder *outside* the repository (`repo init` puts them next to it, in
`REPO.offline-keys/`, or where `--offline-keys`/`LITEFLEET_OFFLINE_KEYS_DIR` says), so the
server process never has them in its folder. Move that folder to removable media between
signings. A repository made by an older `repo init` keeps both in `REPO/keys/`; `serve`
warns loudly about it (`offline_keys_exposed`).
"""

from __future__ import annotations

import os
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import (
    BestAvailableEncryption,
    Encoding,
    NoEncryption,
    PrivateFormat,
    load_pem_private_key,
)
from securesystemslib.signer import CryptoSigner, SSlibKey

from litefleet.errors import UserError
from litefleet.fsutil import atomic_write_bytes

PASSPHRASE_ENV = "LITEFLEET_KEY_PASSPHRASE"
KEYS_DIR_ENV = "LITEFLEET_KEYS_DIR"
OFFLINE_KEYS_DIR_ENV = "LITEFLEET_OFFLINE_KEYS_DIR"
ONLINE_ROLES = ("snapshot", "timestamp", "rollout")
OFFLINE_ROLES = ("root", "targets")


def _passphrase() -> bytes | None:
    value = os.environ.get(PASSPHRASE_ENV)
    return value.encode() if value else None


class KeyStore:
    """The private keys of one repository, loaded on demand, one directory per role."""

    def __init__(
        self,
        path: Path,
        allowed: tuple[str, ...] | None = None,
        offline_path: Path | None = None,
    ) -> None:
        """`allowed` limits the roles this store will sign for (a server: `ONLINE_ROLES`);
        `offline_path` holds root and targets (None: they live in `path` too)."""
        self.path = Path(path)
        self.allowed = allowed
        self.offline_path = Path(offline_path) if offline_path else None

    def base_dir(self, role: str) -> Path:
        if role in OFFLINE_ROLES and self.offline_path is not None:
            return self.offline_path
        return self.path

    def role_dir(self, role: str) -> Path:
        return self.base_dir(role) / role

    def generate(self, role: str) -> SSlibKey:
        """Create and store one new Ed25519 key for `role`; return its public key."""
        private = Ed25519PrivateKey.generate()
        signer = CryptoSigner(private)
        passphrase = _passphrase()
        encryption = BestAvailableEncryption(passphrase) if passphrase else NoEncryption()
        pem = private.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, encryption)
        directory = self.role_dir(role)
        make_private_dir(self.base_dir(role))
        make_private_dir(directory)
        write_private_file(directory / f"{signer.public_key.keyid}.pem", pem)
        return signer.public_key

    def signers(self, role: str) -> list[CryptoSigner]:
        """Every key of `role`, decrypted. A missing or undecryptable key is a UserError."""
        if self.allowed is not None and role not in self.allowed:
            raise UserError(f"this process may not sign for the offline role {role!r}")
        files = sorted(self.role_dir(role).glob("*.pem"))
        if not files and role in OFFLINE_ROLES and self.offline_path is not None:
            raise UserError(
                f"no private key for the offline role {role!r} in {self.role_dir(role)}"
                f" (moved to removable media?): point at the folder that holds root/ and"
                f" targets/ with {OFFLINE_KEYS_DIR_ENV}=/media/…/{self.offline_path.name}"
            )
        if not files:
            raise UserError(f"no private key for role {role!r} in {self.role_dir(role)}")
        return [_load(f) for f in files]

    def has(self, role: str) -> bool:
        return any(self.role_dir(role).glob("*.pem"))

    def retire(self, role: str) -> None:
        """Move the current keys of `role` aside (kept for audit, never loaded again)."""
        retired = self.base_dir(role) / "retired" / role
        make_private_dir(retired.parent)
        make_private_dir(retired)
        for f in self.role_dir(role).glob("*.pem"):
            f.replace(retired / f.name)


def offline_keys_exposed(keys_dir: Path, repo: Path) -> list[Path]:
    """Offline private keys (root, targets) that a server on `repo` could read: those in its
    online keys folder, and any under the repository folder itself. Empty is the safe answer."""
    found: set[Path] = set()
    for base in (Path(keys_dir), Path(repo)):
        if not base.is_dir():
            continue
        for role in OFFLINE_ROLES:
            pattern = f"{role}/*.pem" if base == Path(keys_dir) else f"**/{role}/*.pem"
            found.update(f for f in base.glob(pattern) if os.access(f, os.R_OK))
    return sorted(p for p in found if "retired" not in p.parts)


def _load(path: Path) -> CryptoSigner:
    data = path.read_bytes()
    encrypted = b"ENCRYPTED" in data.split(b"\n", 1)[0]
    passphrase = _passphrase()
    if encrypted and passphrase is None:
        raise UserError(f"key {path.name} is encrypted: set {PASSPHRASE_ENV}")
    try:
        private = load_pem_private_key(data, passphrase if encrypted else None)
    except ValueError as exc:
        raise UserError(f"cannot decrypt key {path}: wrong {PASSPHRASE_ENV}?") from exc
    if not isinstance(private, Ed25519PrivateKey):
        raise UserError(f"key {path} is not an Ed25519 key")
    return CryptoSigner(private)


def make_private_dir(path: Path) -> None:
    path.mkdir(parents=True, exist_ok=True)
    path.chmod(0o700)


def write_private_file(path: Path, data: bytes) -> None:
    """Write with mode 0600 from the start (never world-readable, even briefly), atomically."""
    atomic_write_bytes(path, data, mode=0o600)
