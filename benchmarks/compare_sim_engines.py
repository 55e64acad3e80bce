"""Does the vectorised engine give the per-device engine's figures? Seed by seed, at 10,000 devices.

The reference (`benchmarks/data/sim_reference_10k.json`) holds the summaries of the old
per-device event loop (commit 5ab9181) for seeds 0-4, made by the command stored in it. This
script runs the current engine on the same seeds with the policies' escalation turned off
(the old policies had none: like is compared with like), or reads such a run from
`--candidate`, and prints, per strategy and figure, the old engine's range over the seeds,
the new engine's range, and whether the new mean lies within the old range ("ok"), or only
within it widened by the tolerance ("ok (tolerance)"; `--tolerance`, a share of the old
mean: the seed-to-seed spread of 5 seeds is a small sample), or outside ("OUTSIDE").
JSON on stdout; the table on stderr.

    python benchmarks/compare_sim_engines.py [--seeds 0 1 2 3 4] [--tolerance 0.05]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).parent
REFERENCE = HERE / "data" / "sim_reference_10k.json"

FIGURES: dict[str, Any] = {
    "metered MB": lambda s: s["bytes"]["metered"] / 1e6,
    "total MB": lambda s: s["bytes"]["total"] / 1e6,
    "bad-release device-hours": lambda s: s["bad_release"]["device_hours"],
    "stale share %": lambda s: 100 * s["staleness"]["share"],
    "mean checks/s": lambda s: s["load"]["mean_rps"],
    "peak-minute checks/s": lambda s: s["load"]["peak_rps"],
    "checks": lambda s: s["load"]["checks"],
    "installs": lambda s: s["decisions"]["installs"],
    "deferred": lambda s: s["decisions"]["deferred"],
}


def _reach(v: str, q: str):
    def get(s: dict) -> float | None:
        r = s["staleness"]["releases"].get(v)
        return None if r is None else r[f"hours_to_{q}"]

    return get


def figures_of(summary: dict) -> dict[str, float | None]:
    out = {name: f(summary) for name, f in FIGURES.items()}
    for v, r in summary["staleness"]["releases"].items():
        if not r["bad"]:
            for q in ("50", "95"):
                out[f"v{v} hours to {q}%"] = _reach(v, q)(summary)
    return out


def compare(reference: dict, candidate: dict, tolerance: float) -> dict[str, Any]:
    """Per run and figure: old (min, max, mean), new (min, max, mean), within?"""
    seeds = sorted(set(reference["seeds"]) & set(candidate["seeds"]))
    out: dict[str, Any] = {"seeds": seeds, "tolerance": tolerance, "runs": {}}
    runs = reference["seeds"][seeds[0]].keys()
    for run in runs:
        rows = {}
        old = [figures_of(reference["seeds"][s][run]) for s in seeds]
        new = [figures_of(candidate["seeds"][s][run]) for s in seeds]
        for fig in old[0]:
            a = [x[fig] for x in old]
            b = [x[fig] for x in new]
            if None in a or None in b:
                rows[fig] = {
                    "old": a,
                    "new": b,
                    "within": all(x is None for x in a) == all(x is None for x in b),
                }
                continue
            lo, hi, mean = min(a), max(a), sum(a) / len(a)
            slack = tolerance * abs(mean)
            nmean = sum(b) / len(b)
            rows[fig] = {
                "old": [round(lo, 3), round(hi, 3), round(mean, 3)],
                "new": [round(min(b), 3), round(max(b), 3), round(nmean, 3)],
                "within": lo - slack <= nmean <= hi + slack,
                "within_range": lo <= nmean <= hi,
            }
        out["runs"][run] = rows
    return out


def _print(result: dict) -> None:
    w = sys.stderr
    for run, rows in result["runs"].items():
        w.write(f"\n{run}\n{'figure':28} {'old min..max (mean)':>32} {'new min..max (mean)':>32}\n")
        for fig, r in rows.items():
            if isinstance(r["old"][0], float | int) and len(r["old"]) == 3 and None not in r["new"]:
                o = f"{r['old'][0]:,.2f}..{r['old'][1]:,.2f} ({r['old'][2]:,.2f})"
                n = f"{r['new'][0]:,.2f}..{r['new'][1]:,.2f} ({r['new'][2]:,.2f})"
            else:
                o, n = str(r["old"]), str(r["new"])
            mark = "OUTSIDE"
            if r["within"]:
                mark = "ok" if r.get("within_range", True) else "ok (tolerance)"
            w.write(f"{fig:28} {o:>32} {n:>32} {mark}\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    parser.add_argument("--tolerance", type=float, default=0.05)
    parser.add_argument("--reference", type=Path, default=REFERENCE)
    parser.add_argument("--candidate", type=Path, default=None, help="Summaries of a new run.")
    parser.add_argument("--workers", type=int, default=None)
    args = parser.parse_args()
    reference = json.loads(args.reference.read_text())
    if args.candidate is not None:
        candidate = json.loads(args.candidate.read_text())
    else:
        sys.path.insert(0, str(HERE))
        from sim_figures import figures

        candidate = {
            "seeds": {
                str(s): figures(reference["devices"], reference["days"], s, args.workers, True)
                for s in args.seeds
            }
        }
    result = compare(reference, candidate, args.tolerance)
    _print(result)
    outside = [
        (run, fig)
        for run, rows in result["runs"].items()
        for fig, r in rows.items()
        if not r["within"]
    ]
    result["outside"] = outside
    result["only_within_tolerance"] = [
        (run, fig)
        for run, rows in result["runs"].items()
        for fig, r in rows.items()
        if r["within"] and not r.get("within_range", True)
    ]
    json.dump(result, sys.stdout, indent=1)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
