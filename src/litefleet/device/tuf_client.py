"""The TUF side of a check: refresh signed metadata and fetch verified targets.

A new `tuf.ngclient.Updater` per check (`refresh()` works once per Updater), under a file
lock on the metadata dir (an Updater is not safe across processes). Every download goes to
a `.tmp-` file first and is renamed only after python-tuf verified its length and hashes,
so a cut connection never leaves a half file under a real name. Target downloads resume
with HTTP Range after a cut (`resuming_http.ResumingFetcher`), within a check and across checks.

The index and the rollout state are kept in `HOME/tuf-cache/` and read through python-tuf's
`find_cached_target`: an unchanged one is never downloaded again, so an idle check moves
the timestamp (and a root probe) and nothing else. The fetcher counts every body byte a
check receives (`Session.bytes_moved`: metadata, index, golden files, model).

    with ReleaseSource(home, server, model).session() as s:
        index = s.index()                  # <model>/releases.json, signed by targets
        path = s.download(variant_path(...), dest_dir)
        s.bytes_moved                      # everything this check received
"""

from __future__ import annotations

import errno
import io
import os
import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from pydantic import ValidationError

from litefleet.device.crashpoints import crash_wanted, crashpoint
from litefleet.errors import UserError
from litefleet.fsutil import TMP_PREFIX
from litefleet.lock import FileLock
from litefleet.release import (
    MAX_INDEX_BYTES,
    ReleaseIndex,
    RolloutState,
    VariantInfo,
    index_path,
    rollout_path,
)


class VerificationError(UserError):
    """Signed metadata or a target failed verification: tampered, expired or truncated."""


class UnreachableError(UserError):
    """The server could not be reached or answered with an error."""


def install_root(home: Path, root_json: Path) -> None:
    """Ship the device's trusted root: copy it into `HOME/tuf/root.json`."""
    meta = Path(home) / "tuf"
    meta.mkdir(parents=True, exist_ok=True)
    from tuf.api.metadata import Metadata

    try:
        Metadata.from_bytes(Path(root_json).read_bytes())
    except FileNotFoundError:
        raise UserError(f"root metadata not found: {root_json}") from None
    except Exception as exc:
        raise UserError(f"{root_json} is not TUF root metadata: {exc}") from None
    shutil.copyfile(root_json, meta / "root.json")


class ReleaseSource:
    def __init__(
        self,
        home: Path,
        server: str,
        model: str,
        timeout: int = 10,
        metadata_deadline_s: float = 60.0,
        min_throughput: float = 8192.0,
    ) -> None:
        self.home = Path(home)
        self.server = server.rstrip("/")
        self.model = model
        self.timeout = timeout
        self.metadata_deadline_s = metadata_deadline_s
        self.min_throughput = min_throughput
        self.meta_dir = self.home / "tuf"
        self.cache_dir = self.home / "tuf-cache"
        """Small signed targets read every check (index, rollout state), kept by hash."""
        self.lock = FileLock(self.home / "tuf.lock")
        self.fetcher = None
        """The fetcher of the latest session (its byte count outlives a failed refresh)."""

    @property
    def bytes_moved(self) -> int:
        """Body bytes the latest session received, a refresh that failed included."""
        return getattr(self.fetcher, "bytes_received", 0)

    @contextmanager
    def session(self, deadline: float | None = None) -> Iterator[Session]:
        """A refreshed session; no download in it runs past `deadline` (time.monotonic())."""
        from tuf.ngclient import Updater

        from litefleet.device.resuming_http import ResumingFetcher

        with self.lock:
            if not (self.meta_dir / "root.json").exists():
                raise UserError(f"no trusted root in {self.meta_dir}: run `agent init`")
            fetcher = ResumingFetcher(
                socket_timeout=self.timeout,
                partial_dir=self.home / "downloads",
                resumable_prefix=f"{self.server}/targets/",
                metadata_deadline_s=self.metadata_deadline_s,
                min_throughput=self.min_throughput,
                check_deadline=deadline,
            )
            self.fetcher = fetcher
            updater = Updater(
                metadata_dir=str(self.meta_dir),
                metadata_base_url=f"{self.server}/metadata/",
                target_base_url=f"{self.server}/targets/",
                fetcher=fetcher,
                bootstrap=None,
            )
            with _translated():
                updater.refresh()
            yield Session(updater, self.model, fetcher, self.cache_dir)


