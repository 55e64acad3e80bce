"""Who is asking: an operator's bearer token or console session, never a device token.

`OperatorAuth.who(request)` answers with the operator (and the session, for a cookie) or
None. `require(...)` raises what the caller should answer: 401 (no or bad credentials; a
console page redirects to the login form instead), 403 (a viewer asking to steer, or a
session request to change something without the right CSRF token).
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import quote

from fastapi import HTTPException, Request

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


class OperatorAuth:
    def __init__(self, book: OperatorBook, sessions: Sessions) -> None:
        self.book, self.sessions = book, sessions

    def who(self, request: Request) -> Caller | None:
        header = request.headers.get("authorization", "")
        if header.startswith("Bearer "):
            op = self.book.verify(header.removeprefix("Bearer ").strip())
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
