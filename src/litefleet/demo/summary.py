"""What the demo shows at the end: a rich summary and `demo-report.html` with its plots."""

from __future__ import annotations

import base64
import html
import io
from collections import Counter
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from litefleet.demo.story import DemoRun


def device_rows(run: DemoRun) -> list[dict[str, Any]]:
    """Per device: versions it ran, bytes it moved (full vs patch), what it decided and why."""
    rows = []
    for d in run.devices:
        results = run.results(d)
        installs = [r for r in results if r["action"] == "installed"]
        actions = Counter(r["action"] for r in results)
        last_reason: dict[str, str] = {}
        for r in results:
            if r["action"] not in ("none", "installed") and r.get("reason"):
                about = f" v{r['version']}" if r.get("version") else ""
                last_reason[r["action"] + about] = r["reason"]
        history, previous = [], None
        for _, actives in run.timeline:
            version = actives.get(d.name)
            if version is not None and version != previous:
                history.append(version)
                previous = version
        rows.append(
            {
                "device": d.device_id,
                "strategy": d.strategy,
                "role": d.role,
                "history": history,
                "active": d.active(),
                "variant": d.status().get("variant"),
                "bytes_full": sum(r["model_bytes"] for r in installs if r["source"] == "full"),
                "bytes_patch": sum(r["model_bytes"] for r in installs if r["source"] == "patch"),
                "bytes_total": sum(r["bytes_downloaded"] for r in installs),
                "installs": [f"v{r['version']} {r['source']}" for r in installs],
                "v2_via": next(
                    (f"{r['source']} {r['variant']}" for r in installs if r["version"] == 2), "-"
                ),
                "actions": dict(actions),
                "reasons": last_reason,
            }
        )
    return rows


def print_summary(
    run: DemoRun, rows: list[dict[str, Any]], app: dict[str, Any], fleet: dict[str, Any]
) -> None:
    console = run.console
    table = Table(title="devices: versions, bytes, decisions")
    columns = ("device", "strategy", "versions", "variant", "v1→v2 via", "full B", "patch B")
    for column in (*columns, "checks"):
        table.add_column(column, justify="right" if column.endswith("B") else "left")
    for row in rows:
        table.add_row(
            row["device"],
            row["strategy"],
            " → ".join(f"v{v}" for v in row["history"]),
            str(row["variant"]),
            row["v2_via"],
            f"{row['bytes_full']:,}",
            f"{row['bytes_patch']:,}",
            ", ".join(f"{k} {v}" for k, v in sorted(row["actions"].items())),
        )
    console.print(table)
    reasons = Table(title="why devices did not install (last reason per decision and release)")
    reasons.add_column("device")
    reasons.add_column("decision")
    reasons.add_column("reason", overflow="fold")
    for row in rows:
        for action, reason in sorted(row["reasons"].items()):
            reasons.add_row(row["device"], action, reason)  # folded, never cut
    console.print(reasons)
    releases = Table(title="fleet status from the update server (GET /v1/fleet)")
    columns = ("version", "running", "tried", "failed", "rolled back", "rollout", "judge")
    for column in (*columns, "why"):
        releases.add_column(column, overflow="fold")
    for r in fleet.get("releases", []):
        releases.add_row(
            f"v{r['version']}",
            str(r["running"]),
            str(r["tried"]),
            str(r["failed"]),
            str(r["rolled_back"]),
            f"{r['rollout_percent']:g}% {r['rollout_status']}",
            _judge(r),
            r.get("rollout_reason", ""),
        )
    console.print(releases)
    steps = Table(title="automatic promotions by the server (GET /v1/promotions)")
    for column in ("release", "stage", "at", "by", "why"):
        steps.add_column(column, overflow="fold")
    for row in promotion_rows(run):
        steps.add_row(*row)
    console.print(steps)
    console.print(
        f"apps: [bold]{app['requests']:,}[/] predict calls, [bold]{app['failures']}[/] failed, "
        f"{app['swaps']} hot swaps; answers by version {app['by_version']}"
    )


