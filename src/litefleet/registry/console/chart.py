"""The adoption plot as a small server-side SVG (no JavaScript chart library, no CDN)."""

from __future__ import annotations

import time
from html import escape

COLORS = ("#2563eb", "#16a34a", "#dc2626", "#9333ea", "#ea580c", "#0891b2", "#4d7c0f", "#be185d")


def adoption_svg(
    series: dict[int, list[tuple[float, int]]], width: int = 640, height: int = 200
) -> str:
    """Devices running each version over time: one polyline per version, with a legend."""
    points = [p for s in series.values() for p in s]
    if not points:
        return (
            f'<svg class="chart" viewBox="0 0 {width} {height}" role="img" '
            f'aria-label="no adoption samples yet"><text x="12" y="{height // 2}">'
            "no samples yet: the server records one every few minutes</text></svg>"
        )
    left, right, top, bottom = 44, 110, 10, 24
    t0, t1 = min(p[0] for p in points), max(p[0] for p in points)
    top_n = max(p[1] for p in points) or 1
    span = (t1 - t0) or 1.0

    def xy(t: float, n: int) -> tuple[float, float]:
        x = left + (t - t0) / span * (width - left - right)
        y = top + (1 - n / top_n) * (height - top - bottom)
        return round(x, 1), round(y, 1)

    parts = [
        f'<svg class="chart" viewBox="0 0 {width} {height}" role="img" '
        f'aria-label="devices running each release over time">',
        f'<line x1="{left}" y1="{height - bottom}" x2="{width - right}" '
        f'y2="{height - bottom}" class="axis"/>',
        f'<line x1="{left}" y1="{top}" x2="{left}" y2="{height - bottom}" class="axis"/>',
        f'<text x="{left - 4}" y="{top + 8}" text-anchor="end">{top_n}</text>',
        f'<text x="{left - 4}" y="{height - bottom}" text-anchor="end">0</text>',
        f'<text x="{left}" y="{height - 6}">{escape(_when(t0))}</text>',
        f'<text x="{width - right}" y="{height - 6}" text-anchor="end">{escape(_when(t1))}</text>',
    ]
    for i, (version, samples) in enumerate(sorted(series.items())):
        color = COLORS[i % len(COLORS)]
        coords = " ".join(f"{x},{y}" for x, y in (xy(t, n) for t, n in samples))
        if len(samples) == 1:
            x, y = xy(*samples[0])
            parts.append(f'<circle cx="{x}" cy="{y}" r="3" fill="{color}"/>')
        else:
            parts.append(
                f'<polyline points="{coords}" fill="none" stroke="{color}" stroke-width="2"/>'
            )
        last = samples[-1][1]
        ly = top + 14 * i + 8
        parts.append(
            f'<rect x="{width - right + 8}" y="{ly - 8}" width="10" height="10" fill="{color}"/>'
            f'<text x="{width - right + 22}" y="{ly + 1}">v{version}: {last}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)


def _when(t: float) -> str:
    return time.strftime("%m-%d %H:%M", time.gmtime(t))
