"""The gate a downloaded model passes before it may become active (probation after it:
`litefleet.device.probation`).

Before activation, in this order (cheapest refusal first): the file loads in LiteRT; its
signature matches what the app expects; the signed golden set (`golden-inputs.npz`,
`golden-reference.npz`: `litefleet.golden`) runs without NaN, with accuracy >= the
release's own `min_accuracy` (when it has labels) and agreement with the reference outputs
>= `min_agreement`; the median single-sample latency fits the device's budget.

The gate never runs in the agent's own process: `isolated_health_check` runs it in a child
(`litefleet.sandbox`) under a deadline, a CPU-time and a memory limit, so a model that
segfaults LiteRT, loops or eats memory is a refusal that names the signal or the timeout.
Only a model that passed it is ever loaded in-process (the app's `ModelRuntime`).
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from litefleet.errors import UserError
from litefleet.golden import load_golden_files
from litefleet.litert import LoadedModel, app_view
from litefleet.release import Signature
from litefleet.sandbox import MEMORY_ENV, Limits, run_isolated

GATE_STARTUP_S = 10.0
"""Wall-clock allowance of a gate run beyond its invocations: interpreter start, imports,
model load, golden set read (measured ~0.3 s on a laptop-class CPU; a slow device gets 30x)."""
GATE_SLACK = 50.0
"""An invocation may take this many times the signed (build machine) median latency."""
GATE_MIN_INVOKE_S = 0.005


@dataclass(frozen=True)
class HealthReport:
    ok: bool
    reason: str = ""
    accuracy: float = 0.0
    agreement: float = 0.0
    latency_ms: float = 0.0
    signature: Signature | None = None
    checks: dict[str, bool] = field(default_factory=dict)


def load_golden(
    path: Path, reference_path: Path | None = None
) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None]:
    """First input, labels (None without), first reference output (None without)."""
    inputs, labels, reference = load_golden_files(path, reference_path)
    return inputs[0], labels, reference[0] if reference else None


def health_check(
    model_path: Path,
    golden_path: Path,
    *,
    reference_path: Path | None = None,
    expected: Signature | None,
    min_accuracy: float | None,
    min_agreement: float = 0.0,
    latency_budget_ms: float | None = None,
    latency_runs: int = 30,
    max_samples: int = 500,
) -> HealthReport:
    """Run every pre-activation check; the first failure names the reason."""
    checks: dict[str, bool] = {}
    try:
        model = LoadedModel.from_file(model_path)
    except (UserError, OSError) as exc:
        return HealthReport(False, f"does not load: {exc}", checks={"loads": False})
    checks["loads"] = True
    sig = model.signature
    if expected is not None and not app_view(sig).compatible_with(app_view(expected)):
        checks["signature"] = False
        return HealthReport(
            False,
            f"signature {_brief(sig)} does not match expected {_brief(expected)}",
            signature=sig,
            checks=checks,
        )
    checks["signature"] = True
    x, y, ref = load_golden(golden_path, reference_path)
    x = x[:max_samples]
    y = y[:max_samples] if y is not None else None
    try:
        out = model.predict(x.astype(np.float32))
    except (UserError, ValueError, RuntimeError) as exc:
        return HealthReport(False, f"golden set does not run: {exc}", signature=sig, checks=checks)
    checks["finite"] = bool(np.isfinite(out).all())
    if not checks["finite"]:
        return HealthReport(False, "NaN or Inf in outputs", signature=sig, checks=checks)
    pred = out.reshape(len(out), -1).argmax(axis=1)
    accuracy = float((pred == y.reshape(-1)).mean()) if y is not None and len(y) else 0.0
    agreement = (
        float((pred == ref[: len(pred)].reshape(len(pred), -1).argmax(axis=1)).mean())
        if ref is not None and len(pred)
        else 1.0
    )
    latency = _median_latency_ms(model, x, latency_runs)
    base = dict(accuracy=accuracy, agreement=agreement, latency_ms=latency, signature=sig)
    checks["accuracy"] = min_accuracy is None or accuracy >= min_accuracy
    if not checks["accuracy"]:
        return HealthReport(
            False,
            f"golden accuracy {accuracy:.4f} < required {min_accuracy:.4f}",
            checks=checks,
            **base,
        )
    checks["agreement"] = agreement >= min_agreement
    if not checks["agreement"]:
        return HealthReport(
            False,
            f"agreement with reference {agreement:.4f} < required {min_agreement:.4f}",
            checks=checks,
            **base,
        )
    checks["latency"] = latency_budget_ms is None or latency <= latency_budget_ms
    if not checks["latency"]:
        return HealthReport(
            False,
            f"median latency {latency:.3f} ms > budget {latency_budget_ms} ms",
            checks=checks,
            **base,
        )
    return HealthReport(True, "", checks=checks, **base)


def gate_limits(
    *,
    signed_latency_ms: float,
    latency_budget_ms: float | None,
    samples: int,
    latency_runs: int = 30,
    timeout_s: float | None = None,
    memory_mb: int = 1024,
) -> Limits:
    """The budget of one isolated gate run: from the release's signed latency (and the
    device's own budget), unless the device configures a fixed `timeout_s`."""
    if timeout_s is None:
        per_ms = max(signed_latency_ms, latency_budget_ms or 0.0) * GATE_SLACK
        per_invoke = max(GATE_MIN_INVOKE_S, per_ms / 1000.0)
        timeout_s = GATE_STARTUP_S + per_invoke * (samples + latency_runs + 1)
    return Limits(wall_s=timeout_s, cpu_s=timeout_s, memory_mb=memory_mb)


