"""Fixtures of the device tests: tiny real `.tflite` models, build folders, a real signed
repository served on 127.0.0.1, and device homes.

The models are made by `make_models.py` in a subprocess (TensorFlow stays out of this
process, so the crash test can fork cheaply) and cached by the script's hash.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from litefleet.device.feedback import reference_stats
from litefleet.device.model import LoadedModel
from litefleet.device.store import Manifest, ModelStore, sha256_file
from litefleet.release import BuildReport, CandidateReport

HERE = Path(__file__).parent


@pytest.fixture(scope="session")
def models_dir(request) -> Path:
    script = HERE / "make_models.py"
    key = hashlib.sha256(script.read_bytes()).hexdigest()[:12]
    out = Path(request.config.cache.mkdir(f"litefleet-device-models-{key}"))
    if not (out / "wide-float32.tflite").exists():
        subprocess.run([sys.executable, str(script), str(out)], check=True, capture_output=True)
    return out


@pytest.fixture(scope="session")
def data(models_dir):
    d = np.load(models_dir / "data.npz")
    return d["x"], d["y"]


def write_build(
    models_dir: Path,
    out: Path,
    name: str,
    *,
    golden_from: str | None = None,
    variants=("float32", "int8"),
    n_golden: int = 200,
) -> Path:
    """A build folder in the `BuildReport` format, for model set `name` (v1..v5, bad, wide)."""
    out.mkdir(parents=True, exist_ok=True)
    d = np.load(models_dir / "data.npz")
    x, y = d["x"], d["y"]
    gx, gy = x[:n_golden], y[:n_golden]
    if name == "wide":
        gx = np.hstack([gx, np.zeros((len(gx), 1), np.float32)])
    ref_model = LoadedModel.from_file(models_dir / f"{golden_from or name}-float32.tflite")
    reference = ref_model.predict(gx if golden_from is None else gx[:, :8])
    np.savez(out / "golden.npz", x=gx, y=gy, reference=reference)
    cands = []
    for precision in variants:
        src = models_dir / f"{name}-{precision}.tflite"
        data = src.read_bytes()
        (out / f"{precision}.tflite").write_bytes(data)
        m = LoadedModel(data)
        acc = float((m.predict(gx).argmax(1) == gy).mean())
        cands.append(
            CandidateReport(
                name=precision,
                file=f"{precision}.tflite",
                source="baseline",
                precision=precision,
                signature=m.signature,
                accuracy=max(acc, 0.9),
                agreement=1.0,
                latency_ms_p50=0.01 if precision == "int8" else 0.02,
                latency_ms_p95=0.05,
                throughput_per_s=1e4,
                raw_bytes=len(data),
                zstd_bytes=len(data),
                sparsity=0.0,
                parameters=27,
                sha256=hashlib.sha256(data).hexdigest(),
            )
        )
    report = BuildReport(
        dataset="blobs",
        num_classes=3,
        input_shape=[int(gx.shape[1])],
        keras_accuracy=1.0,
        candidates=cands,
        reference_stats=reference_stats(x[:400]),
    )
    (out / "report.json").write_text(report.model_dump_json(indent=1))
    return out


@pytest.fixture
def build(models_dir, tmp_path):
    def make(name: str, **kw) -> Path:
        return write_build(models_dir, tmp_path / "builds" / f"{name}-{len(kw)}", name, **kw)

    return make


def install_local(
    store: ModelStore,
    models_dir: Path,
    version: int,
    name: str,
    precision: str = "float32",
    activate: bool = True,
) -> Manifest:
    """Install a model into a store without a server (for store and runtime tests)."""
    src = models_dir / f"{name}-{precision}.tflite"
    m = LoadedModel.from_file(src)
    d = np.load(models_dir / "data.npz")
    with store.staging() as stage:
        (stage / f"{precision}.tflite").write_bytes(src.read_bytes())
        manifest = Manifest(
            model="blobs",
            version=version,
            variant=precision,
            file=f"{precision}.tflite",
            precision=precision,
            sha256=sha256_file(src),
            bytes=src.stat().st_size,
            signature=m.signature,
            source="local",
            reference_stats=reference_stats(d["x"][:400]),
        )
        store.commit(stage, manifest)
    if activate:
        store.activate(version)
    return manifest


@dataclass
class Registry:
    path: Path
    url: str

    def token_for(self, device_id: str) -> str:
        """The device's own telemetry token (a token reports for one device only)."""
        from litefleet.registry.tokens import DeviceTokens

        return DeviceTokens(self.repo().keys.path).issue(device_id, "tests")

    @property
    def root(self) -> Path:
        return self.path / "metadata" / "1.root.json"

    def repo(self):
        from litefleet.registry.repository import Repository

        return Repository(self.path)

    def publish(self, build_dir: Path, version: int, **kw):
        from litefleet.registry.releases import publish

        return publish(self.repo(), build_dir, model="blobs", version=version, **kw)

    def rollout(self, version: int, action: str, percent: float | None = None):
        from litefleet.registry.rollout import change_rollout

        return change_rollout(self.repo(), "blobs", version, action, percent)

    def target_file(self, path: str) -> Path:
        f = self.repo().target_file(path)
        assert f is not None, path
        return f


@pytest.fixture
def registry(tmp_path):
    """A fresh signed repository, served by the real update server on 127.0.0.1."""
    from litefleet.registry.repository import Repository
    from litefleet.registry.server import ServerSettings, ServerThread, create_app

    path = tmp_path / "repo"
    Repository.init(path)
    app = create_app(ServerSettings(repo=path, refresh_interval=None))
    with ServerThread(app) as server:
        yield Registry(path, server.url)


@pytest.fixture
def device(registry, tmp_path):
    """A device home initialised against `registry` (periodic strategy, float32 first)."""
    from litefleet.device.home import init_home

    def make(name: str = "dev", **settings) -> Path:
        home = tmp_path / name
        init_home(
            home,
            server=registry.url,
            root=registry.root,
            model="blobs",
            device_id=name,
            token=registry.token_for(name),
            **settings,
        )
        return home

    return make


def load_json(path: Path):
    return json.loads(Path(path).read_text())
