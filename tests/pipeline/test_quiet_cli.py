"""`litefleet build` as a user runs it: data errors come before TensorFlow, in one line,
with plain values, and nothing of TensorFlow's, absl's or LiteRT's own logging shows."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

TF_LOG_LINE = re.compile(
    r"^[IWEF]\d{4} |absl::|oneDNN|cuInit|cuda|NodeDef|XNNPACK|tensorflow|TF-TRT", re.I | re.M
)
"""What TensorFlow, absl and LiteRT print on their own (e.g. `E0000 00:00:… cuInit`)."""


def run_build(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TF_", "LITEFLEET_"))}
    return subprocess.run(
        [sys.executable, "-m", "litefleet", "build", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env={**env, "COLUMNS": "200"},
        timeout=600,
    )


def error_line(result: subprocess.CompletedProcess) -> str:
    assert result.returncode == 2, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:"), result.stderr
    return lines[0]


def test_blocker_catches_tensorflow_noise():
    """The pattern this file relies on really matches the lines users complained about."""
    for line in (
        "E0000 00:00:1795883755.799428   16607 cuda_platform.cc:52] failed call to cuInit",
        "INFO: Created TensorFlow Lite XNNPACK delegate for CPU.",
        "I0000 00:00:17958.1 port.cc:153] oneDNN custom operations are on.",
    ):
        assert TF_LOG_LINE.search(line)


def test_bad_data_file_fails_before_tensorflow_with_exit_2(tmp_path):
    (tmp_path / "data.npz").write_bytes(b"this is not a zip archive at all")
    result = run_build("--data", "data.npz", "--out", "out", cwd=tmp_path)
    line = error_line(result)
    assert "not an npz archive" in line and "allow_pickle" not in line
    assert not TF_LOG_LINE.search(result.stderr), result.stderr
    assert not (tmp_path / "out").exists()


def test_pickled_npz_gets_plain_words(tmp_path):
    objects = np.array([{"a": 1}], dtype=object)
    np.savez(tmp_path / "p.npz", x_train=objects, y_train=objects, x_test=objects, y_test=objects)
    line = error_line(run_build("--data", "p.npz", cwd=tmp_path))
    assert "Python objects" in line and "allow_pickle" not in line


def test_bad_csv_and_image_folder_name_the_place(tmp_path):
    (tmp_path / "d.csv").write_text("a,b,label\n1,2,0\n3,x,1\n4,5,1\n")
    line = error_line(run_build("--data", "d.csv", cwd=tmp_path))
    assert "row 3" in line and "'b'" in line and "'x' is not a number" in line
    line = error_line(run_build("--data", "d.csv", "--label-column", "kind", cwd=tmp_path))
    assert "no column 'kind'" in line
    (tmp_path / "imgs" / "only-one-class").mkdir(parents=True)
    line = error_line(run_build("--data", "imgs", cwd=tmp_path))
    assert "one sub-folder per class" in line


def test_mismatched_shapes_are_plain_numbers(tmp_path):
    np.savez(
        tmp_path / "d.npz",
        x_train=np.zeros((10, 8, 8, 1), np.float32),
        y_train=np.zeros(10, np.int64),
        x_test=np.zeros((3, 8, 8, 3), np.float32),
        y_test=np.zeros(3, np.int64),
    )
    line = error_line(run_build("--data", "d.npz", cwd=tmp_path))
    assert "(8, 8, 1)" in line and "(8, 8, 3)" in line and "np." not in line


def test_unknown_model_file_says_what_it_is(tmp_path):
    (tmp_path / "model.keras").write_text("not a model\n")
    line = error_line(run_build("--model", "model.keras", cwd=tmp_path))
    assert "not a model litefleet can read" in line
    with (tmp_path / "arrays.keras").open("wb") as f:
        np.savez(f, x=np.zeros(3))
    assert "npz archive, not a Keras model" in error_line(
        run_build("--model", "arrays.keras", cwd=tmp_path)
    )


@pytest.mark.slow
def test_custom_layer_names_the_remedy(tmp_path):
    """A Keras 3 model with a custom layer that Keras cannot find: one line, the fix."""
    script = tmp_path / "make.py"
    script.write_text(
        "import os\nos.environ['KERAS_BACKEND'] = 'tensorflow'\nimport keras\n"
        "@keras.saving.register_keras_serializable(package='mine')\n"
        "class Scale(keras.layers.Layer):\n"
        "    def call(self, x):\n        return x * 2.0\n"
        "m = keras.Sequential([keras.Input((64,)), Scale(), "
        "keras.layers.Dense(10, activation='softmax')])\n"
        "m.save('custom.keras')\n"
    )
    subprocess.run([sys.executable, str(script)], cwd=tmp_path, check=True, capture_output=True)
    result = run_build("--model", "custom.keras", cwd=tmp_path)
    line = error_line(result)
    assert "custom layer" in line and "--custom-objects" in line and "Scale" in line
    assert not TF_LOG_LINE.search(result.stderr.replace(line, ""))


# A whole build's silence: tests/pipeline/test_cli_build.py (one default build for both).
