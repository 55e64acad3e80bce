"""What a build shows a person: the rich table, the Pareto plot, the environment."""

from __future__ import annotations

import os
import platform
from importlib import metadata
from pathlib import Path

from rich.table import Table

from litefleet.release import BuildReport, CandidateReport


def pareto_front(candidates: list[CandidateReport]) -> list[CandidateReport]:
    """Candidates no other beats on both compressed size and accuracy."""
    return [
        c
        for c in candidates
        if not any(
            o.zstd_bytes <= c.zstd_bytes
            and o.accuracy >= c.accuracy
            and (o.zstd_bytes < c.zstd_bytes or o.accuracy > c.accuracy)
            for o in candidates
        )
    ]


def table(report: BuildReport) -> Table:
    float32 = next(
        (c for c in report.candidates if c.name == "baseline-float32"), report.candidates[0]
    )
    front = {c.name for c in pareto_front(report.candidates)}
    t = Table(
        title=f"litefleet build — {report.dataset}, {_reference_name(report)} accuracy "
        f"{report.keras_accuracy:.2%}",
        caption="size ratio = baseline-float32 raw bytes / this file's zstd bytes; "
        "★ = on the Pareto front (accuracy vs compressed size)",
    )
    for header, justify in [
        ("candidate", "left"),
        ("accuracy", "right"),
        ("Δ acc (pp)", "right"),
        ("agree", "right"),
        ("p50 ms", "right"),
        ("p95 ms", "right"),
        ("samples/s", "right"),
        ("raw KB", "right"),
        ("zstd KB", "right"),
        ("ratio", "right"),
        ("sparsity", "right"),
    ]:
        t.add_column(header, justify=justify)
    for c in report.candidates:
        t.add_row(
            ("★ " if c.name in front else "  ") + c.name,
            f"{c.accuracy:.2%}",
            f"{(c.accuracy - float32.accuracy) * 100:+.2f}",
            f"{c.agreement:.1%}",
            f"{c.latency_ms_p50:.3f}",
            f"{c.latency_ms_p95:.3f}",
            f"{c.throughput_per_s:,.0f}",
            f"{c.raw_bytes / 1024:.1f}",
            f"{c.zstd_bytes / 1024:.1f}",
            f"{float32.raw_bytes / c.zstd_bytes:.1f}×",
            f"{c.sparsity:.0%}",
        )
    return t


def _reference_name(report: BuildReport) -> str:
    """What the reference outputs came from: the Keras model, or the file as given."""
    return {"tflite": "your .tflite", "saved_model": "your SavedModel"}.get(
        report.model_kind, "Keras baseline"
    )


def plot(report: BuildReport, path: Path) -> None:
    """Accuracy against compressed size, one point per file, the Pareto front joined."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import matplotlib.ticker

    fig, ax = plt.subplots(figsize=(8, 5), dpi=110)
    for i, c in enumerate(report.candidates):
        ax.scatter(c.zstd_bytes / 1024, c.accuracy * 100, s=40)
        ax.annotate(
            c.name,
            (c.zstd_bytes / 1024, c.accuracy * 100),
            fontsize=7,
            xytext=(4, 3 + 8 * (i % 3)),  # staggered: equal-accuracy labels overlap
            textcoords="offset points",
        )
    front = sorted(pareto_front(report.candidates), key=lambda c: c.zstd_bytes)
    ax.plot(
        [c.zstd_bytes / 1024 for c in front],
        [c.accuracy * 100 for c in front],
        "r--",
        label="Pareto front",
    )
    ax.set_xscale("log")
    plain = matplotlib.ticker.FuncFormatter(lambda value, _: f"{value:g}")
    ax.xaxis.set_major_formatter(plain)
    ax.xaxis.set_minor_formatter(plain)
    ax.tick_params(axis="x", which="minor", labelsize=7)
    ax.set_xlabel("download size, zstd-compressed (KB, log scale)")
    ax.set_ylabel("test accuracy in LiteRT (%)")
    ax.set_title(f"litefleet build on {report.dataset}: accuracy vs size")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def environment() -> dict[str, str]:
    """Versions and CPU, so a figure can be traced to the machine that produced it."""
    env = {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpu": _cpu_model(),
        "cpu_count": str(os.cpu_count()),
    }
    for dist in (
        "tensorflow",
        "tf-keras",
        "tensorflow-model-optimization",
        "ai-edge-litert",
        "ai-edge-quantizer",
        "keras",
        "numpy",
        "litefleet",
    ):
        try:
            env[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            env[dist] = "not installed"
    return env


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()
