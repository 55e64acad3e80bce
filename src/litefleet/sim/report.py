"""The simulation's outputs: a rich table, `simulate.json`, and three figures.

Figures (matplotlib, Agg backend, so no display is needed):
- `adoption.png`: share of the fleet running each release over time, one panel per release,
  one line per strategy;
- `load.png`: check requests per second, per minute, over the whole run and its first two days;
- `bytes.png`: bytes downloaded per strategy, by network (metered / unmetered) and kind
  (full file / patch).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from rich.table import Table

from litefleet.sim.runner import SimResult

MB = 1e6
_STYLES = ["-", "--", "-.", ":"]
"""Line styles by run, so a run that overlaps another (periodic without jitter) stays visible."""


def _style(k: int) -> str:
    return _STYLES[k % len(_STYLES)]


def table(result: SimResult) -> Table:
    """One row per figure, one column per strategy."""
    runs = result.runs
    cfg = result.config
    t = Table(
        title=f"litefleet simulate: {cfg.devices:,} devices × {cfg.days:g} days, seed {cfg.seed}",
        caption=f"wall time {result.wall_seconds:.1f} s on {result.machine.get('cpu', '?')}"
        f" ({result.machine.get('workers', 1)} workers)",
    )
    t.add_column("figure", style="bold")
    for name in runs:
        t.add_column(name, justify="right")
    for label, fmt in _rows(result):
        t.add_row(label, *(fmt(out.summary) for out in runs.values()))
    return t


def _rows(result: SimResult) -> list[tuple[str, Any]]:
    rows: list[tuple[str, Any]] = [
        ("downloaded, total (MB)", lambda s: f"{s['bytes']['total'] / MB:,.1f}"),
        ("downloaded, metered (MB)", lambda s: f"{s['bytes']['metered'] / MB:,.1f}"),
        (
            "  of it by devices never on Wi-Fi",
            lambda s: f"{s['bytes'].get('metered_unavoidable', 0) / MB:,.1f}",
        ),
        (
            "full files / patches",
            lambda s: f"{s['downloads']['full']:,} / {s['downloads']['patch']:,}",
        ),
        ("downloads on low battery", lambda s: f"{s['downloads']['low_battery']:,}"),
        ("stale device-hours", lambda s: f"{s['staleness']['device_hours']:,.0f}"),
        ("stale share of fleet time", lambda s: f"{s['staleness']['share']:.2%}"),
    ]
    for v in _published(result):
        bad = v in result.config.releases.bad_versions
        if bad:
            rows.append((f"v{v} (bad): peak share", _peak(v)))
        else:
            rows.append((f"v{v}: hours to 50% / 95%", _reach(v)))
            rows.append((f"v{v}: same, of online devices", _reach_online(v)))
    rows += [
        ("bad release device-hours", lambda s: f"{s['bad_release']['device_hours']:,.1f}"),
        ("hours to leave it after abort", _leave),
        (
            "probation / abort rollbacks",
            lambda s: (
                f"{s['bad_release']['probation_rollbacks']:,}"
                f" / {s['bad_release']['abort_rollbacks']:,}"
            ),
        ),
        ("halted at (hour)", _halts),
        ("halt known to 95% after (h)", _halt_reach),
        ("checks reaching server", lambda s: f"{s['load']['checks']:,}"),
        ("deferred downloads", lambda s: f"{s['decisions']['deferred']:,}"),
        ("check rate, mean (req/s)", lambda s: f"{s['load']['mean_rps']:.2f}"),
        ("check rate, peak minute (req/s)", lambda s: f"{s['load']['peak_rps']:.2f}"),
        ("sim wall time (s)", lambda s: f"{s['wall_seconds']:.1f}"),
    ]
    return rows


def _published(result: SimResult) -> list[int]:
    """Releases published within the simulated days (v1 excluded: it runs from the start)."""
    first = next(iter(result.runs.values())).summary["staleness"]["releases"]
    return [v for v in result.versions[1:] if str(v) in first]


def _hours(x: float | None) -> str:
    return "never" if x is None else f"{x:.0f}"


def _reach(v: int):
    def fmt(s: dict) -> str:
        r = s["staleness"]["releases"][str(v)]
        return f"{_hours(r['hours_to_50'])} / {_hours(r['hours_to_95'])}"

    return fmt


def _halt_reach(s: dict) -> str:
    """Hours until 95 % of the fleet had checked since each pause/abort (push shrinks it)."""
    reach = s["bad_release"].get("reach") or []
    return (
        ", ".join(
            f"{r['kind']} v{r['version']}: "
            + ("never" if r["hours_to_95"] is None else f"{r['hours_to_95']:.1f}")
            for r in reach
        )
        or "-"
    )


def _reach_online(v: int):
    def fmt(s: dict) -> str:
        r = s["staleness"]["releases"][str(v)]
        if "online_hours_to_50" not in r:
            return "-"
        return f"{_hours(r['online_hours_to_50'])} / {_hours(r['online_hours_to_95'])}"

    return fmt


def straggler_lines(result: SimResult) -> list[str]:
    """Who came late to each good release and why, then who never got one, per run."""
    lines = [
        "stragglers: devices that reached a release after 95 % of the online devices had it"
        " (or never), by kind and by the reason they waited most often"
    ]
    for name, out in result.runs.items():
        releases = out.summary["staleness"]["releases"]
        for v, r in releases.items():
            st = r.get("stragglers")
            if not st or not st["devices"]:
                continue
            kinds = ", ".join(f"{k} {c:,}" for k, c in _top(st["by_kind"]))
            why = ", ".join(f"{k} {c:,}" for k, c in _top(st["by_reason"]))
            lines.append(f"  {name} v{v}: {st['devices']:,} ({kinds}); waited for: {why}")
    lines.append("never updated: good releases published a week or more before the end")
    for name, out in result.runs.items():
        fleet = out.summary.get("stragglers", {})
        for line in fleet.get("lines", []):
            lines.append(f"  {name}: {line}" if not line.startswith(" ") else f"  {line}")
    return lines


def _top(counts: dict[str, int], k: int = 4) -> list[tuple[str, int]]:
    return sorted(counts.items(), key=lambda kv: -kv[1])[:k]


def _peak(v: int):
    return lambda s: f"{s['staleness']['releases'][str(v)]['peak_share']:.1%}"


def _leave(s: dict) -> str:
    b = s["bad_release"]
    h = b["hours_to_leave_after_abort"]
    return "-" if h is None else f"{h:.1f} ({b['on_it_at_abort']:,} dev.)"


def _halts(s: dict) -> str:
    halts = s["bad_release"]["halts"]
    return ", ".join(f"v{h['version']}@{h['hour']:.1f}" for h in halts) or "none"


def write_json(result: SimResult, out: Path) -> Path:
    path = Path(out) / "simulate.json"
    path.write_text(json.dumps(result.to_json(), indent=2) + "\n")
    return path


def plot(result: SimResult, out: Path) -> list[Path]:
    """Write the three figures into `out`; returns their paths."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out = Path(out)
    paths = [out / "adoption.png", out / "load.png", out / "bytes.png"]
    _adoption(plt, result, paths[0])
    _load(plt, result, paths[1])
    _bytes(plt, result, paths[2])
    return paths


