"""A stuck server for tests: answers every request on 127.0.0.1 with one byte at a time.

Socket timeouts are per read, so a client that only has those waits forever on it; the
device must end a check by its own deadlines. `where="headers"` drips the status line and
headers too (the request never even gets a response object).

    with DripServer(interval=1.0) as drip:
        drip.url        # http://127.0.0.1:PORT
        drip.connections
"""

from __future__ import annotations

import socket
import socketserver
import threading
import time
from typing import Literal


class DripServer:
    def __init__(self, interval: float = 1.0, where: Literal["body", "headers"] = "body") -> None:
        self.interval = interval
        self.where = where
        self.connections = 0
        self._stop = threading.Event()
        server = self

        class Handler(socketserver.BaseRequestHandler):
            def handle(self) -> None:
                server.connections += 1
                sock: socket.socket = self.request
                sock.settimeout(5.0)
                data = b""
                while b"\r\n\r\n" not in data:  # read the request headers
                    chunk = sock.recv(4096)
                    if not chunk:
                        return
                    data += chunk
                head = b"HTTP/1.1 200 OK\r\nContent-Length: 1000000\r\n\r\n"
                if server.where == "body":
                    sock.sendall(head)
                    payload = b"{" + b" " * 999_999
                else:
                    payload = head
                for i in range(len(payload)):
                    if server._stop.wait(server.interval):
                        return
                    try:
                        sock.sendall(payload[i : i + 1])
                    except OSError:
                        return  # the client gave up: good

        class Server(socketserver.ThreadingTCPServer):
            daemon_threads = True
            allow_reuse_address = True

        self._server = Server(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def wait_for_connection(self, timeout: float = 30.0) -> bool:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if self.connections:
                return True
            time.sleep(0.02)
        return False

    def __enter__(self) -> DripServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._server.shutdown()
        self._server.server_close()
