"""A python-tuf fetcher that resumes a cut download with HTTP Range instead of starting over.

python-tuf's own fetcher has no resume: on a flaky link a large model would restart from
byte 0 on every attempt and might never finish. This one:

- retries a connection cut mid-body a few times at once, asking `Range: bytes=<have>-`;
- keeps the bytes of a target download that still failed in `HOME/downloads/<hash>.part`
  and resumes from there on the next check (target URLs are hash-prefixed, so the bytes
  behind one URL never change; metadata is never kept, `timestamp.json` changes in place);
- copes with a server that ignores Range (200: skip what we have) or answers 416.

Deadlines: a socket timeout is per read, so a server that sends one byte a second never
hits it. Every download here also has an overall deadline: `metadata_deadline_s` for
metadata, plus size / `min_throughput` for a target, capped by the whole check's deadline.
A watchdog shuts the connection's socket down when it passes (waking a blocked read, even
one stuck in the response headers) and the download fails with `DownloadTimeout`.

Trust does not change: python-tuf still checks the whole file's length and hashes after
the last byte. A partial file is deleted when the download completes (verified or not) or
fails for any reason but the network, so bad bytes can never stick.
"""

from __future__ import annotations

import contextlib
import hashlib
import re
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO

import urllib3
from tuf.api import exceptions
from tuf.ngclient.urllib3_fetcher import Urllib3Fetcher
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

from litefleet.neterrors import cause

PART_SUFFIX = ".part"
_CONTENT_RANGE = re.compile(r"bytes (\d+)-\d+/(\d+|\*)")
_CUT = (
    urllib3.exceptions.ProtocolError,
    urllib3.exceptions.IncompleteRead,
    urllib3.exceptions.ReadTimeoutError,
)


class DownloadTimeout(exceptions.DownloadError):
    """A download did not finish within its overall deadline."""


class _Sockets:
    """The sockets of one fetcher's connections, so a watchdog can shut them down."""

    def __init__(self) -> None:
        self._socks: list[socket.socket] = []
        self._mutex = threading.Lock()

    def add(self, sock: socket.socket | None) -> None:
        if sock is not None:
            with self._mutex:
                self._socks = [s for s in self._socks if s.fileno() != -1] + [sock]

    def shutdown_all(self) -> None:
        with self._mutex:
            socks = list(self._socks)
        for s in socks:
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)  # wakes a recv() blocked in another thread


def _watched_pools(sockets: _Sockets) -> dict[str, type]:
    class Conn(HTTPConnection):
        def connect(self) -> None:
            super().connect()
            sockets.add(self.sock)

    class SConn(HTTPSConnection):
        def connect(self) -> None:
            super().connect()
            sockets.add(self.sock)

    class Pool(HTTPConnectionPool):
        ConnectionCls = Conn

    class SPool(HTTPSConnectionPool):
        ConnectionCls = SConn

    return {"http": Pool, "https": SPool}


