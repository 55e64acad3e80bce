"""Network errors name the URL and the cause; a refused telemetry token is a warning.

Real sockets on 127.0.0.1: a closed port (refused), a server that accepts and never answers
(timeout), a server that answers 404 and one that refuses telemetry with 403.
"""

from __future__ import annotations

import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from tuf.api import exceptions

from litefleet.device.resuming_http import ResumingFetcher
from litefleet.device.telemetry import TelemetryQueue


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_refused_names_url_and_cause():
    url = f"http://127.0.0.1:{closed_port()}/metadata/timestamp.json"
    with pytest.raises(exceptions.DownloadError) as err:
        ResumingFetcher(socket_timeout=2).download_bytes(url, 1000)
    assert str(err.value) == f"{url}: connection refused"


def test_silent_server_is_a_timeout():
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    url = f"http://127.0.0.1:{listener.getsockname()[1]}/metadata/timestamp.json"
    try:
        with pytest.raises(exceptions.SlowRetrievalError) as err:
            ResumingFetcher(socket_timeout=1).download_bytes(url, 1000)
    finally:
        listener.close()
    assert str(err.value) == f"{url}: timed out"


class _Answer(BaseHTTPRequestHandler):
    status = 404

    def log_message(self, *args: object) -> None:
        pass

    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        self.rfile.read(length)
        self.send_response(self.status)
        self.send_header("Content-Length", "0")
        self.end_headers()

    do_GET = do_POST = _answer


@pytest.fixture
def answering():
    servers = []

    def start(status: int) -> str:
        handler = type("H", (_Answer,), {"status": status})
        server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_address[1]}"

    yield start
    for s in servers:
        s.shutdown()
        s.server_close()


def test_http_status_names_url_and_keeps_its_type(answering):
    url = answering(404) + "/targets/m/1/int8.tflite"
    with pytest.raises(exceptions.DownloadHTTPError) as err:
        ResumingFetcher(socket_timeout=2).download_bytes(url, 1000)
    assert err.value.status_code == 404 and str(err.value) == f"{url}: HTTP 404"


def test_telemetry_403_is_a_warning_until_a_flush_succeeds(answering, tmp_path):
    server = answering(403)
    q = TelemetryQueue(tmp_path, server, "edge-1", "someone-elses-token")
    q.record("heartbeat", "m", 1)
    assert q.flush() == 0
    [warning] = q.warnings()
    assert f"HTTP 403 from {server}/v1/devices/edge-1/events" in warning
    assert "token not for this device" in warning and "1 event(s) queued" in warning
    q.server = answering(202)
    assert q.flush() == 1 and q.warnings() == []
