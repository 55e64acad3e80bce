"""Fixtures of the device tests: tiny real `.tflite` models, build folders, a real signed
repository served on 127.0.0.1, and device homes.

The models and the data are the project's one tiny-model source
(`litefleet.testing.tiny_models`, no TensorFlow); the repository, the server and the
device homes are the one test lab (`litefleet.testing.Lab`).
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

from litefleet.device.store import Manifest, ModelStore, sha256_file
from litefleet.drift import reference_stats
from litefleet.litert import LoadedModel
from litefleet.release import DRIFT_FILE, BuildReport, CandidateReport
from litefleet.testing import tiny_models
from litefleet.testing.lab import Lab
from litefleet.testing.tiny_data import dataset


@pytest.fixture(scope="session")
def models_dir(tmp_path_factory) -> Path:
    """The tiny models as `<name>.tflite` files, and `data.npz` (x, y) they classify."""
    out = tmp_path_factory.mktemp("models")
    for name in tiny_models.names():
        (out / f"{name}.tflite").write_bytes(tiny_models.model(name))
    x, y = dataset()
    np.savez(out / "data.npz", x=x, y=y)
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
        (stage / DRIFT_FILE).write_text(reference_stats(d["x"][:400]).model_dump_json())
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
        )
        store.commit(stage, manifest)
    if activate:
        store.activate(version)
    return manifest


@dataclass
class Registry:
    """The lab's repository and server, as the device tests address them."""

    lab: Lab

    @property
    def path(self) -> Path:
        return self.lab.repo.path

    @property
    def url(self) -> str:
        return self.lab.server.url

    def token_for(self, device_id: str) -> str:
        """The device's own telemetry token (a token reports for one device only)."""
        return self.lab.token_for(device_id)

    @property
    def root(self) -> Path:
        return self.lab.trusted_root

    def repo(self):
        from litefleet.registry.repository import Repository

        return Repository(self.path)

    def publish(self, build_dir: Path, version: int, **kw):
        kw.setdefault("min_accuracy", None)
        return self.lab.publish(build_dir, version, **kw)

    def rollout(self, version: int, action: str, percent: float | None = None):
        return self.lab.rollout(version, action, percent)

    def target_file(self, path: str) -> Path:
        f = self.repo().target_file(path)
        assert f is not None, path
        return f


@pytest.fixture
def registry(tmp_path):
    """A fresh signed repository, served by the real update server on 127.0.0.1."""
    with Lab(tmp_path / "lab", model="blobs") as lab:
        yield Registry(lab)


@pytest.fixture
def device(registry, tmp_path):
    """A device home initialised against `registry` (periodic strategy, float32 first)."""

    def make(name: str = "dev", **settings) -> Path:
        return registry.lab.device(name, direct=True, **settings)

    return make


def load_json(path: Path):
    return json.loads(Path(path).read_text())


@pytest.fixture(scope="session")
def hostile_models(models_dir, request) -> dict[str, Path]:
    """Every hostile model class of `litefleet.testing.hostile`, made from v1 (the WHILE
    loop with TensorFlow, in a subprocess: TF stays out of this process)."""
    from litefleet.testing import hostile

    key = hashlib.sha256(Path(hostile.__file__).read_bytes()).hexdigest()[:12]
    out = Path(request.config.cache.mkdir(f"litefleet-hostile-{key}"))
    if not (out / "huge-loop.tflite").exists():
        subprocess.run(
            [
                sys.executable,
                "-m",
                "litefleet.testing.hostile",
                str(out),
                str(models_dir / "v1-float32.tflite"),
            ],
            check=True,
            capture_output=True,
        )
    return {p.stem: p for p in sorted(out.glob("*.tflite"))}


def write_hostile_build(models_dir: Path, out: Path, model_file: Path) -> Path:
    """A build folder that looks like v1's but whose float32 model is `model_file`
    (its report carries v1's signature and the hostile file's own hash and size)."""
    write_build(models_dir, out, "v1", variants=("float32",))
    data = model_file.read_bytes()
    (out / "float32.tflite").write_bytes(data)
    report = BuildReport.model_validate_json((out / "report.json").read_text())
    cand = report.candidates[0].model_copy(
        update={"sha256": hashlib.sha256(data).hexdigest(), "raw_bytes": len(data)}
    )
    report = report.model_copy(update={"candidates": [cand]})
    (out / "report.json").write_text(report.model_dump_json(indent=1))
    return out
