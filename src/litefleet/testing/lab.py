"""A complete little fleet on 127.0.0.1: a signed repository, the real update server, the
attack proxy in front of it, and device homes, with the tiny models of `tiny_models.py`.

In a device-only install (no FastAPI/uvicorn) the repository is served by the standard
library's `StaticRepoServer` instead, so `litefleet selftest` runs on a device too.
`server="static"` (or `LITEFLEET_LAB_SERVER=static`) asks for it where both exist.

The one test lab: the device tests, every scenario of the reliability suite and
`litefleet selftest` run in a `Lab` (it needs no TensorFlow, so it runs on a device):

    with Lab(tmp_dir) as lab:
        lab.publish("v1", 1)
        home = lab.device("d1")            # talks to the proxy; `direct=True`: to the server
        Agent(home).check()
        lab.proxy.fault = tamper(r"\\.tflite$", flip_byte)

`force_publish` signs files that `publish` would refuse (corrupt, truncated, wrong
signature): the lab holds the offline keys, so it can play a buggy or malicious publisher
and test what the device does with a bad release that is validly signed.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from litefleet.device.runtime import ModelRuntime
from litefleet.device.store import ModelStore, sha256_file
from litefleet.extras import EXTRA_OF
from litefleet.fsutil import TMP_PREFIX
from litefleet.litert import LoadedModel
from litefleet.release import BuildReport, CandidateReport, Signature
from litefleet.sandbox import Limits, run_isolated
from litefleet.testing import tiny_models as assets
from litefleet.testing.tiny_data import dataset

MODEL = "selftest"
MIN_ACCURACY = 0.9
"""Every lab release must reach 90 % on its golden set (the models reach ~100 %)."""

SERVER_ENV = "LITEFLEET_LAB_SERVER"
"""`registry`, `static` or `auto` (default: the registry server when it is installed)."""

_force_lock = threading.Lock()


class Lab:
    def __init__(
        self,
        root: Path,
        model: str = MODEL,
        server: str | None = None,
        settings: dict[str, Any] | None = None,
    ) -> None:
        self.root = Path(root)
        self.settings = settings or {}
        """Extra `ServerSettings` of the registry server (a halt rule, a judge)."""
        self.model = model
        self.server_kind = server or os.environ.get(SERVER_ENV) or "auto"
        if self.server_kind not in ("auto", "registry", "static"):
            raise ValueError(f"{SERVER_ENV}: auto, registry or static, not {self.server_kind!r}")
        self.root.mkdir(parents=True, exist_ok=True)
        self.x, self.y = dataset()
        self._stack = contextlib.ExitStack()
        self._builds = 0

    def __enter__(self) -> Lab:
        from litefleet.registry.repository import Repository
        from litefleet.testing.proxy import AttackProxy

        self.repo = Repository.init(self.root / "repo")
        self._tokens: dict[str, str] = {}
        self.server = self._stack.enter_context(self._start_server())
        self.proxy = self._stack.enter_context(AttackProxy(self.server.url))
        return self

    def _start_server(self) -> Any:
        """The real update server, or the static one where its packages are missing."""
        from litefleet.testing.static_server import StaticRepoServer

        if self.server_kind == "static":
            return StaticRepoServer(self.repo.path, self.repo.keys)
        try:
            from litefleet.registry.server import ServerSettings, ServerThread, create_app
        except ImportError as exc:
            missing = (exc.name or "").split(".")[0]
            if self.server_kind == "registry" or EXTRA_OF.get(missing) != "server":
                raise
            return StaticRepoServer(self.repo.path, self.repo.keys)
        settings = {"refresh_interval": None, **self.settings}
        app = create_app(ServerSettings(repo=self.repo.path, **settings))
        return ServerThread(app)

    def __exit__(self, *exc: object) -> None:
        self._stack.close()

    def token_for(self, device_id: str) -> str:
        """The device's own telemetry token, issued once (one token speaks for one device)."""
        from litefleet.registry.tokens import DeviceTokens

        if device_id not in self._tokens:
            self._tokens[device_id] = DeviceTokens(self.repo.keys.path).issue(device_id, "lab")
        return self._tokens[device_id]

    @property
    def trusted_root(self) -> Path:
        return self.repo.metadata_dir / "1.root.json"

    # ------------------------------------------------------------------ releases

    def build(
        self,
        name: str,
        *,
        golden_from: str = "v1",
        variants: tuple[str, ...] = ("float32", "int8"),
        files: dict[str, bytes] | None = None,
    ) -> Path:
        """A build folder (`BuildReport` format) of embedded model `name`, or of `files`."""
        from litefleet.drift import reference_stats

        self._builds += 1
        out = self.root / "builds" / f"{self._builds}-{name}"
        out.mkdir(parents=True)
        gx, gy = self.x[:200], self.y[:200]
        reference = LoadedModel(assets.model(f"{golden_from}-float32")).predict(gx)
        np.savez(out / "golden.npz", x=gx, y=gy, reference=reference)
        files = files or {p: assets.model(f"{name}-{p}") for p in variants}
        fallback = LoadedModel(assets.model(f"{golden_from}-float32")).signature
        cands = []
        for variant, data in files.items():
            (out / f"{variant}.tflite").write_bytes(data)
            # a hostile file may segfault LiteRT: read its signature in a sandboxed child
            probe = run_isolated(
                "litefleet.testing.lab:signature_of",
                {"path": str(out / f"{variant}.tflite")},
                Limits(wall_s=30),
            )
            # a broken file: the report copies a good signature
            signature = Signature.model_validate(probe.value) if probe.ok else fallback
            precision = (
                variant if variant in ("float32", "float16", "dynamic", "int8") else "float32"
            )
            cands.append(
                CandidateReport(
                    name=variant,
                    file=f"{variant}.tflite",
                    source="baseline",
                    precision=precision,
                    signature=signature,
                    accuracy=0.99,
                    agreement=1.0,
                    latency_ms_p50=0.01,
                    latency_ms_p95=0.02,
                    throughput_per_s=1e4,
                    raw_bytes=len(data),
                    zstd_bytes=len(data),
                    sparsity=0.0,
                    parameters=27,
                    sha256=hashlib.sha256(data).hexdigest(),
                )
            )
        report = BuildReport(
            dataset="selftest",
            num_classes=3,
            input_shape=[8],
            keras_accuracy=1.0,
            candidates=cands,
            reference_stats=reference_stats(self.x[:400]),
        )
        (out / "report.json").write_text(report.model_dump_json(indent=1))
        return out

    def publish(self, build: str | Path, version: int, **kw: Any):
        """The real `publish`, with every check it makes."""
        from litefleet.registry.publish import publish

        folder = self.build(build) if isinstance(build, str) else build
        kw.setdefault("min_accuracy", MIN_ACCURACY)
        return publish(self.repo, folder, self.model, version=version, **kw)

    def force_publish(self, folder: Path, version: int, **kw: Any):
        """Sign `folder` as a release without publish's checks (a bad publisher's release)."""
        from litefleet.golden import load_golden_file
        from litefleet.registry import publish as publishing
        from litefleet.registry.buildfolder import Build

        def lenient(path: Path, load_interpreter: bool = True, **_: Any) -> Build:
            report = BuildReport.model_validate_json((Path(path) / "report.json").read_bytes())
            files = {c.name: (Path(path) / c.file).read_bytes() for c in report.candidates}
            golden = load_golden_file(Path(path) / "golden.npz")
            return Build(report=report, files=files, golden=golden)

        kw.setdefault("min_accuracy", MIN_ACCURACY)
        kw.setdefault("force", True)  # a bad publisher re-signs known-bad bytes too
        kw.setdefault("check_models", False)  # and runs none of the quality rules
        with _force_lock:
            real, publishing.load_build = publishing.load_build, lenient
            real_sig = publishing._check_signature
            publishing._check_signature = lambda build, index: (
                index.signature if index else build.report.candidates[0].signature
            )
            try:
                return publishing.publish(self.repo, folder, self.model, version=version, **kw)
            finally:
                publishing.load_build, publishing._check_signature = real, real_sig

    def rollout(self, version: int, action: str, percent: float | None = None) -> None:
        from litefleet.registry.rollout import change_rollout

        change_rollout(self.repo, self.model, version, action, percent)

    def metadata(self, name: str) -> bytes:
        return (self.repo.metadata_dir / name).read_bytes()

    def target_bytes(self, path: str) -> bytes:
        data = self.repo.read_target(path)
        assert data is not None, path
        return data

    # ------------------------------------------------------------------ devices

    def device(self, name: str, *, direct: bool = False, **settings: Any) -> Path:
        from litefleet.device.home import init_home

        home = self.root / "devices" / name
        init_home(
            home,
            server=self.server.url if direct else self.proxy.url,
            root=self.trusted_root,
            model=self.model,
            device_id=name,
            token=self.token_for(name),
            **settings,
        )
        return home

    def store_problem(self, home: Path, expect: int | None = None) -> str:
        """'' when the store is consistent and its active model predicts; else the reason."""
        try:
            store = ModelStore(home)  # runs recovery, like every agent start
            deadline = time.monotonic() + 10
            while _leftovers(home) and time.monotonic() < deadline:
                # recovery leaves staging files while the staging lock is held: a killed
                # agent's child forked between fork and exec holds it for a moment
                time.sleep(0.1)
                store = ModelStore(home)
            st = store.state()
            if st.active is None:
                return "no active model"
            if store.active_version() != st.active:
                return f"pointer {store.active_version()} != journal {st.active}"
            if expect is not None and st.active != expect:
                return f"active {st.active}, expected {expect}"
            m = store.manifest(st.active)
            if sha256_file(store.model_path(st.active)) != m.sha256:
                return "active model does not match its manifest"
            left = _leftovers(home)
            if left:
                return f"leftovers {left}"
            with ModelRuntime(home) as rt:  # closed: no canary thread outlives the check
                out = rt.predict(self.x[:50])
            acc = float((out.argmax(1) == self.y[:50]).mean())
            if not np.isfinite(out).all() or acc < MIN_ACCURACY:
                return f"active model predicts badly (accuracy {acc:.2f})"
        except Exception as exc:  # any crash here is a failed trial, not a test error
            return f"{type(exc).__name__}: {exc}"
        return ""