def _adoption(plt, result: SimResult, path: Path) -> None:
    versions = _published(result) or result.versions[:1]
    fig, axes = plt.subplots(1, len(versions), figsize=(4 * len(versions), 3.4), sharey=True)
    axes = [axes] if len(versions) == 1 else list(axes)
    for ax, v in zip(axes, versions, strict=True):
        for k, (name, out) in enumerate(result.runs.items()):
            ax.plot(out.times / 86400.0, out.running[v - 1] * 100, _style(k), label=name, lw=1.3)
        bad = " (bad)" if v in result.config.releases.bad_versions else ""
        ax.set_title(f"v{v}{bad}")
        ax.set_xlabel("day")
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("% of fleet running it")
    axes[-1].legend(fontsize=8)
    fig.suptitle("Adoption of each release")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _load(plt, result: SimResult, path: Path) -> None:
    fig, (top, zoom) = plt.subplots(2, 1, figsize=(11, 6.5))
    for k, (name, out) in enumerate(result.runs.items()):
        rps = out.per_minute / 60.0
        minutes = len(rps)
        hours = rps[: minutes // 60 * 60].reshape(-1, 60).max(axis=1)
        top.plot(range(len(hours)), hours, _style(k), label=name, lw=1.0)
        first = min(minutes, 2 * 24 * 60)
        zoom.plot([m / 60.0 for m in range(first)], rps[:first], label=name, lw=0.8)
    top.set_title("Check requests per second (peak minute of each hour)")
    top.set_xlabel("hour")
    zoom.set_title("First two days, per minute")
    zoom.set_xlabel("hour")
    for ax in (top, zoom):
        ax.set_ylabel("req/s")
        ax.set_yscale("symlog", linthresh=1.0)
        ax.grid(alpha=0.3)
    top.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _bytes(plt, result: SimResult, path: Path) -> None:
    keys = ["metered/full", "metered/patch", "unmetered/full", "unmetered/patch"]
    colors = ["#d62728", "#ff9896", "#1f77b4", "#aec7e8"]
    names = list(result.runs)
    fig, ax = plt.subplots(figsize=(1.8 * len(names) + 3, 4))
    bottom = [0.0] * len(names)
    for key, color in zip(keys, colors, strict=True):
        vals = [result.runs[n].summary["bytes"]["by_kind"].get(key, 0) / MB for n in names]
        ax.bar(names, vals, bottom=bottom, label=key, color=color)
        bottom = [b + v for b, v in zip(bottom, vals, strict=True)]
    ax.set_ylabel("MB downloaded")
    ax.set_title("Bytes downloaded by network and kind")
    ax.legend(fontsize=8)
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
