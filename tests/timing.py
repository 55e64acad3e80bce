"""Where the suite's time goes: a pytest plugin and its summary, to keep `LONG_FILES`
(tests/conftest.py) measured rather than guessed.

    .venv/bin/python -m pytest -n 4 -p tests.timing --timing-out /tmp/suite
    .venv/bin/python -m tests.timing /tmp/suite

Each worker appends one line per test to `<out>.<worker>.tsv`: node id, wall seconds, the
worker's own CPU seconds and its reaped children's CPU seconds (`getrusage` deltas; a server
or a Ray actor reaped at teardown is counted where it is reaped, or not at all).
"""

from __future__ import annotations

import os
import resource
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--timing-out", default=None, help="path prefix of the per-worker timing files"
    )


def _cpu(who: int) -> float:
    usage = resource.getrusage(who)
    return usage.ru_utime + usage.ru_stime


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None):
    prefix = item.config.getoption("--timing-out")
    if not prefix:
        yield
        return
    wall, own, children = (
        time.monotonic(),
        _cpu(resource.RUSAGE_SELF),
        _cpu(resource.RUSAGE_CHILDREN),
    )
    yield
    worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
    line = "\t".join(
        [
            item.nodeid,
            f"{time.monotonic() - wall:.2f}",
            f"{_cpu(resource.RUSAGE_SELF) - own:.2f}",
            f"{_cpu(resource.RUSAGE_CHILDREN) - children:.2f}",
        ]
    )
    with open(f"{prefix}.{worker}.tsv", "a") as out:
        out.write(line + "\n")


@dataclass
class FileTime:
    path: str
    wall: float = 0.0
    own_cpu: float = 0.0
    children_cpu: float = 0.0


def per_file(lines: list[str]) -> list[FileTime]:
    """The tests' lines summed by file, the longest wall time first."""
    files: dict[str, FileTime] = {}
    for line in filter(str.strip, lines):
        node, wall, own, children = line.rstrip("\n").split("\t")
        path = node.split("::")[0]
        entry = files.setdefault(path, FileTime(path))
        entry.wall += float(wall)
        entry.own_cpu += float(own)
        entry.children_cpu += float(children)
    return sorted(files.values(), key=lambda f: f.wall, reverse=True)


def main(prefix: str, longest: int = 32) -> None:
    lines = [
        line
        for tsv in sorted(Path(prefix).parent.glob(Path(prefix).name + ".*.tsv"))
        for line in tsv.read_text().splitlines()
    ]
    if not lines:
        sys.exit(f"no timing files {prefix}.*.tsv: run pytest with --timing-out {prefix}")
    files = per_file(lines)
    total = FileTime(
        "total",
        sum(f.wall for f in files),
        sum(f.own_cpu for f in files),
        sum(f.children_cpu for f in files),
    )
    print(f"{'file':60s} {'wall':>8s} {'own cpu':>8s} {'children':>8s}")
    for f in [*files, total]:
        print(f"{f.path:60s} {f.wall:8.1f} {f.own_cpu:8.1f} {f.children_cpu:8.1f}")
    print("\nLONG_FILES = (")
    for f in files[:longest]:
        print(f'    "{f.path}",')
    print(")")


if __name__ == "__main__":
    main(*sys.argv[1:2])
