"""Name the cause of a network failure in words an operator can act on.

urllib3, httpx and python-tuf wrap the real cause several layers deep (a `MaxRetryError`
around a `NewConnectionError` around a `ConnectionRefusedError`), and python-tuf's own
messages can be empty. `cause(exc)` walks the chain and answers with one of: connection
refused, DNS lookup failed, timed out, connection reset, TLS error, HTTP <status>.

    >>> cause(exc)
    'connection refused'
"""

from __future__ import annotations

import socket
import ssl


def _chain(exc: BaseException) -> list[BaseException]:
    seen: list[BaseException] = []
    e: BaseException | None = exc
    while e is not None and e not in seen:
        seen.append(e)
        e = e.__cause__ or e.__context__ or getattr(e, "reason", None)
        if not isinstance(e, BaseException):
            e = None
    return seen


def cause(exc: BaseException) -> str:
    """The root cause of a failed request, in a few words."""
    chain = _chain(exc)
    status = next(
        (getattr(e, "status_code", None) for e in chain if hasattr(e, "status_code")), None
    )
    if isinstance(status, int):
        return f"HTTP {status}"
    names = [type(e).__name__ for e in chain]
    for e in chain:
        if isinstance(e, ConnectionRefusedError):
            return "connection refused"
        if isinstance(e, socket.gaierror) or type(e).__name__ == "NameResolutionError":
            return "DNS lookup failed"
        if isinstance(e, ConnectionResetError):
            return "connection reset by the server"
        if isinstance(e, ssl.SSLError):
            return f"TLS error: {e}"
    if any("Timeout" in n or n == "SlowRetrievalError" for n in names):
        return "timed out"
    if any(n in ("ProtocolError", "IncompleteRead", "RemoteProtocolError") for n in names):
        return "connection cut mid-transfer"
    last = chain[-1]
    text = str(last).strip()
    return f"{type(last).__name__}: {text}" if text else type(last).__name__
