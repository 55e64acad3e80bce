"""Shared fixtures: real build folders, made once per test session by the real pipeline.

`build_factory(name, **options)` runs `litefleet.pipeline.build.build` with a quick recipe
(few epochs; every compression step still runs) and caches the folder by its options, so
the registry and device suites publish real `.tflite` files without paying for a full build.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

QUICK_RECIPE: dict = {
    "train": {"epochs": 40, "patience": 5},
    "prune": {"epochs": 3},
    "qat": {"epochs": 1},
    "distill": {"epochs": 40, "patience": 5},
    "convert": {"representative_samples": 100},
    "evaluate": {"latency_runs": 20, "throughput_batch": 16, "throughput_seconds": 0.01},
    "data": {"golden_size": 200},
}

BuildFactory = Callable[..., Path]


def quick_recipe(**overrides: object):
    """The quick test recipe with dotted overrides (`prune.final_sparsity=0.8`)."""
    from litefleet.pipeline.recipe import parse_recipe

    recipe = parse_recipe(QUICK_RECIPE, source="tests")
    return recipe.with_overrides(dict(overrides))


LONG_FILES = (
    "tests/demo/test_demo.py",
    "tests/pipeline/test_model_kinds.py",
    "tests/pipeline/test_cli_build.py",
    "tests/device/test_device_only_install.py",
    "tests/device/test_card.py",
    "tests/device/test_operator.py",
    "tests/pipeline/test_user_model.py",
    "tests/device/test_hostile.py",
    "tests/sim/test_freshness.py",
    "tests/reliability/test_faults.py",
    "tests/sim/test_shard.py",
    "tests/pipeline/test_bad_input.py",
    "tests/device/test_e2e.py",
    "tests/pipeline/test_build.py",
    "tests/pipeline/test_delta_friendly.py",
    "tests/pipeline/test_quiet_cli.py",
    "tests/registry/test_cli.py",
    "tests/sim/test_engine.py",
    "tests/registry/test_halt.py",
    "tests/test_any_model.py",
    "tests/pipeline/test_compress.py",
    "tests/device/test_push.py",
    "tests/device/test_rollback_semantics.py",
    "tests/registry/test_deploy.py",
    "tests/reliability/test_server_input.py",
    "tests/registry/test_serve_failfast.py",
    "tests/device/test_cli.py",
    "tests/console/test_browser.py",
    "tests/console/test_login_limit.py",
    "tests/device/test_policy_arrays.py",
    "tests/device/test_slow_server.py",
    "tests/registry/test_topology.py",
)
"""The files that take longest, longest first (wall time per file summed from a whole run
at `-n 6`, 2026-12-07; `tests/timing.py` measures it again). The rest follow in collection
order: each under 30 s."""


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Start the longest files first. pytest-xdist runs with `--dist loadfile
    --no-loadscope-reorder` (pyproject.toml), which hands whole files to the workers in this
    order; its default order (files with the most tests first) started the demo last, so one
    worker ran it alone at the end while the other sat idle."""
    rank = {name: i for i, name in enumerate(LONG_FILES)}
    items.sort(key=lambda item: rank.get(item.nodeid.split("::")[0], len(rank)))


@pytest.fixture(scope="session")
def build_factory(tmp_path_factory: pytest.TempPathFactory) -> BuildFactory:
    """Make (or reuse) a build folder.

    `build_factory("v1")` is the default quick build of digits. `build_factory("v2",
    fine_tune_from="v1")` fine-tunes only the last layer of v1's baseline (small patches).
    Other keyword arguments are dotted recipe overrides, e.g. `**{"seed": 1}`.
    """
    from litefleet.pipeline.build import build

    root = shared_dir(tmp_path_factory, "builds")
    made: dict[str, tuple[dict, Path]] = {}

    def make(name: str = "v1", *, fine_tune_from: str | None = None, **overrides) -> Path:
        key = {"fine_tune_from": fine_tune_from, **overrides}
        if name in made:
            if made[name][0] != key:
                raise ValueError(f"build {name!r} already made with other options")
            return made[name][1]
        if fine_tune_from is not None:
            overrides["model.path"] = str(make(fine_tune_from) / "baseline.keras")
            overrides["train.trainable"] = "last"
            overrides.setdefault("train.epochs", 5)
        out = root / name
        with once_across_workers(out):
            if not (out / "report.json").exists():
                build(quick_recipe(**overrides), out)
        made[name] = (key, out)
        return out

    return make


def shared_dir(tmp_path_factory: pytest.TempPathFactory, name: str) -> Path:
    """A folder every pytest-xdist worker of this run sees (each worker has its own basetemp;
    their parent is the run's), so an expensive artefact is made once per run, not per worker."""
    base = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        base = base.parent
    path = base / f"shared-{name}"
    path.mkdir(parents=True, exist_ok=True)
    return path


@contextmanager
def once_across_workers(target: Path) -> Iterator[None]:
    """Hold an inter-process lock named after `target` while it is made or checked, so two
    workers never build the same folder at once (the second one finds it done)."""
    from litefleet.lock import FileLock

    with FileLock(target.with_name(target.name + ".lock"), timeout=3600):
        yield


@pytest.fixture(scope="session")
def shapes_as_is(tmp_path_factory: pytest.TempPathFactory):
    """A user's finished Keras 3 CNN (16x16 RGB shapes, trained here by its own loop) built
    with `model.as_is` on its image folder: shared by the pipeline and device tests."""
    from types import SimpleNamespace

    from litefleet.pipeline.build import build
    from litefleet.pipeline.data import load_dataset
    from litefleet.release import BuildReport
    from tests.pipeline.shapes import shapes_folder, train_keras3_cnn

    root = shared_dir(tmp_path_factory, "shapes")  # made once per run, whichever worker asks
    out = root / "build"
    with once_across_workers(out):
        folder = root / "shapes"
        if not folder.exists():
            shapes_folder(folder, per_class=120)
        data = load_dataset(folder, seed=0)
        model = root / "shapes_cnn.keras"
        if not (out / "report.json").exists():
            train_keras3_cnn(data, model)
            recipe = quick_recipe(
                **{
                    "data.path": str(folder),
                    "model.path": str(model),
                    "model.as_is": True,
                    "train.epochs": 0,
                    "prune.epochs": 3,
                    "prune.frequency": 2,  # ~9 steps an epoch here: the default 10 never prunes
                    "distill.epochs": 60,
                    "distill.patience": 10,
                    "evaluate.latency_runs": 10,
                }
            )
            build(recipe, out)
    report = BuildReport.model_validate_json((out / "report.json").read_text())
    return SimpleNamespace(folder=folder, data=data, model=model, out=out, report=report)
