"""The standard library's threading HTTP server, as the lab's stand-ins need it.

`StaticRepoServer` and `AttackProxy` run on it (no FastAPI/uvicorn in a device-only install).
Two changes from `ThreadingHTTPServer`: handler threads are daemons (an endless body being
written must not keep a test process alive), and a client that hangs up (a reset, a pipe
closed mid-body: what the attack scenarios provoke) is not printed as a traceback.
"""

from __future__ import annotations

import sys
from http.server import ThreadingHTTPServer
from typing import Any


class LoopbackHTTPServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        if isinstance(sys.exc_info()[1], ConnectionError | TimeoutError):
            return
        super().handle_error(request, client_address)
