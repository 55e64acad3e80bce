"""The lean HTTP/1.1 server of `agent serve`: keep-alive, pipelining, one answer per request
in order, and a clear refusal (then a closed connection) for what it does not take."""

from __future__ import annotations

import socket
import time

import pytest

from litefleet.device.httpd import LeanHTTPServer, Reply


def echo(method: str, path: str, body: bytes) -> Reply:
    if path == "/slow":
        time.sleep(0.003)  # makes the server move handlers to its thread pool
    return Reply(200, f"{method} {path} {len(body)}".encode(), content_type="text/plain")


@pytest.fixture
def server():
    srv = LeanHTTPServer(echo, "127.0.0.1", 0, max_body=1000).start()
    yield srv
    srv.stop()
    srv.server_close()


def exchange(port: int, raw: bytes, answers: int = 1) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(raw)
        data = b""
        while data.count(b"HTTP/1.1 ") < answers or not _complete(data, answers):
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
        return data


def _complete(data: bytes, answers: int) -> bool:
    parts = data.split(b"HTTP/1.1 ")[1:]
    if len(parts) < answers:
        return False
    head, _, body = parts[-1].partition(b"\r\n\r\n")
    length = int(head.lower().split(b"content-length: ")[1].split(b"\r\n")[0])
    return len(body) >= length


def request(path: str, body: bytes = b"", extra: str = "") -> bytes:
    return (
        f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Length: {len(body)}\r\n{extra}\r\n"
    ).encode() + body


def test_pipelined_requests_answer_in_order_on_one_connection(server):
    raw = request("/a", b"12") + request("/slow", b"123") + request("/c", b"")
    data = exchange(server.port, raw, answers=3)
    bodies = [p.partition(b"\r\n\r\n")[2] for p in data.split(b"HTTP/1.1 ")[1:]]
    assert bodies == [b"POST /a 2", b"POST /slow 3", b"POST /c 0"]
    assert b"connection: close" not in data.lower()  # keep-alive


def test_a_body_sent_in_pieces_is_awaited(server):
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as s:
        raw = request("/x", b"abcdef")
        s.sendall(raw[:-4])
        time.sleep(0.05)
        s.sendall(raw[-4:])
        assert s.recv(4096).endswith(b"POST /x 6")


@pytest.mark.parametrize(
    ("raw", "status"),
    [
        (request("/x", b"", "Transfer-Encoding: chunked\r\n"), b"411"),
        (b"POST /x HTTP/1.1\r\nContent-Length: 5000\r\n\r\n", b"413"),
        (b"POST /x HTTP/1.1\r\nContent-Length: lots\r\n\r\n", b"400"),
        (b"GET / HTTP/2.0\r\n\r\n", b"505"),
        (b"nonsense\r\n\r\n", b"400"),
    ],
)
def test_what_it_does_not_take_is_refused_and_the_connection_closed(server, raw, status):
    data = exchange(server.port, raw)
    assert data.startswith(b"HTTP/1.1 " + status)
    assert b"connection: close" in data.lower() and b'"error"' in data


def test_an_oversized_head_is_refused(server):
    raw = b"POST /x HTTP/1.1\r\nX: " + b"a" * (70 << 10)
    assert exchange(server.port, raw).startswith(b"HTTP/1.1 431")


def test_slow_handlers_move_to_the_thread_pool_and_still_answer_in_order(server):
    raw = b"".join(request("/slow", b"x" * i) for i in range(40))
    data = exchange(server.port, raw, answers=40)
    bodies = [p.partition(b"\r\n\r\n")[2] for p in data.split(b"HTTP/1.1 ")[1:]]
    assert bodies == [f"POST /slow {i}".encode() for i in range(40)]
    assert server.offload  # a 3 ms handler no longer runs in the event loop
