"""Login throttling: a few wrong operator secrets per account and per address, then 429.

Every failed console login and every bad operator bearer token is one row in the
`login_failures` table of the server's database (SQLite or PostgreSQL), keyed by the
account it named (`account:NAME`) and by the client's address (`address:IP`). So every
worker of `serve --workers N`, and every restart, counts the same failures: a process-memory
bucket (`ratelimit.py`, fine for device reports) would give an attacker N times the tries.

- An account with `account_failures` failures within `window_s` seconds, or an address with
  `address_failures`, is refused (429 with `Retry-After`) before any scrypt runs, even with
  the right secret, until enough of those failures are older than the window: a lockout
  never outlives the window, and refused tries are not counted, so it cannot grow.
- A successful login (or bearer request) clears the account's failures; the address's stay
  (else one valid account would reset an address that guesses at others).
- Each lockout is logged and written to the audit log (shown in the console).

Behind the generated nginx the address is the `X-Forwarded-For` nginx sets (uvicorn trusts
it from 127.0.0.1 only).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

from sqlalchemy import delete, func, insert, select
from sqlalchemy.engine import Engine

from litefleet.registry.db import login_failures
from litefleet.registry.operators import AuditLog

log = logging.getLogger("litefleet.login")
KEY_CHARS = 200


@dataclass(frozen=True)
class LoginLimits:
    """How many failed tries an account or an address gets within the window."""

    account_failures: int = 5
    address_failures: int = 20
    window_s: float = 900.0


@dataclass(frozen=True)
class Verdict:
    wait_s: float
    """0: the try may go on; else seconds until the account and address may try again."""
    account_failures: int
    """Failures of the account within the window (a success clears them)."""


class LoginThrottle:
    def __init__(self, engine: Engine, limits: LoginLimits, audit: AuditLog) -> None:
        self.engine, self.limits, self.audit = engine, limits, audit

    def check(self, name: str, address: str, now: float | None = None) -> Verdict:
        """May `address` try a secret for account `name` now? One indexed query."""
        now = time.time() if now is None else now
        account, addr = _keys(name, address)
        f = login_failures.c
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(f.key, f.time)
                .where(f.key.in_((account, addr)) & (f.time > now - self.limits.window_s))
                .order_by(f.time.desc())
            ).all()
        times = {
            account: [t for k, t in rows if k == account],
            addr: [t for k, t in rows if k == addr],
        }
        wait = max(
            self._wait(times[account], self.limits.account_failures, now),
            self._wait(times[addr], self.limits.address_failures, now),
        )
        return Verdict(wait, len(times[account]))

    def failed(self, name: str, address: str, now: float | None = None) -> None:
        """Count one failure for the account and the address; audit the one that locks."""
        now = time.time() if now is None else now
        account, addr = _keys(name, address)
        f = login_failures.c
        cutoff = now - self.limits.window_s
        with self.engine.begin() as conn:
            conn.execute(delete(login_failures).where(f.time <= cutoff))  # the table stays small
            conn.execute(
                insert(login_failures), [{"key": account, "time": now}, {"key": addr, "time": now}]
            )
            counts = dict(
                conn.execute(
                    select(f.key, func.count())
                    .where(f.key.in_((account, addr)) & (f.time > cutoff))
                    .group_by(f.key)
                ).all()
            )
        for key, limit in (
            (account, self.limits.account_failures),
            (addr, self.limits.address_failures),
        ):
            if counts.get(key) == limit:  # this failure locked it (once, not at every refusal)
                what = key.replace(":", " ", 1)
                detail = (
                    f"{limit} failed logins within {self.limits.window_s:g} s: refused for up to"
                    f" {self.limits.window_s:g} s"
                )
                log.warning("login throttle: %s locked (%s)", what, detail)
                self.audit.record("server", "lockout", what, detail, f"last try from {address}")

    def succeeded(self, name: str) -> None:
        """The account's secret was right: forget its failures."""
        account, _ = _keys(name, "")
        with self.engine.begin() as conn:
            conn.execute(delete(login_failures).where(login_failures.c.key == account))

    def _wait(self, newest_first: list[float], limit: int, now: float) -> float:
        """Seconds until fewer than `limit` of these failures are inside the window."""
        if len(newest_first) < limit:
            return 0.0
        return max(0.0, newest_first[limit - 1] + self.limits.window_s - now)


def _keys(name: str, address: str) -> tuple[str, str]:
    return f"account:{name}"[:KEY_CHARS], f"address:{address}"[:KEY_CHARS]
