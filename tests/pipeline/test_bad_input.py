"""Bad input to `litefleet build`: one clear line, exit code 2, no traceback, nothing left."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from litefleet.errors import UserError


def run_build(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "COLUMNS": "200"}
    return subprocess.run(
        [sys.executable, "-m", "litefleet", "build", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=env,
        timeout=300,
    )


def assert_clean_failure(result: subprocess.CompletedProcess, *needles: str) -> None:
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    error_lines = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(error_lines) == 1, result.stderr
    for needle in needles:
        assert needle in error_lines[0], error_lines[0]


def assert_nothing_written(folder: Path) -> None:
    assert not (folder / "out").exists()
    assert not [p for p in folder.iterdir() if p.name.startswith(".out.")]


def test_missing_data_file(tmp_path):
    result = run_build("--data", "nope.npz", "--out", "out", cwd=tmp_path)
    assert_clean_failure(result, "data file not found", "nope.npz")
    assert_nothing_written(tmp_path)


def test_malformed_data_file(tmp_path):
    (tmp_path / "bad.npz").write_bytes(b"this is not a zip archive")
    result = run_build("--data", "bad.npz", "--out", "out", cwd=tmp_path)
    assert_clean_failure(result, "not an npz archive")
    np.savez(tmp_path / "partial.npz", x_train=np.zeros((4, 3)), y_train=np.zeros(4, int))
    result = run_build("--data", "partial.npz", "--out", "out", cwd=tmp_path)
    assert_clean_failure(result, "lacks arrays x_test, y_test")
    assert_nothing_written(tmp_path)


def test_labels_and_samples_disagree(tmp_path):
    np.savez(
        tmp_path / "d.npz",
        x_train=np.zeros((10, 4), np.float32),
        y_train=np.zeros(9, np.int64),
        x_test=np.zeros((3, 4), np.float32),
        y_test=np.zeros(3, np.int64),
    )
    result = run_build("--data", "d.npz", "--out", "out", cwd=tmp_path)
    assert_clean_failure(result, "x_train has 10 samples but y_train has 9")


def test_model_does_not_fit_the_data(tmp_path):
    from litefleet.pipeline.models import mlp

    mlp((32,), 10, [8]).save(tmp_path / "wrong.keras")
    result = run_build("--model", "wrong.keras", "--out", "out", cwd=tmp_path)
    assert_clean_failure(result, "model input shape (32,)", "(64,)")
    assert_nothing_written(tmp_path)


def test_unknown_recipe_key(tmp_path):
    (tmp_path / "r.toml").write_text("[prune]\nfinal_sparsity = 0.5\nfinal_sparsty = 0.9\n")
    result = run_build("--recipe", "r.toml", "--out", "out", cwd=tmp_path)
    assert_clean_failure(result, "prune.final_sparsty", "unknown key")


def test_invalid_recipe_value_and_toml(tmp_path):
    (tmp_path / "r.toml").write_text("[prune]\nfinal_sparsity = 1.5\n")
    assert_clean_failure(run_build("--recipe", "r.toml", cwd=tmp_path), "prune.final_sparsity")
    (tmp_path / "r.toml").write_text("[prune\n")
    assert_clean_failure(run_build("--recipe", "r.toml", cwd=tmp_path), "not valid TOML")


def _sine(t):
    from litefleet.pipeline.tf import tf

    return tf.ensure_shape(tf.numpy_function(np.sin, [t], tf.float32), [None, 64])


def test_unconvertible_model_fails_clearly_and_leaves_nothing(tmp_path):
    """A model with a Python op: trains in Keras, but the TFLite converter refuses it."""
    from litefleet.pipeline import build as build_module
    from litefleet.pipeline.tf import keras

    from .. import conftest

    inputs = keras.Input((64,))
    outputs = keras.layers.Dense(10, activation="softmax")(keras.layers.Lambda(_sine)(inputs))
    path = tmp_path / "pyop.h5"
    keras.Model(inputs, outputs).save(path)
    recipe = conftest.quick_recipe(
        **{
            "model.path": str(path),
            "train.epochs": 1,
            "prune.enabled": False,
            "qat.enabled": False,
            "distill.enabled": False,
        }
    )
    with pytest.raises(UserError, match=r"TFLite converter cannot handle .*PyFunc"):
        build_module.build(recipe, tmp_path / "out")
    assert_nothing_written(tmp_path)


def test_failed_rebuild_keeps_the_previous_build(tmp_path, build_factory):
    """A build that fails must not damage the good build already in the output folder."""
    import shutil

    good = tmp_path / "out"
    shutil.copytree(build_factory("v1"), good)
    before = sorted(p.name for p in good.iterdir())
    result = run_build("--data", "missing.npz", "--out", "out", cwd=tmp_path)
    assert result.returncode == 2
    assert sorted(p.name for p in good.iterdir()) == before


def test_out_onto_an_existing_folder_is_refused_unless_forced(tmp_path):
    earlier = tmp_path / "out"
    earlier.mkdir()
    (earlier / "report.json").write_text("{}")  # a build a release may have come from
    result = run_build("--data", "nope.npz", "--out", "out", cwd=tmp_path)
    assert_clean_failure(result, "--out out already holds a build folder", "--force")
    assert (earlier / "report.json").read_text() == "{}"
    forced = run_build("--data", "nope.npz", "--out", "out", "--force", cwd=tmp_path)
    assert_clean_failure(forced, "data file not found")  # past the guard, to the next check
    assert (earlier / "report.json").read_text() == "{}"  # a failed build replaces nothing