def promotion_rows(run: DemoRun) -> list[tuple[str, str, str, str, str]]:
    """(release, stage, seconds into the demo, who, why) per automatic promotion."""
    return [
        (
            f"v{p['version']}",
            f"{p['from_percent']:g} % → {p['to_percent']:g} %",
            f"{p['at'] - run.wall_started:.0f} s",
            str(p["by"]),
            str(p["reason"]),
        )
        for p in run.promotions
    ]


def _judge(release: dict[str, Any]) -> str:
    """The canary judge's verdict with its evidence, or '-' before any summary."""
    if not release.get("judge"):
        return "-"
    return (
        f"{release['judge']}: {release['canary_failed']}/{release['canary_devices']} failed,"
        f" agreement {release['live_agreement']:.3f}"
    )


def write_html(
    run: DemoRun,
    path: Path,
    rows: list[dict[str, Any]],
    app: dict[str, Any],
    fleet: dict[str, Any],
) -> None:
    """One self-contained page: the checks, the tables and the plots (inline PNGs)."""
    checks = "".join(
        f"<tr><td>{'✔' if c.ok else '✘'}</td><td>{html.escape(c.step)}</td>"
        f"<td>{html.escape(c.claim)}</td><td>{html.escape(c.detail)}</td></tr>"
        for c in run.checks
    )
    devices = "".join(
        "<tr>"
        + "".join(
            f"<td>{html.escape(str(v))}</td>"
            for v in (
                row["device"],
                row["strategy"],
                row["role"],
                " → ".join(f"v{v}" for v in row["history"]),
                row["variant"],
                f"{row['bytes_full']:,}",
                f"{row['bytes_patch']:,}",
                ", ".join(row["installs"]),
                "; ".join(f"{k}: {v}" for k, v in sorted(row["reasons"].items())),
            )
        )
        + "</tr>"
        for row in rows
    )
    releases = "".join(
        f"<tr><td>v{r['version']}</td><td>{r['running']}</td><td>{r['tried']}</td>"
        f"<td>{r['failed']}</td><td>{r['rolled_back']}</td>"
        f"<td>{r['rollout_percent']:g}% {html.escape(r['rollout_status'])}</td>"
        f"<td>{html.escape(_judge(r))}</td>"
        f"<td>{html.escape(r.get('rollout_reason', ''))}</td></tr>"
        for r in fleet.get("releases", [])
    )
    promotions = "".join(
        "<tr>" + "".join(f"<td>{html.escape(v)}</td>" for v in row) + "</tr>"
        for row in promotion_rows(run)
    )
    build_png = run.builds.get("v1", Path()) / "report.png"
    images = [
        ("Build: accuracy vs compressed size (v1)", _file_png(build_png)),
        ("Active version per device over the demo", _timeline_png(run)),
        ("Bytes each device downloaded", _bytes_png(rows)),
        ("Each device's app: the version that answered, over time", _app_png(run, app)),
    ]
    figures = "".join(
        f"<h3>{html.escape(title)}</h3><img src='data:image/png;base64,{png}'>"
        for title, png in images
        if png
    )
    passed = sum(c.ok for c in run.checks)
    path.write_text(
        f"""<!doctype html><html><head><meta charset="utf-8"><title>litefleet demo</title>
<style>body{{font-family:sans-serif;margin:2em;max-width:1200px}}
table{{border-collapse:collapse;margin:1em 0}}td,th{{border:1px solid #ccc;padding:4px 8px;
font-size:13px;vertical-align:top}}img{{max-width:100%}}</style></head><body>
<h1>litefleet demo</h1>
<p>{passed} of {len(run.checks)} checks passed in {run.elapsed():.0f} s.
Apps: {app["requests"]:,} predict calls, {app["failures"]} failed, {app["swaps"]} hot swaps.
No release was published with <code>--min-accuracy</code>: the quality floor set at the first
publish, the regression rule, the devices' live canaries and the server's judge did the work,
and the fine-tune reached 100 % through automatic stages.</p>
<h2>Checks</h2><table><tr><th></th><th>step</th><th>claim</th><th>detail</th></tr>{checks}</table>
<h2>Devices</h2><table><tr><th>device</th><th>strategy</th><th>role</th><th>versions</th>
<th>variant</th><th>full bytes</th><th>patch bytes</th><th>installs</th><th>reasons</th></tr>
{devices}</table>
<h2>Fleet status (server)</h2><table><tr><th>release</th><th>running</th><th>tried</th>
<th>failed</th><th>rolled back</th><th>rollout</th><th>canary judge</th><th>reason</th></tr>
{releases}</table>
<h2>Automatic promotions (server)</h2><table><tr><th>release</th><th>stage</th><th>at</th>
<th>by</th><th>why</th></tr>{promotions}</table>
<h2>Plots</h2>{figures}
<h2>Story</h2><ol>{"".join(f"<li>{t:.0f} s: {html.escape(e)}</li>" for t, e in run.events)}</ol>
</body></html>"""
    )


