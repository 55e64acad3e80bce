"""Serve `metadata/` or `targets/` as static files, and nothing else.

Starlette's `StaticFiles` already normalises the path, refuses to leave its directory
(symlinks included) and answers ETag/Last-Modified conditional requests and HTTP Range
(resumable downloads). On top: hidden files (our `.name.tmp` while a write is in flight)
are never served, content types are explicit, and caching follows TUF: `timestamp.json`
and `root.json` change in place (`no-cache`); every other file is versioned or
hash-named, so it never changes once written (`immutable`).
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable
from email.utils import formatdate

from starlette.datastructures import Headers
from starlette.responses import FileResponse, Response
from starlette.staticfiles import NotModifiedResponse, StaticFiles
from starlette.types import Scope

CONTENT_TYPES = {
    ".json": "application/json",
    ".tflite": "application/octet-stream",
    ".npz": "application/octet-stream",
    ".patch": "application/octet-stream",
}
IMMUTABLE = "public, max-age=31536000, immutable"


def _snapshot_response(path: str | os.PathLike[str], media_type: str) -> Response:
    """A file that is replaced in place (os.replace), read once through one descriptor.

    `FileResponse` stats the path and opens it later: a publish that replaces the file in
    between makes the declared length disagree with the bytes sent, and the connection
    breaks mid-response. Reading the small file at once serves one consistent version.
    """
    with open(path, "rb") as f:
        stat = os.fstat(f.fileno())
        content = f.read()
    return Response(
        content,
        media_type=media_type,
        headers={
            "etag": f'"{hashlib.sha256(content).hexdigest()[:32]}"',
            "last-modified": formatdate(stat.st_mtime, usegmt=True),
            "cache-control": "no-cache",
        },
    )


class RepoFiles(StaticFiles):
    def __init__(self, directory: os.PathLike[str] | str, mutable: Iterable[str] = ()):
        super().__init__(directory=directory)
        self.mutable = frozenset(mutable)

    def lookup_path(self, path: str) -> tuple[str, os.stat_result | None]:
        if any(part.startswith(".") for part in path.replace("\\", "/").split("/")):
            return "", None
        return super().lookup_path(path)

    def file_response(
        self,
        full_path: str | os.PathLike[str],
        stat_result: os.stat_result,
        scope: Scope,
        status_code: int = 200,
    ) -> Response:
        name = os.path.basename(full_path)
        ext = os.path.splitext(name)[1]
        if name in self.mutable:
            response = _snapshot_response(full_path, CONTENT_TYPES.get(ext, "application/json"))
            if self.is_not_modified(response.headers, Headers(scope=scope)):
                return NotModifiedResponse(response.headers)
            return response
        response = FileResponse(
            full_path,
            status_code=status_code,
            stat_result=stat_result,
            media_type=CONTENT_TYPES.get(ext, "application/octet-stream"),
        )
        response.headers["cache-control"] = "no-cache" if name in self.mutable else IMMUTABLE
        if self.is_not_modified(response.headers, Headers(scope=scope)):
            return NotModifiedResponse(response.headers)
        return response
