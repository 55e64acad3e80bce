"""Who may import whom (docs/architecture.md): checked on the source, by walking each AST.

Neutral modules sit at the top of `litefleet/` (formats, errors, LiteRT wrapper, drift
statistics, file plumbing); every package may import them and they import no package.
The three sides (pipeline, registry, device) import only themselves and the neutral
modules; the tools on top (sim, testing, selftest, demo, cli) compose the sides.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "litefleet"

ALLOWED: dict[str, set[str]] = {
    "neutral": set(),
    "pipeline": set(),
    "registry": set(),
    "device": set(),
    "sim": {"device", "registry"},
    "testing": {"device", "registry"},
    "selftest": {"device", "registry", "testing"},
    "demo": {"device", "pipeline", "registry", "testing"},
    "cli": {"device", "pipeline", "registry", "sim", "selftest", "demo", "testing"},
}
"""Besides itself and the neutral modules, the packages each package may import."""


def room_of(module: str) -> str:
    """`litefleet.device.agent` -> "device"; `litefleet.release` -> "neutral"."""
    parts = module.split(".")
    if len(parts) > 1 and (SRC / parts[1]).is_dir():
        return parts[1]
    return "neutral"


def imported_modules(path: Path) -> set[str]:
    """Every `litefleet...` module a file imports, at top level or inside a function."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.split(".")[0] == "litefleet"}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module == "litefleet":
                found |= {f"litefleet.{a.name}" for a in node.names}
            elif node.module.startswith("litefleet."):
                found.add(node.module)
    return found


def module_name(path: Path) -> str:
    rel = path.relative_to(SRC.parent).with_suffix("")
    return ".".join(rel.parts).removesuffix(".__init__")


def violations() -> list[str]:
    bad = []
    for path in sorted(SRC.rglob("*.py")):
        me = module_name(path)
        room = room_of(me)
        may = ALLOWED[room] | {room, "neutral"}
        if me in ("litefleet", "litefleet.__main__"):
            continue  # the entry points only start the CLI
        for target in imported_modules(path):
            if target == "litefleet":
                continue
            if room_of(target) not in may:
                bad.append(f"{me} ({room}) imports {target} ({room_of(target)})")
    return bad


def test_every_package_has_a_rule():
    rooms = {p.name for p in SRC.iterdir() if p.is_dir() and (p / "__init__.py").exists()}
    assert rooms <= set(ALLOWED), rooms - set(ALLOWED)


def test_checker_catches_a_forbidden_import(tmp_path):
    probe = tmp_path / "probe.py"
    probe.write_text("import os\nfrom litefleet.device.store import ModelStore\n")
    assert imported_modules(probe) == {"litefleet.device.store"}
    assert room_of("litefleet.device.store") == "device"
    assert room_of("litefleet.release") == "neutral"
    assert "device" not in ALLOWED["pipeline"]


@pytest.mark.parametrize("room", ["pipeline", "registry", "device", "neutral"])
def test_sides_and_neutral_modules_keep_to_their_rooms(room):
    assert [v for v in violations() if f"({room}) imports" in v] == []


def test_tools_keep_to_their_rules():
    assert violations() == []


def import_graph() -> dict[str, set[str]]:
    """module -> the litefleet modules it imports (a `from m import name` counts as m)."""
    modules = {module_name(p): p for p in SRC.rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for me, path in modules.items():
        targets = set()
        for target in imported_modules(path):
            while target not in modules and "." in target:
                target = target.rsplit(".", 1)[0]  # `from litefleet.x import name`
            if target in modules and target != me:
                targets.add(target)
        graph[me] = targets
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Every group of modules that import each other, directly or round a loop."""
    seen: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(v: str) -> None:  # Tarjan's strongly connected components
        seen[v] = low[v] = len(seen)
        stack.append(v)
        for w in graph[v]:
            if w not in seen:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], seen[w])
        if low[v] == seen[v]:
            group = []
            while (w := stack.pop()) != v:
                group.append(w)
            if group:
                found.append(sorted([v, *group]))

    for v in sorted(graph):
        if v not in seen:
            visit(v)
    return found


def test_the_cycle_finder_finds_a_cycle():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_no_two_modules_import_each_other():
    """Even inside a function (a deferred import still ties the two modules together):
    shared code moves to a module both may import (e.g. `pipeline/split.py`, used by
    `pipeline/data.py` and `pipeline/images.py`)."""
    assert cycles(import_graph()) == []


def private_reaches(path: Path) -> list[str]:
    """`from litefleet.x import _name`, and `obj._name` on anything but self/cls: a module
    using another module's private parts (they may change without notice)."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("litefleet"):
            found += [
                f"{path.name}: from {node.module} import {a.name}"
                for a in node.names
                if a.name.startswith("_") and not a.name.startswith("__")
            ]
        elif isinstance(node, ast.Attribute) and node.attr.startswith("_"):
            owner = node.value
            if not node.attr.startswith("__") and not (
                isinstance(owner, ast.Name) and owner.id in ("self", "cls")
            ):
                found.append(f"{path.name}:{node.lineno}: {ast.unparse(node)}")
    return found


def test_no_module_imports_another_s_private_names():
    found = [
        reach
        for path in sorted(SRC.rglob("*.py"))
        for reach in private_reaches(path)
        if " import " in reach
    ]
    assert found == []


def test_the_sharded_run_drives_the_engine_through_its_public_methods():
    """`sim/shard.py` steps `FleetRun` as `FleetRun.run` does (begin, server_changed,
    step_until, finish), never through its private helpers."""
    assert private_reaches(SRC / "sim" / "shard.py") == []
    probe = "from litefleet.sim.engine import _groups\nfleet._step(1, True)\nself._ok()\n"
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "probe.py"
        path.write_text(probe)
        assert len(private_reaches(path)) == 2