def _png(fig) -> str:
    import matplotlib.pyplot as plt

    buffer = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buffer, format="png", dpi=100)
    plt.close(fig)
    return base64.b64encode(buffer.getvalue()).decode()


def _figure(width: float = 9, height: float = 3.5):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt.subplots(figsize=(width, height))


def _file_png(path: Path) -> str:
    return base64.b64encode(path.read_bytes()).decode() if path.is_file() else ""


def _timeline_png(run: DemoRun) -> str:
    if not run.timeline:
        return ""
    fig, ax = _figure()
    times = [t for t, _ in run.timeline]
    for i, d in enumerate(run.devices):
        versions = [
            (a.get(d.name) or 0) + (i - len(run.devices) / 2) * 0.04 for _, a in run.timeline
        ]
        ax.step(times, versions, where="post", label=d.name)
    # events as numbered markers along the top (the story below the plots lists them by
    # number): the texts themselves overlapped, being seconds apart on a minutes-long axis
    top = max((v or 0) for _, a in run.timeline for v in a.values()) + 0.6
    last_x, level = -1e9, 0
    span = max(times[-1] - times[0], 1.0) if times else 1.0
    for number, (t, _what) in enumerate(run.events, start=1):
        ax.axvline(t, color="grey", alpha=0.3, linewidth=0.8)
        level = level + 1 if t - last_x < span / 40 else 0  # stagger markers close in time
        last_x = t
        ax.text(
            t,
            top + 0.35 * (level % 3),
            str(number),
            ha="center",
            va="bottom",
            fontsize=8,
            bbox={"boxstyle": "circle,pad=0.2", "fc": "white", "ec": "grey", "lw": 0.6},
        )
    ax.set_ylim(-0.3, top + 1.3)
    ax.set_yticks(range(int(top) + 1))  # versions are whole numbers (0: no model yet)
    ax.set_xlabel("seconds into the demo (numbers: the story's events, listed below)")
    ax.set_ylabel("active version")
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))  # no marker hidden
    return _png(fig)


def _bytes_png(rows: list[dict[str, Any]]) -> str:
    fig, ax = _figure(7, 3)
    names = [r["device"] for r in rows]
    full = [r["bytes_full"] / 1024 for r in rows]
    patch = [r["bytes_patch"] / 1024 for r in rows]
    ax.bar(names, full, label="full files")
    ax.bar(names, patch, bottom=full, label="delta patches")
    ax.set_ylabel("KB downloaded")
    ax.legend()
    return _png(fig)


def _app_png(run: DemoRun, app: dict[str, Any]) -> str:
    devices = {k: v.get("timeline") or [] for k, v in (app.get("devices") or {}).items()}
    if not any(devices.values()):
        return ""
    fig, ax = _figure()
    for i, (name, timeline) in enumerate(sorted(devices.items())):
        offset = (i - len(devices) / 2) * 0.04  # apart, like the active-version plot
        times = [t - run.wall_started for t, _, _ in timeline]  # the demo's own clock
        ax.step(times, [v + offset for _, v, _ in timeline], where="post", label=name)
    ax.set_xlabel("seconds into the demo")
    ax.set_ylabel("version that answered")
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    return _png(fig)


def print_checks(console: Console, run: DemoRun) -> bool:
    failed = [c for c in run.checks if not c.ok]
    passed = len(run.checks) - len(failed)
    if failed:
        console.print(f"[bold red]{len(failed)} of {len(run.checks)} checks failed:[/]")
        for c in failed:
            console.print(f"  ✘ [{c.step}] {c.claim} {c.detail}")
    else:
        console.print(f"[bold green]all {passed} checks passed[/] in {run.elapsed():.0f} s")
    return not failed
