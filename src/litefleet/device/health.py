"""The gate a downloaded model passes before it may become active (probation after it:
`litefleet.device.probation`).

Before activation, in this order (cheapest refusal first): the file loads in LiteRT; its
signature matches what the app expects; the signed golden set runs without NaN; every output
passes the release's `GateSpec`: a class output by accuracy >= `min_accuracy` (when the
golden set has labels) and top-class agreement with the reference >= `min_agreement`, any
other output by closeness to the release's float reference (`litefleet.tolerance`); the
median single-sample latency fits the device's budget.

Then, when the release's `QualityRecord` measured it against the version this device runs
(`against_previous`): the variant's answers on that version's golden inputs must agree
with that version's reference within `band` of what the publisher measured: top-class
agreement for the class output, per-output closeness (`litefleet.tolerance.close_share`
at the release's own tolerance) for every other output. A release judged only against its
own reference (its golden set made from itself) cannot pass by being consistent with itself.

The gate never runs in the agent's own process: `isolated_health_check` runs it in a child
(`litefleet.sandbox`) under a deadline, a CPU-time and a memory limit, so a model that
segfaults LiteRT, loops or eats memory is a refusal that names the signal or the timeout;
`against_previous` runs its models in the sandbox too (`litefleet.goldeneval`).
Only a model that passed it is ever loaded in-process (the app's `ModelRuntime`).
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from litefleet.errors import UserError
from litefleet.golden import GoldenSet, golden_file_bytes, load_golden_files
from litefleet.goldeneval import class_answers_isolated, output_closeness_isolated
from litefleet.litert import LoadedModel, app_view
from litefleet.release import (
    GOLDEN_INPUTS,
    GOLDEN_REFERENCE,
    GateSpec,
    OutputCheck,
    QualityRecord,
    Release,
    Signature,
    closeness_keys_clash,
)
from litefleet.sandbox import MEMORY_ENV, Limits, run_isolated
from litefleet.tolerance import DEFAULT_ATOL, close_share

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
    closeness: dict[str, float] = field(default_factory=dict)
    """Per non-class output: the share of elements within tolerance of the reference."""
    previous_closeness: dict[str, float] = field(default_factory=dict)
    """Per non-class output: the same share against the previous version's reference on
    its golden inputs (`against_previous`; empty when not measured)."""


def default_checks(gate: GateSpec, names: list[str]) -> list[OutputCheck]:
    """The gate's per-output checks; without any, the class output (a classification
    release of the first format) or closeness of every output at a default tolerance."""
    if gate.outputs:
        return list(gate.outputs)
    if gate.class_output is not None:
        return [OutputCheck(name=names[gate.class_output], kind="class")]
    return [OutputCheck(name=n, kind="close", atol=DEFAULT_ATOL) for n in names]


def health_check(
    model_path: Path,
    golden_path: Path,
    *,
    expected: Signature | None,
    min_accuracy: float | None = None,
    min_agreement: float = 0.0,
    gate: GateSpec | None = None,
    reference_path: Path | None = None,
    latency_budget_ms: float | None = None,
    latency_runs: int = 30,
    max_samples: int = 500,
) -> HealthReport:
    """Run every pre-activation check; the first failure names the reason.

    `golden_path` is `golden-inputs.npz` (with `reference_path` = `golden-reference.npz`)
    or a one-file golden set; `gate` says how each output is judged (default: the class
    output with `min_accuracy` and `min_agreement`)."""
    gate = gate or GateSpec(min_accuracy=min_accuracy, min_agreement=min_agreement)
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
    inputs, labels, reference = load_golden_files(golden_path, reference_path)
    inputs = [a[:max_samples] for a in inputs]
    labels = labels[:max_samples] if labels is not None else None
    reference = [r[: len(inputs[0])] for r in reference]
    try:
        named = model.run(inputs)
    except (UserError, ValueError, RuntimeError) as exc:
        return HealthReport(False, f"golden set does not run: {exc}", signature=sig, checks=checks)
    outputs = list(named.values())
    checks["finite"] = all(
        np.isfinite(o).all() for o in outputs if np.issubdtype(o.dtype, np.floating)
    )
    if not checks["finite"]:
        return HealthReport(False, "NaN or Inf in outputs", signature=sig, checks=checks)
    accuracy, agreement, closeness = 0.0, 1.0, {}
    failure = ""
    for k, check in enumerate(default_checks(gate, model.output_names)):
        if k >= len(outputs):
            failure = failure or f"output {check.name!r}: the model has {len(outputs)} outputs"
            continue
        ref = reference[k] if k < len(reference) else None
        if check.kind == "class":
            pred = outputs[k].reshape(len(outputs[k]), -1).argmax(axis=1)
            if labels is not None and len(labels):
                accuracy = float((pred == labels).mean())
            if ref is not None and len(pred):
                agreement = float((pred == ref.reshape(len(pred), -1).argmax(axis=1)).mean())
            if gate.min_accuracy is not None and labels is not None:
                checks["accuracy"] = accuracy >= gate.min_accuracy
                if not checks["accuracy"]:
                    failure = failure or (
                        f"golden accuracy {accuracy:.4f} < required {gate.min_accuracy:.4f}"
                    )
            checks["agreement"] = agreement >= gate.min_agreement
            if not checks["agreement"]:
                failure = failure or (
                    f"agreement with reference {agreement:.4f} < required {gate.min_agreement:.4f}"
                )
            continue
        if ref is None:
            failure = failure or f"output {check.name!r}: the golden reference lacks out{k}"
            continue
        share = close_share(outputs[k], ref, check)
        closeness[check.name] = share
        checks[f"close:{check.name}"] = share >= check.min_share
        if share < check.min_share:
            failure = failure or (
                f"output {check.name!r}: {share:.4f} of its elements within {check.atol:g} x"
                f" range of the reference < required {check.min_share:.4f}"
            )
    latency = _median_latency_ms(model, inputs, latency_runs)
    base = dict(
        accuracy=accuracy,
        agreement=agreement,
        latency_ms=latency,
        signature=sig,
        closeness=closeness,
    )
    if failure:
        return HealthReport(False, failure, checks=checks, **base)
    checks["latency"] = latency_budget_ms is None or latency <= latency_budget_ms
    if not checks["latency"]:
        return HealthReport(
            False,
            f"median latency {latency:.3f} ms > budget {latency_budget_ms} ms",
            checks=checks,
            **base,
        )
    return HealthReport(True, "", checks=checks, **base)


def within_band(measured: float, expected: float, band: float) -> bool:
    """The rule against the previous version: a figure may fall at most `band` below what
    the publisher measured (`QualityRecord.band`); class agreement and closeness alike."""
    return measured >= expected - band


def against_previous(
    model_file: Path,
    previous_folder: Path,
    work: Path,
    release: Release,
    variant: str,
    previous: int | None,
    report: HealthReport,
) -> HealthReport:
    """`report` with the gate against the version this device runs (`previous`, whose
    files are in `previous_folder`): only when the publisher measured the variant against
    that very version and its golden files are on disk (module doc). Runs in the sandbox."""
    q = release.quality
    if q is None or previous is None or q.previous != previous:
        return report
    expected = q.agreement_with_previous.get(variant)
    clash = closeness_keys_clash(list(release.variants))  # then publish signed none
    closeness = {} if clash else q.closeness_to_previous(variant)
    if expected is None and not closeness:
        return report
    try:
        inputs, labels, outputs = load_golden_files(
            previous_folder / GOLDEN_INPUTS, previous_folder / GOLDEN_REFERENCE
        )
    except (UserError, OSError):
        return report  # an older install without golden files: the labels gate stands
    combined = work / "previous-golden.npz"
    combined.write_bytes(golden_file_bytes(GoldenSet(inputs, labels, outputs)))
    if expected is not None:
        report = _class_against_previous(model_file, combined, outputs, q, expected, report)
        if not report.ok:
            return report
    if closeness:
        report = _closeness_against_previous(model_file, combined, release, q, closeness, report)
    return report


def _class_against_previous(
    model_file: Path,
    combined: Path,
    outputs: list[np.ndarray],
    q: QualityRecord,
    expected: float,
    report: HealthReport,
) -> HealthReport:
    outcome = class_answers_isolated([model_file], [combined])
    if not outcome.ok:
        return replace(report, ok=False, reason=f"previous golden set: {outcome.reason}")
    answers = np.asarray(outcome.value[0][0])
    theirs = outputs[0][: len(answers)].reshape(len(answers), -1).argmax(axis=1)
    agreement = float((answers == theirs).mean()) if len(answers) else 1.0
    if within_band(agreement, expected, q.band):
        return replace(report, checks={**report.checks, "previous": True})
    return replace(
        report,
        ok=False,
        reason=(
            f"agreement with version {q.previous} on its golden inputs {agreement:.4f} <"
            f" {expected:.4f} - {q.band:g} measured by the publisher"
        ),
        checks={**report.checks, "previous": False},
    )


def _closeness_against_previous(
    model_file: Path,
    combined: Path,
    release: Release,
    q: QualityRecord,
    expected: dict[int, float],
    report: HealthReport,
) -> HealthReport:
    """Every non-class output the publisher measured: its closeness to the previous
    version's reference at the release's own tolerance, within `band` of that figure."""
    checks = {
        k: release.gate.outputs[k]
        for k in expected
        if k < len(release.gate.outputs) and release.gate.outputs[k].kind == "close"
    }
    if not checks:
        return report
    outcome = output_closeness_isolated([model_file], combined, checks)
    if not outcome.ok:
        return replace(report, ok=False, reason=f"previous golden set: {outcome.reason}")
    measured = {k: float(v) for k, v in outcome.value[0].items()}
    figures = {checks[int(k)].name: share for k, share in measured.items()}
    failure = ""
    for k, check in checks.items():
        share = measured.get(str(k))
        if share is None:
            failure = failure or (
                f"output {check.name!r}: version {q.previous}'s golden reference lacks out{k}"
            )
        elif not within_band(share, expected[k], q.band):
            failure = failure or (
                f"output {check.name!r}: closeness to version {q.previous} on its golden"
                f" inputs {share:.4f} < {expected[k]:.4f} - {q.band:g} measured by the"
                f" publisher (share of elements within {check.atol:g} x range)"
            )
    result = replace(
        report,
        checks={**report.checks, "previous": not failure},
        previous_closeness=figures,
    )
    return replace(result, ok=False, reason=failure) if failure else result


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
    expected: Signature | None,
    min_accuracy: float | None = None,
    min_agreement: float = 0.0,
    gate: GateSpec | None = None,
    reference_path: Path | None = None,
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
            "expected": expected.model_dump(mode="json") if expected else None,
            "min_accuracy": min_accuracy,
            "min_agreement": min_agreement,
            "gate": gate.model_dump(mode="json") if gate else None,
            "reference_path": str(reference_path) if reference_path else None,
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
        closeness=v.get("closeness", {}),
    )


def health_check_task(
    model_path: str,
    golden_path: str,
    expected: dict | None,
    gate: dict | None = None,
    reference_path: str | None = None,
    **kw: float | None,
) -> dict:
    """The child's side of `isolated_health_check`: the report as JSON."""
    report = health_check(
        Path(model_path),
        Path(golden_path),
        expected=Signature.model_validate(expected) if expected else None,
        gate=GateSpec.model_validate(gate) if gate else None,
        reference_path=Path(reference_path) if reference_path else None,
        **kw,  # type: ignore[arg-type]
    )
    reason = report.reason
    if not report.ok and _wordless(reason):  # LiteRT failed without a word
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
        "closeness": report.closeness,
    }


def _median_latency_ms(model: LoadedModel, inputs: list[np.ndarray], runs: int) -> float:
    if not len(inputs[0]):
        return 0.0
    sample = [a[0] for a in inputs]
    model.run_sample(sample)  # warm-up: first invoke allocates
    times = []
    for _ in range(max(1, runs)):
        t = time.perf_counter()
        model.run_sample(sample)
        times.append(time.perf_counter() - t)
    return float(np.median(times) * 1000)


def _brief(sig: Signature) -> str:
    ins = ",".join(f"{t.dtype}{t.shape}" for t in sig.inputs)
    outs = ",".join(f"{t.dtype}{t.shape}" for t in sig.outputs)
    return f"({ins})->({outs})"


def _wordless(reason: str) -> bool:
    """LiteRT refused with no message of its own (only the exception's type name left)."""
    tail = reason.rstrip()
    return tail.endswith(":") or tail.endswith((": RuntimeError", ": ValueError"))