def isolated_health_check(
    model_path: Path,
    golden_path: Path,
    *,
    reference_path: Path | None = None,
    expected: Signature | None,
    min_accuracy: float | None,
    min_agreement: float = 0.0,
    latency_budget_ms: float | None = None,
    limits: Limits | None = None,
) -> HealthReport:
    """`health_check` in a child process under `limits`: a crash, a signal, a timeout or a
    limit hit is a failed report (`checks["isolated"] is False`) naming what happened."""
    outcome = run_isolated(
        "litefleet.device.health:health_check_task",
        {
            "model_path": str(model_path),
            "golden_path": str(golden_path),
            "reference_path": str(reference_path) if reference_path else None,
            "expected": expected.model_dump(mode="json") if expected else None,
            "min_accuracy": min_accuracy,
            "min_agreement": min_agreement,
            "latency_budget_ms": latency_budget_ms,
        },
        limits,
    )
    if not outcome.ok:
        return HealthReport(
            False, f"isolated gate: {outcome.reason}", checks={"loads": False, "isolated": False}
        )
    v = outcome.value
    return HealthReport(
        ok=v["ok"],
        reason=v["reason"],
        accuracy=v["accuracy"],
        agreement=v["agreement"],
        latency_ms=v["latency_ms"],
        signature=Signature.model_validate(v["signature"]) if v["signature"] else None,
        checks=v["checks"],
    )


def health_check_task(
    model_path: str,
    golden_path: str,
    expected: dict | None,
    reference_path: str | None = None,
    **kw: float | None,
) -> dict:
    """The child's side of `isolated_health_check`: the report as JSON."""
    report = health_check(
        Path(model_path),
        Path(golden_path),
        reference_path=Path(reference_path) if reference_path else None,
        expected=Signature.model_validate(expected) if expected else None,
        **kw,  # type: ignore[arg-type]
    )
    reason = report.reason
    if not report.ok and reason.rstrip().endswith(":"):  # LiteRT failed without a word
        limit = os.environ.get(MEMORY_ENV, "?")
        reason += f" no reason given (memory limit of {limit} MB likely hit)"
    return {
        "ok": report.ok,
        "reason": reason,
        "accuracy": report.accuracy,
        "agreement": report.agreement,
        "latency_ms": report.latency_ms,
        "signature": report.signature.model_dump(mode="json") if report.signature else None,
        "checks": report.checks,
    }


def _median_latency_ms(model: LoadedModel, x: np.ndarray, runs: int) -> float:
    if not len(x):
        return 0.0
    sample = x[0].astype(np.float32)
    model.predict(sample)  # warm-up: first invoke allocates
    times = []
    for _ in range(max(1, runs)):
        t = time.perf_counter()
        model.predict(sample)
        times.append(time.perf_counter() - t)
    return float(np.median(times) * 1000)


def _brief(sig: Signature) -> str:
    ins = ",".join(f"{t.dtype}{t.shape}" for t in sig.inputs)
    outs = ",".join(f"{t.dtype}{t.shape}" for t in sig.outputs)
    return f"({ins})->({outs})"
