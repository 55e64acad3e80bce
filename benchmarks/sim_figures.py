"""Run the default simulation for several seeds and store each run's summary (JSON).

Used to pin the figures of one engine so another can be compared with them
(`benchmarks/compare_sim_engines.py`):

    PYTHONPATH=<old src> python benchmarks/sim_figures.py --devices 10000 --seeds 0 1 2 \
        --out benchmarks/data/sim_reference_10k.json --command "..."

`--no-escalation` turns the policies' escalation off (conditional and smart), so an engine
with escalation can be compared with one that predates it.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

from litefleet.sim.config import load_config
from litefleet.sim.runner import simulate


def figures(devices: int, days: float, seed: int, workers: int | None, no_escalation: bool) -> dict:
    """Every run's summary for one seed."""
    cfg = load_config(None, devices=devices, days=days, seed=seed)
    if no_escalation:
        runs = []
        for r in cfg.runs:
            policy: dict[str, Any] = dict(r.policy)
            if r.strategy != "periodic":
                policy["rules"] = {**policy.get("rules", {}), "escalation": None}
            runs.append(r.model_copy(update={"policy": policy}))
        cfg = cfg.model_copy(update={"runs": runs})
    result = simulate(cfg, workers=workers)
    return {name: out.summary for name, out in result.runs.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--devices", type=int, default=10_000)
    parser.add_argument("--days", type=float, default=30.0)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--workers", type=int, default=None)
    parser.add_argument("--no-escalation", action="store_true")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--command", default="", help="How this file was made (stored in it).")
    args = parser.parse_args()
    seeds = {}
    t0 = time.perf_counter()
    for seed in args.seeds:
        seeds[str(seed)] = figures(args.devices, args.days, seed, args.workers, args.no_escalation)
    data = {
        "devices": args.devices,
        "days": args.days,
        "command": args.command,
        "wall_seconds": round(time.perf_counter() - t0, 1),
        "seeds": seeds,
    }
    args.out.write_text(json.dumps(data, indent=1) + "\n")


if __name__ == "__main__":
    main()
