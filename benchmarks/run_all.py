"""`make bench`: run every `benchmarks/bench_*.py`, keep its JSON, print one table of ratios.

Each benchmark measures its figures against a baseline in the same run and reports them as
ratios (keys containing `ratio` or `_vs_`); this runner flattens every JSON document and shows those
keys, so one table compares the whole system on this machine. Raw JSON goes to out/bench/.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

HERE = Path(__file__).parent


def flatten(value: object, prefix: str = "") -> dict[str, object]:
    if isinstance(value, dict):
        out: dict[str, object] = {}
        for key, inner in value.items():
            out.update(flatten(inner, f"{prefix}.{key}" if prefix else str(key)))
        return out
    return {prefix: value}


def main() -> int:
    out_dir = Path("out/bench")
    out_dir.mkdir(parents=True, exist_ok=True)
    only = set(sys.argv[1:])
    console = Console()
    table = Table(title="litefleet benchmarks (ratios against a baseline measured in the same run)")
    for column in ("benchmark", "figure", "value"):
        table.add_column(column, justify="right" if column == "value" else "left")
    failed = []
    environment: dict = {}
    for script in sorted(HERE.glob("bench_*.py")):
        name = script.stem.removeprefix("bench_")
        if only and name not in only:
            continue
        console.print(f"[bold]running[/] {script.name} …")
        started = time.perf_counter()
        result = subprocess.run(
            [sys.executable, str(script)], capture_output=True, text=True, timeout=1800
        )
        seconds = time.perf_counter() - started
        if result.returncode != 0:
            failed.append(name)
            console.print(f"[red]{script.name} failed[/]\n{result.stderr[-2000:]}")
            continue
        document = json.loads(result.stdout)
        (out_dir / f"{name}.json").write_text(json.dumps(document, indent=2))
        environment = environment or document.get("environment", {})
        for key, value in flatten(document).items():
            leaf = key.rsplit(".", 1)[-1]
            if ("ratio" in leaf or "_vs_" in leaf) and isinstance(value, int | float):
                table.add_row(name, key, f"{value:.3g}")
        console.print(f"  done in {seconds:.0f} s → out/bench/{name}.json")
    console.print(table)
    if environment:
        console.print(
            "machine: "
            + ", ".join(f"{k} {v}" for k, v in environment.items() if k in ("cpu", "cpu_count"))
        )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
