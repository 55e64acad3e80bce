"""Operator accounts, sessions and the audit log: who may look at and steer the fleet.

Operators are not devices. An operator account (`litefleet repo operator add REPO NAME
--role operator`) has a role, `viewer` (reads) or `operator` (reads and steers rollouts),
and one secret printed once: `op.NAME.SECRET`. Only an scrypt hash of the secret (random
salt, n=2**14, r=8, p=1) is kept, in `KEYS/operators.json` (mode 0600, beside the device
tokens). The same secret is the console's password and the CLI's bearer token.

- API requests (`fleet status`, `/v1/...`): `Authorization: Bearer op.NAME.SECRET`. A
  device token is never an operator token (different shape, different book) and an
  operator token is never a device token.
- The console: a login form exchanges the secret for a session cookie (`lf_session`,
  HttpOnly, SameSite=Strict, Secure when served over https), 12 h; the session row holds a
  CSRF token that every state-changing request must echo (form field `csrf` or header
  `X-CSRF-Token`), compared in constant time.
- The role is read from the book on every request: removing an account or changing its
  role takes effect at once, sessions included.

Verified bearer secrets are cached per worker by their sha256 (scrypt costs ~50 ms), and
the cache is dropped whenever the book file changes.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import secrets
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

from sqlalchemy import delete, insert, select
from sqlalchemy.engine import Engine

from litefleet.errors import UserError
from litefleet.lock import FileLock
from litefleet.registry.db import audit, operator_sessions
from litefleet.registry.keys import make_private_dir, write_private_file

OPERATORS_FILE = "operators.json"
NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")
Role = Literal["viewer", "operator"]
ROLES: tuple[Role, ...] = ("viewer", "operator")
SESSION_S = 12 * 3600
SCRYPT = {"n": 2**14, "r": 8, "p": 1, "dklen": 32}


@dataclass(frozen=True)
class Operator:
    name: str
    role: Role

    @property
    def can_steer(self) -> bool:
        return self.role == "operator"


def _scrypt(secret: str, salt: bytes) -> bytes:
    return hashlib.scrypt(secret.encode(), salt=salt, maxmem=64 * 1024 * 1024, **SCRYPT)


class OperatorBook:
    """The account file of one repository: add, remove, verify."""

    def __init__(self, keys_dir: Path) -> None:
        self.dir = Path(keys_dir)
        self.path = self.dir / OPERATORS_FILE
        self._verified: dict[str, str] = {}  # sha256(secret) -> name, valid for one stamp
        self._stamp: int | None = -1

    def add(self, name: str, role: str) -> str:
        """Create or reset an account; return its one-time secret `op.NAME.SECRET`."""
        if not NAME_RE.match(name):
            raise UserError(f"operator name {name[:80]!r}: 1-64 characters of A-Z a-z 0-9 _ -")
        if role not in ROLES:
            raise UserError(f"role {role!r}: one of {', '.join(ROLES)}")
        secret = f"op.{name}.{secrets.token_urlsafe(24)}"
        salt = secrets.token_bytes(16)
        with self._locked():
            accounts = self._read()
            accounts[name] = {
                "role": role,
                "salt": salt.hex(),
                "scrypt": _scrypt(secret, salt).hex(),
                "created": datetime.now(UTC).replace(microsecond=0).isoformat(),
            }
            self._write(accounts)
        return secret

    def remove(self, name: str) -> bool:
        with self._locked():
            accounts = self._read()
            found = accounts.pop(name, None) is not None
            self._write(accounts)
        return found

    def list(self) -> dict[str, Role]:
        return {n: a["role"] for n, a in sorted(self._read().items())}

    def get(self, name: str) -> Operator | None:
        self._refresh()
        account = self._accounts.get(name)
        return Operator(name, account["role"]) if account else None

    def verify(self, secret: str) -> Operator | None:
        """The account a secret belongs to, or None (wrong, removed, or not an op token)."""
        if not secret.startswith("op.") or len(secret) > 200:
            return None
        self._refresh()
        digest = hashlib.sha256(secret.encode()).hexdigest()
        name = self._verified.get(digest)
        if name is None:
            name = secret.split(".", 2)[1] if secret.count(".") >= 2 else ""
            account = self._accounts.get(name)
            if account is None:
                _scrypt(secret, b"0" * 16)  # same cost for an unknown name
                return None
            expected = bytes.fromhex(account["scrypt"])
            if not hmac.compare_digest(_scrypt(secret, bytes.fromhex(account["salt"])), expected):
                return None
            self._verified[digest] = name
        return self.get(name)

    def _refresh(self) -> None:
        try:
            stamp = self.path.stat().st_mtime_ns
        except FileNotFoundError:
            stamp = None
        if stamp != self._stamp:
            self._accounts, self._stamp, self._verified = self._read(), stamp, {}

    def _read(self) -> dict[str, dict]:
        if not self.path.exists():
            return {}
        raw = json.loads(self.path.read_text())
        accounts = raw.get("operators", {}) if raw.get("schema") == 1 else {}
        return {n: a for n, a in accounts.items() if isinstance(a, dict) and a.get("role") in ROLES}

    def _write(self, accounts: dict[str, dict]) -> None:
        write_private_file(
            self.path, json.dumps({"schema": 1, "operators": accounts}, indent=1).encode()
        )

    def _locked(self) -> FileLock:
        make_private_dir(self.dir)
        return FileLock(self.dir / ".operators.lock")


@dataclass(frozen=True)
class Session:
    name: str
    csrf: str


class Sessions:
    """Console sessions in the database (every worker sees them); only hashes stored."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def create(self, name: str) -> tuple[str, Session]:
        """A new session for `name`: (cookie secret, session)."""
        secret, csrf, now = secrets.token_urlsafe(32), secrets.token_urlsafe(32), time.time()
        with self.engine.begin() as conn:
            conn.execute(delete(operator_sessions).where(operator_sessions.c.expires < now))
            conn.execute(
                insert(operator_sessions).values(
                    id_hash=_hash(secret),
                    name=name,
                    csrf=csrf,
                    created=now,
                    expires=now + SESSION_S,
                )
            )
        return secret, Session(name, csrf)

    def get(self, secret: str | None) -> Session | None:
        if not secret or len(secret) > 100:
            return None
        s = operator_sessions.c
        with self.engine.connect() as conn:
            row = conn.execute(
                select(s.name, s.csrf).where(
                    (s.id_hash == _hash(secret)) & (s.expires > time.time())
                )
            ).first()
        return Session(row.name, row.csrf) if row else None

    def end(self, secret: str | None) -> None:
        if secret:
            with self.engine.begin() as conn:
                conn.execute(
                    delete(operator_sessions).where(operator_sessions.c.id_hash == _hash(secret))
                )


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def csrf_ok(session: Session, sent: str | None) -> bool:
    return bool(sent) and hmac.compare_digest(session.csrf.encode(), (sent or "").encode())


class AuditLog:
    """Who did what, when and why: every operator action, shown in the console."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def record(self, who: str, action: str, target: str, detail: str = "", reason: str = ""):
        with self.engine.begin() as conn:
            conn.execute(
                insert(audit).values(
                    time=time.time(),
                    who=who,
                    action=action,
                    target=target[:256],
                    detail=detail,
                    reason=reason[:2000],
                )
            )

    def recent(self, limit: int = 50, offset: int = 0) -> list[dict]:
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(audit).order_by(audit.c.id.desc()).limit(limit).offset(offset)
            ).all()
        return [dict(r._mapping) for r in rows]
