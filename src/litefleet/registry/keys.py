"""Private signing keys of a repository: Ed25519, one directory per role, never served.

Layout: `KEYS/<role>/<keyid>.pem` (PKCS#8 PEM, mode 0600). All keys in a role's directory
sign together, so a threshold of N is N files. When `LITEFLEET_KEY_PASSPHRASE` is set at
creation the PEM is encrypted with it; loading an encrypted key needs the same variable.
Keeping the keys outside `metadata/` and `targets/` is what makes them unreachable from
the server, which only serves those two directories.

The offline roles (root, targets) and the online roles (snapshot, timestamp, rollout) share
this layout; `ONLINE_ROLES` is what a server may load. In production the offline keys live
elsewhere: point `LITEFLEET_KEYS_DIR` (or `KeyStore(path)`) at removable media when signing.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
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
ONLINE_ROLES = ("snapshot", "timestamp", "rollout")
OFFLINE_ROLES = ("root", "targets")
TOKENS_FILE = "tokens.json"


def _passphrase() -> bytes | None:
    value = os.environ.get(PASSPHRASE_ENV)
    return value.encode() if value else None


class KeyStore:
    """The private keys of one repository, loaded on demand, one directory per role."""

    def __init__(self, path: Path, allowed: tuple[str, ...] | None = None) -> None:
        """`allowed` limits the roles this store will sign for (a server: `ONLINE_ROLES`)."""
        self.path = Path(path)
        self.allowed = allowed

    def role_dir(self, role: str) -> Path:
        return self.path / role

    def generate(self, role: str) -> SSlibKey:
        """Create and store one new Ed25519 key for `role`; return its public key."""
        private = Ed25519PrivateKey.generate()
        signer = CryptoSigner(private)
        passphrase = _passphrase()
        encryption = BestAvailableEncryption(passphrase) if passphrase else NoEncryption()
        pem = private.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, encryption)
        directory = self.role_dir(role)
        _private_dir(self.path)
        _private_dir(directory)
        _write_private(directory / f"{signer.public_key.keyid}.pem", pem)
        return signer.public_key

    def signers(self, role: str) -> list[CryptoSigner]:
        """Every key of `role`, decrypted. A missing or undecryptable key is a UserError."""
        if self.allowed is not None and role not in self.allowed:
            raise UserError(f"this process may not sign for the offline role {role!r}")
        files = sorted(self.role_dir(role).glob("*.pem"))
        if not files:
            raise UserError(f"no private key for role {role!r} in {self.role_dir(role)}")
        return [_load(f) for f in files]

    def has(self, role: str) -> bool:
        return any(self.role_dir(role).glob("*.pem"))

    def retire(self, role: str) -> None:
        """Move the current keys of `role` aside (kept for audit, never loaded again)."""
        retired = self.path / "retired" / role
        _private_dir(retired.parent)
        _private_dir(retired)
        for f in self.role_dir(role).glob("*.pem"):
            f.replace(retired / f.name)

    # ------------------------------------------------------------------ device tokens

    def issue_token(self, label: str = "fleet") -> str:
        """A fresh random bearer token; only its sha256 is stored."""
        token = secrets.token_urlsafe(32)
        hashes = self.token_hashes()
        hashes[_token_hash(token)] = label
        _private_dir(self.path)
        _write_private(self.path / TOKENS_FILE, json.dumps(hashes, indent=1).encode())
        return token

    def token_hashes(self) -> dict[str, str]:
        f = self.path / TOKENS_FILE
        return json.loads(f.read_text()) if f.exists() else {}


def check_token(token: str, hashes: dict[str, str]) -> bool:
    """Constant-time membership of a presented token among the stored hashes."""
    digest = _token_hash(token)
    found = False
    for known in hashes:
        found |= hmac.compare_digest(digest, known)
    return found


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


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


def _private_dir(path: Path) -> None:
    path.mkdir(parents=True, exist_ok=True)
    path.chmod(0o700)


def _write_private(path: Path, data: bytes) -> None:
    """Write with mode 0600 from the start (never world-readable, even briefly), atomically."""
    atomic_write_bytes(path, data, mode=0o600)
