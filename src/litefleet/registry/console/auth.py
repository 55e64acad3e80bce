"""Who is asking: an operator's bearer token or console session, never a device token.

`OperatorAuth.who(request)` answers with the operator (and the session, for a cookie) or
None. `require(...)` raises what the caller should answer: 401 (no or bad credentials; a
console page redirects to the login form instead), 403 (a viewer asking to steer, or a
session request to change something without the right CSRF token), 429 (too many wrong
secrets for this account or from this address lately: `throttle.py`).

`check_secret` is the one place a secret is tried, for the login form and bearer tokens:
throttle first (no scrypt when locked), then the book, then count the failure or clear
the account's failures.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from urllib.parse import quote

from fastapi import HTTPException, Request

from litefleet.registry.console.throttle import LoginThrottle
from litefleet.registry.operators import Operator, OperatorBook, Session, Sessions, csrf_ok

SESSION_COOKIE = "lf_session"
CSRF_HEADER = "x-csrf-token"


@dataclass(frozen=True)
class Caller:
    operator: Operator
    session: Session | None = None

    @property
    def csrf(self) -> str:
        return self.session.csrf if self.session else ""


class LoginRedirect(HTTPException):
    """A console page asked without a session: go to the login form, then come back."""

    def __init__(self, path: str) -> None:
        super().__init__(303, "log in first", {"location": f"/login?next={quote(path)}"})


class Throttled(HTTPException):
    """Too many wrong secrets for this account or from this address: try again later."""

    def __init__(self, wait_s: float) -> None:
        seconds = max(1, math.ceil(wait_s))
        super().__init__(
            429,
            f"too many failed logins for this account or from this address: try again in"
            f" {seconds} s",
            {"retry-after": str(seconds)},
        )


def client_address(request: Request) -> str:
    """The peer (uvicorn puts nginx's X-Forwarded-For here when nginx is on 127.0.0.1)."""
    return request.client.host if request.client else "unknown"


class OperatorAuth:
    def __init__(
        self, book: OperatorBook, sessions: Sessions, throttle: LoginThrottle | None = None
    ) -> None:
        self.book, self.sessions, self.throttle = book, sessions, throttle

    def check_secret(self, name: str, secret: str, address: str) -> Operator | None:
        """The operator `name` when `secret` is its secret; None when wrong (counted).

        Raises:
            Throttled: the account or the address failed too often within the window.
        """
        verdict = self.throttle.check(name, address) if self.throttle else None
        if verdict is not None and verdict.wait_s > 0:
            raise Throttled(verdict.wait_s)
        named = secret.split(".", 2)[1] if secret.count(".") >= 2 else ""
        op = self.book.verify(secret) if named == name else None  # one account per try
        if self.throttle and op is None:
            self.throttle.failed(name, address)
        elif self.throttle and verdict is not None and verdict.account_failures:
            self.throttle.succeeded(name)
        return op

    def who(self, request: Request) -> Caller | None:
        header = request.headers.get("authorization", "")
        if header.startswith("Bearer "):
            secret = header.removeprefix("Bearer ").strip()
            if not secret.startswith("op.") or secret.count(".") < 2 or len(secret) > 200:
                return None  # not an operator token (a device's): nothing to guess, no cost
            op = self.check_secret(secret.split(".", 2)[1], secret, client_address(request))
            return Caller(op) if op else None
        session = self.sessions.get(request.cookies.get(SESSION_COOKIE))
        if session is None:
            return None
        op = self.book.get(session.name)  # removed or demoted: effective at once
        return Caller(op, session) if op else None

    def require(self, request: Request, *, steer: bool = False, page: bool = False) -> Caller:
        caller = self.who(request)
        if caller is None:
            if page:
                raise LoginRedirect(request.url.path)
            raise HTTPException(
                401, "operator login or token required", {"www-authenticate": "Bearer"}
            )
        if steer and not caller.operator.can_steer:
            raise HTTPException(403, f"{caller.operator.name} is a viewer: cannot change rollouts")
        return caller

    async def require_change(self, request: Request) -> Caller:
        """A state-changing request: the operator role, and a CSRF token with a session."""
        caller = self.require(request, steer=True)
        if caller.session is not None:
            sent = request.headers.get(CSRF_HEADER)
            if sent is None:
                form = await request.form()
                value = form.get("csrf")
                sent = value if isinstance(value, str) else None
            if not csrf_ok(caller.session, sent):
                raise HTTPException(403, "missing or wrong CSRF token")
        return caller
