"""The gate a downloaded model passes before it may become active (probation after it:
`litefleet.device.probation`).

Before activation, in this order (cheapest refusal first): the file loads in LiteRT; its
signature matches what the app expects; the signed golden set runs without NaN, with
accuracy >= the release's own `min_accuracy` and agreement with the reference outputs >=
`min_agreement`; the median single-sample latency fits the device's budget.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from litefleet.errors import UserError
from litefleet.litert import LoadedModel, app_view
from litefleet.release import Signature


@dataclass(frozen=True)
class HealthReport:
    ok: bool
    reason: str = ""
    accuracy: float = 0.0
    agreement: float = 0.0
    latency_ms: float = 0.0
    signature: Signature | None = None
    checks: dict[str, bool] = field(default_factory=dict)


def load_golden(path: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    try:
        with np.load(path, allow_pickle=False) as z:
            x, y = z["x"], z["y"]
            ref = z["reference"] if "reference" in z.files else None
    except (OSError, KeyError, ValueError) as exc:
        raise UserError(f"golden set {path} is unreadable: {exc}") from None
    return x, y, ref


def health_check(
    model_path: Path,
    golden_path: Path,
    *,
    expected: Signature | None,
    min_accuracy: float,
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
    x, y, ref = load_golden(golden_path)
    x, y = x[:max_samples], y[:max_samples]
    try:
        out = model.predict(x.astype(np.float32))
    except (UserError, ValueError, RuntimeError) as exc:
        return HealthReport(False, f"golden set does not run: {exc}", signature=sig, checks=checks)
    checks["finite"] = bool(np.isfinite(out).all())
    if not checks["finite"]:
        return HealthReport(False, "NaN or Inf in outputs", signature=sig, checks=checks)
    pred = out.reshape(len(out), -1).argmax(axis=1)
    accuracy = float((pred == y.reshape(-1)).mean()) if len(y) else 0.0
    agreement = (
        float((pred == ref[: len(pred)].reshape(len(pred), -1).argmax(axis=1)).mean())
        if ref is not None and len(pred)
        else 1.0
    )
    latency = _median_latency_ms(model, x, latency_runs)
    base = dict(accuracy=accuracy, agreement=agreement, latency_ms=latency, signature=sig)
    checks["accuracy"] = accuracy >= min_accuracy
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