class Session:
    def __init__(self, updater, model: str, fetcher=None, cache_dir: Path | None = None) -> None:
        self.updater = updater
        self.model = model
        self.fetcher = fetcher
        self.cache_dir = cache_dir

    @property
    def bytes_moved(self) -> int:
        """Body bytes received from the server since the session began (the refresh
        included): what the download rules and `bytes_downloaded` account for."""
        return getattr(self.fetcher, "bytes_received", 0)

    def targetinfo(self, path: str):
        with _translated():
            info = self.updater.get_targetinfo(path)
        if info is None:
            raise VerificationError(f"{path} is not a signed target")
        return info

    def read(self, path: str, max_bytes: int = MAX_INDEX_BYTES) -> bytes:
        """A small signed target (an index) into memory, verified; from the hash-checked
        cache when unchanged (`find_cached_target`), else downloaded once and cached."""
        info = self.targetinfo(path)
        if info.length > max_bytes:
            raise VerificationError(f"{path} is {info.length} bytes, more than {max_bytes}")
        if self.cache_dir is not None:
            cached = self.cache_dir / path.replace("/", "__")
            with _translated():
                hit = self.updater.find_cached_target(info, str(cached))
            if hit is not None:
                return cached.read_bytes()
            self.cache_dir.mkdir(parents=True, exist_ok=True)
            tmp = self.cache_dir / f"{TMP_PREFIX}{uuid.uuid4().hex}"
            try:
                with _translated():
                    self.updater.download_target(info, str(tmp))
                os.replace(tmp, cached)
            finally:
                tmp.unlink(missing_ok=True)
            return cached.read_bytes()
        tmp = Path(os.environ.get("TMPDIR", "/tmp")) / f"{TMP_PREFIX}{uuid.uuid4().hex}"
        try:
            with _translated(path):
                self.updater.download_target(info, str(tmp))
            return tmp.read_bytes()
        finally:
            tmp.unlink(missing_ok=True)

    def models(self) -> list[str]:
        """The models this repository publishes (those with a signed release index)."""
        try:  # the targets metadata the refresh just verified
            targets = self.updater._trusted_set.targets.targets
        except (AttributeError, KeyError):
            return []
        return sorted({p.split("/")[0] for p in targets if p.endswith("/releases.json")})

    def index(self) -> ReleaseIndex:
        with _translated():
            known = self.updater.get_targetinfo(index_path(self.model))
        if known is None:
            have = ", ".join(self.models()) or "none yet"
            raise VerificationError(f"no model {self.model!r} (have: {have})")
        data = self.read(index_path(self.model))
        try:
            index = ReleaseIndex.model_validate_json(data)
        except ValidationError as exc:
            raise VerificationError(f"release index does not parse: {exc}") from None
        if index.model != self.model:
            raise VerificationError(f"release index is for {index.model!r}, not {self.model!r}")
        return index

    def rollout(self) -> RolloutState | None:
        try:
            data = self.read(rollout_path(self.model))
        except VerificationError as exc:
            if "not a signed target" in str(exc):
                return None
            raise
        try:
            state = RolloutState.model_validate_json(data)
        except ValidationError as exc:
            raise VerificationError(f"rollout state does not parse: {exc}") from None
        return state

    def variant_info(self, path: str) -> VariantInfo:
        """The signed custom data of a model target (python-tuf does not validate it)."""
        info = self.targetinfo(path)
        try:
            return VariantInfo.model_validate((info.custom or {})["litefleet"])
        except (KeyError, ValidationError) as exc:
            raise VerificationError(f"{path}: bad signed custom data: {exc}") from None

    def download(self, path: str, dest: Path) -> Path:
        """Fetch and verify a target to `dest` (a temp name first, then os.replace)."""
        info = self.targetinfo(path)
        tmp = dest.parent / f"{TMP_PREFIX}{uuid.uuid4().hex}"
        try:
            with _translated(path):
                self.updater.download_target(info, str(tmp))
            if crash_wanted("download.partial"):  # die with half a file on disk
                os.truncate(tmp, tmp.stat().st_size // 2)
                crashpoint("download.partial")
            crashpoint("download.done")
            os.replace(tmp, dest)
        finally:
            tmp.unlink(missing_ok=True)
        return dest

    def verify_bytes(self, path: str, data: bytes) -> bool:
        """Whether `data` has the signed length and hashes of target `path`."""
        from tuf.api.exceptions import LengthOrHashMismatchError

        info = self.targetinfo(path)
        try:
            info.verify_length_and_hashes(io.BytesIO(data))
        except LengthOrHashMismatchError:
            return False
        return True


@contextmanager
def _translated(target: str | None = None) -> Iterator[None]:
    """python-tuf and urllib3 errors -> our two named errors with a readable reason.

    A target longer than signed or with the wrong hash is a verification failure naming
    the file (the release is refused), never a network error."""
    from tuf.api import exceptions as tuf_exc

    try:
        yield
    except (tuf_exc.DownloadLengthMismatchError, tuf_exc.LengthOrHashMismatchError) as exc:
        what = f"target {target}" if target else "download"
        raise VerificationError(f"{what} failed verification: {exc}") from None
    except tuf_exc.DownloadError as exc:
        raise UnreachableError(f"download failed: {exc}") from None
    except tuf_exc.RepositoryError as exc:
        raise VerificationError(f"verification failed: {type(exc).__name__}: {exc}") from None
    except OSError as exc:
        if exc.errno == errno.ENOSPC:
            raise UserError(f"disk full: {exc}") from None
        raise UnreachableError(f"network or disk error: {type(exc).__name__}: {exc}") from None
    except Exception as exc:
        # urllib3 errors do not all derive from OSError
        if type(exc).__module__.startswith("urllib3"):
            raise UnreachableError(f"server unreachable: {exc}") from None
        raise
