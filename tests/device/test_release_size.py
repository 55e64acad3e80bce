"""Release format 2 end to end on a camera-sized model: 30 releases of a 64x64x3 classifier
through the real publish, server, python-tuf client and agent. The signed index stays
bounded, an install fetches only what changed, and an idle check moves under 1 KB, all of
it counted in `bytes_downloaded` (cross-checked against what the server actually sent)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from litefleet.device.agent import Agent
from litefleet.device.runtime import ModelRuntime
from litefleet.registry.publish import read_index
from litefleet.release import index_path
from litefleet.testing.image_builds import conv_tflite, image_build, images
from litefleet.testing.lab import Lab
from litefleet.testing.proxy import Exchange, Reply

SIDE = 64


@pytest.fixture(scope="module")
def camera_model() -> bytes:
    return conv_tflite(SIDE)


class Metered:
    """A proxy fault that lets everything through and counts the body bytes the TUF
    client was sent (metadata and targets; telemetry is the device's upload)."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, int]] = []

    def __call__(self, ex: Exchange) -> Reply:
        reply = ex.upstream()
        if ex.path.startswith(("/metadata/", "/targets/")):
            self.sent.append((ex.path, len(reply.body)))
        return reply

    def total(self) -> int:
        return sum(n for _, n in self.sent)


@pytest.fixture
def lab(tmp_path: Path) -> Iterator[Lab]:
    with Lab(tmp_path / "lab", model="camera") as lab:
        yield lab


def test_thirty_releases_of_a_64x64x3_model_stay_small(lab, tmp_path, camera_model):
    folder = image_build(tmp_path / "build", camera_model, side=SIDE, golden_samples=32)
    home = lab.device("cam")
    index_bytes, targets_bytes = {}, {}
    for v in range(1, 31):
        lab.publish(folder, v, check_models=v == 1)
        index_bytes[v] = len(lab.target_bytes(index_path(lab.model)))
        targets_bytes[v] = len(lab.repo.load("targets").to_bytes())
        if v == 1:
            first = Agent(home).check()
            assert (first.action, first.version, first.source) == ("installed", 1, "full")
            assert first.bytes_downloaded > first.model_bytes + 32 * SIDE * SIDE * 3 // 2
    # bounded by the compacted history, not by the 30 releases
    assert index_bytes[30] <= index_bytes[8] * 1.1, index_bytes
    assert targets_bytes[30] <= targets_bytes[8] * 1.1, targets_bytes
    index = read_index(lab.repo, lab.model)
    assert len(index.releases) == 8
    assert all(len(r.model_dump_json()) <= 4096 for r in index.releases)

    meter = Metered()
    lab.proxy.fault = meter
    r = Agent(home).check()
    assert (r.action, r.version) == ("installed", 30), r
    # the golden inputs, reference, drift and card never changed: release 1's files were
    # on the device already and nothing of them was fetched again
    fetched = [p for p, _ in meter.sent if "/targets/" in p]
    assert not any(p.endswith((".npz", "drift.json", "card.json")) for p in fetched), fetched
    assert r.bytes_downloaded == meter.total(), (r.bytes_downloaded, meter.sent)

    meter.sent.clear()
    idle = Agent(home).check()
    assert idle.action == "none", idle
    assert 0 < idle.bytes_downloaded <= 1024, (idle.bytes_downloaded, meter.sent)
    assert idle.bytes_downloaded == meter.total()
    assert not any("/targets/" in p for p, _ in meter.sent), meter.sent  # index: cached

    version_dir = home / "versions" / "30"
    assert (version_dir / "manifest.json").stat().st_size < 4096
    assert (version_dir / "drift.json").stat().st_size < 32 * 1024
    # the drift monitor of the installed release runs on the app's own frames
    runtime = ModelRuntime(home)
    runtime.predict(images(20, SIDE, seed=9))
    monitor = runtime._gen.monitor
    assert monitor.stats is not None and monitor.predictions == 20
    assert np.isfinite(monitor.drift())
