"""The suite's timing plugin (tests/timing.py) records each test and sums them by file."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.timing import main, per_file

ROOT = Path(__file__).resolve().parent.parent


def test_the_plugin_records_every_test_with_its_cpu(tmp_path, capsys):
    (tmp_path / "test_spin.py").write_text(
        "import time\n"
        "def test_spins():\n"
        "    end = time.process_time() + 0.3\n"
        "    while time.process_time() < end:\n"
        "        pass\n"
        "def test_sleeps():\n"
        "    time.sleep(0.3)\n"
    )
    prefix = tmp_path / "times"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "tests.timing",
            "-p",
            "no:cacheprovider",
            "--rootdir",
            str(tmp_path),
            "-c",
            os.devnull,
            "--timing-out",
            str(prefix),
            str(tmp_path / "test_spin.py"),
        ],
        check=True,
        capture_output=True,
        cwd=ROOT,
        env={  # an xdist worker's name would name the file: this run is no worker
            **{k: v for k, v in os.environ.items() if not k.startswith("PYTEST_XDIST")},
            "PYTHONPATH": str(ROOT),
        },
    )
    lines = (tmp_path / "times.main.tsv").read_text().splitlines()
    rows = {line.split("\t")[0].split("::")[1]: line.split("\t") for line in lines}
    assert set(rows) == {"test_spins", "test_sleeps"}
    assert float(rows["test_spins"][2]) >= 0.25  # its CPU
    assert float(rows["test_sleeps"][1]) >= 0.25 > float(rows["test_sleeps"][2])  # waits
    main(str(prefix))
    printed = capsys.readouterr().out
    assert "test_spin.py" in printed and "LONG_FILES = (" in printed


def test_lines_are_summed_by_file_longest_first():
    files = per_file(
        [
            "tests/a.py::t1\t1.0\t0.5\t0.0",
            "tests/b.py::t1\t3.0\t0.1\t2.0",
            "tests/a.py::t2\t1.5\t1.0\t0.25",
            "",
        ]
    )
    assert [(f.path, f.wall, f.own_cpu, f.children_cpu) for f in files] == [
        ("tests/b.py", 3.0, 0.1, 2.0),
        ("tests/a.py", 2.5, 1.5, 0.25),
    ]