def _leftovers(home: Path) -> list[str]:
    """Temporary files recovery should have removed from the store."""
    folders = (home / "versions", home)
    return [p.name for f in folders for p in f.iterdir() if p.name.startswith(TMP_PREFIX)]


@contextlib.contextmanager
def app_traffic(home: Path, x: np.ndarray, shift: float = 0.0) -> Iterator[dict[str, int]]:
    """An app calling `ModelRuntime.predict` in a thread the whole time: count its failures."""
    counts = {"calls": 0, "errors": 0}
    stop = threading.Event()
    errors: list[str] = []

    def loop() -> None:
        rt = ModelRuntime(home, feedback_every=0.0)
        i = 0
        while not stop.is_set():
            try:
                rt.predict(x[i % len(x)] + shift)
                counts["calls"] += 1
            except Exception as exc:
                counts["errors"] += 1
                errors.append(repr(exc))
            i += 1
            stop.wait(0.002)
        rt.close()  # stops its canary thread: nothing writes into the home after the app

    t = threading.Thread(target=loop, daemon=True, name="app")
    t.start()
    try:
        yield counts
    finally:
        stop.set()
        t.join(10)


def signature_of(path: str) -> dict:
    """The signature of a model file (a sandbox task: the file may be hostile)."""
    return LoadedModel.from_file(Path(path)).signature.model_dump(mode="json")