class ResumingFetcher(Urllib3Fetcher):
    def __init__(
        self,
        *,
        socket_timeout: int = 10,
        partial_dir: Path | None = None,
        resumable_prefix: str | None = None,
        retries: int = 3,
        backoff_s: float = 0.2,
        max_part_age_s: float = 7 * 86400,
        metadata_deadline_s: float = 60.0,
        min_throughput: float = 8192.0,
        check_deadline: float | None = None,
    ) -> None:
        super().__init__(socket_timeout=socket_timeout, app_user_agent="litefleet")
        self.partial_dir = Path(partial_dir) if partial_dir else None
        self.resumable_prefix = resumable_prefix
        self.retries = retries
        self.backoff_s = backoff_s
        self.metadata_deadline_s = metadata_deadline_s
        self.min_throughput = min_throughput
        """Bytes per second a target download must average (its deadline grows with size)."""
        self.check_deadline = check_deadline
        """`time.monotonic()` by which the whole check ends; no download runs past it."""
        self.resumed = 0
        """Requests that asked for a byte range (tests and the selftest read it)."""
        self.bytes_received = 0
        """Body bytes this fetcher received from the network (metadata and targets; a
        resumed partial read back from disk is not counted): what a check moved."""
        self._pool = urllib3.PoolManager(headers={"User-Agent": "litefleet"})
        self._sockets = _Sockets()
        self._pool.pool_classes_by_scheme = _watched_pools(self._sockets)
        self._deadline: float | None = None
        self._budget = 0.0
        if self.partial_dir is not None:
            self._drop_stale(max_part_age_s)

    # ------------------------------------------------------------------ deadlines

    @contextlib.contextmanager
    def download_file(self, url: str, max_length: int) -> Iterator[IO]:
        """python-tuf's download, under an overall deadline (size-aware for targets)."""
        budget = self.metadata_deadline_s
        if self.resumable_prefix and url.startswith(self.resumable_prefix):  # a target
            budget += max_length / self.min_throughput
        deadline = time.monotonic() + budget
        if self.check_deadline is not None and self.check_deadline < deadline:
            deadline, budget = self.check_deadline, self.check_deadline - time.monotonic()
        self._deadline, self._budget = deadline, budget
        if budget <= 0:
            raise DownloadTimeout(f"timed out: the check's deadline passed before {url}")
        watchdog = threading.Timer(max(0.0, budget), self._sockets.shutdown_all)
        watchdog.daemon = True
        watchdog.start()
        try:
            with super().download_file(url, max_length) as f:
                yield f
        finally:
            watchdog.cancel()
            self._deadline = None

    def _check_time(self, url: str, received: int) -> None:
        if self._deadline is not None and time.monotonic() >= self._deadline:
            raise DownloadTimeout(
                f"timed out: overall deadline of {self._budget:.1f} s for {url} exceeded"
                f" after {received} bytes (the server is too slow or stuck)"
            )

    def fetch(self, url: str) -> Iterator[bytes]:
        """python-tuf's `fetch`, with errors that name the URL and the cause (its own
        messages can be empty); the exception types python-tuf acts on are kept."""
        try:
            return super().fetch(url)
        except DownloadTimeout:
            raise  # already names the URL and the deadline
        except exceptions.DownloadHTTPError as exc:
            raise exceptions.DownloadHTTPError(f"{url}: {cause(exc)}", exc.status_code) from exc
        except exceptions.SlowRetrievalError as exc:
            raise exceptions.SlowRetrievalError(f"{url}: {cause(exc)}") from exc
        except exceptions.DownloadError as exc:
            raise exceptions.DownloadError(f"{url}: {cause(exc)}") from exc

    def _drop_stale(self, max_age: float) -> None:
        """Partials of releases never finished would otherwise stay forever."""
        assert self.partial_dir is not None
        if not self.partial_dir.is_dir():
            return
        now = time.time()
        for p in self.partial_dir.glob(f"*{PART_SUFFIX}"):
            with contextlib.suppress(OSError):
                if now - p.stat().st_mtime > max_age:
                    p.unlink()

    def part_path(self, url: str) -> Path | None:
        if self.partial_dir is None or not (
            self.resumable_prefix and url.startswith(self.resumable_prefix)
        ):
            return None
        return self.partial_dir / (hashlib.sha256(url.encode()).hexdigest()[:32] + PART_SUFFIX)

    def _fetch(self, url: str) -> Iterator[bytes]:
        part = self.part_path(url)
        have = part.stat().st_size if part is not None and part.exists() else 0
        response = self._request(url, have, part)  # eager: HTTP errors surface at once
        if response.status != 206:
            have = 0
        return self._stream(url, part, have, response)

    def _request(self, url: str, start: int, part: Path | None) -> urllib3.BaseHTTPResponse:
        headers = {"Range": f"bytes={start}-"} if start else {}
        self._check_time(url, start)
        try:
            response = self._pool.request(
                "GET",
                url,
                headers=headers,
                preload_content=False,
                timeout=urllib3.Timeout(self.socket_timeout),
                retries=urllib3.Retry(connect=2, read=0, redirect=0, status=0, backoff_factor=0.1),
            )
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            self._check_time(url, start)  # the watchdog cut it: say so, not "protocol error"
            if isinstance(exc, urllib3.exceptions.MaxRetryError) and isinstance(
                exc.reason, urllib3.exceptions.TimeoutError
            ):
                raise exceptions.SlowRetrievalError from exc
            raise
        if start:
            self.resumed += 1
        if response.status == 416 and start:  # our partial is no prefix of this file
            response.close()
            if part is not None:
                part.unlink(missing_ok=True)
            return self._request(url, 0, part)
        if response.status >= 400:
            # the server sent the error's body too (a 404 for the next root, every check)
            length = response.headers.get("content-length", "")
            self.bytes_received += int(length) if length.isdigit() else 0
            response.close()  # never return a connection with an unread body to the pool
            raise exceptions.DownloadHTTPError(
                f"HTTP error occurred with status {response.status}", response.status
            )
        return response

    def _stream(
        self, url: str, part: Path | None, have: int, response: urllib3.BaseHTTPResponse
    ) -> Iterator[bytes]:
        sent = 0  # bytes given to python-tuf so far
        keep = done = False
        out = None
        try:
            if part is not None:
                part.parent.mkdir(parents=True, exist_ok=True)
                if have:
                    data = part.read_bytes()[:have]
                    sent = len(data)
                    yield data
                out = open(part, "r+b" if have else "wb")  # noqa: SIM115
                out.seek(sent)
                out.truncate()
            attempts = 0
            while True:
                skip = sent - _range_start(response)
                if skip < 0:
                    raise exceptions.DownloadError(f"{url}: the server skipped bytes on resume")
                try:
                    # read1: every byte received is kept, even when the next read fails
                    while chunk := response.read1(self.chunk_size):
                        self.bytes_received += len(chunk)
                        if skip > 0:
                            drop, skip = min(skip, len(chunk)), skip - min(skip, len(chunk))
                            chunk = chunk[drop:]
                        if not chunk:
                            continue
                        if out is not None:
                            out.write(chunk)
                        sent += len(chunk)
                        yield chunk
                        self._check_time(url, sent)
                    self._check_time(url, sent)  # a watchdog shutdown reads as a clean EOF
                    done = True
                    break
                except _CUT as exc:
                    response.close()
                    self._check_time(url, sent)
                    attempts += 1
                    if attempts > self.retries:
                        keep = True  # a network fault: the next check resumes from here
                        if isinstance(exc, urllib3.exceptions.ReadTimeoutError):
                            raise exceptions.SlowRetrievalError from exc
                        raise
                    if out is not None:
                        out.flush()
                    time.sleep(self.backoff_s * 2 ** (attempts - 1))
                    response = self._request(url, sent, None)
                except urllib3.exceptions.TimeoutError as exc:
                    keep = True
                    raise exceptions.SlowRetrievalError from exc
        except DownloadTimeout:
            keep = True  # a slow network: the next check resumes from here
            raise
        except (exceptions.DownloadHTTPError, urllib3.exceptions.HTTPError, OSError) as exc:
            # the server went away while resuming: keep what we have, unless the disk failed
            keep = keep or not isinstance(exc, OSError) or _is_socket_error(exc)
            raise
        finally:
            if done:
                response.release_conn()  # body fully read: the connection can be reused
            else:
                response.close()
            if out is not None:
                out.close()
            if part is not None and not keep:
                part.unlink(missing_ok=True)


def _range_start(response: urllib3.BaseHTTPResponse) -> int:
    """Where the body of this response starts in the file (0 unless a 206)."""
    if response.status != 206:
        return 0
    m = _CONTENT_RANGE.match(response.headers.get("content-range", ""))
    return int(m.group(1)) if m else 0


def _is_socket_error(exc: OSError) -> bool:
    import errno

    return exc.errno in (errno.ECONNRESET, errno.ECONNREFUSED, errno.EPIPE, errno.ETIMEDOUT)
