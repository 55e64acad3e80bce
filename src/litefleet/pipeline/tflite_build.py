"""A build from a prebuilt `.tflite` file: any model LiteRT runs, any number of inputs and
outputs, and no TensorFlow (the whole path imports LiteRT, numpy and the AI Edge quantizer).

    report = build_tflite(recipe, Path("out/m"), samples=load_samples(path, names))

Steps: load the file in LiteRT (custom ops LiteRT lacks are named; one that runs only
through the XNNPACK delegate is noted); run every sample through it: its outputs are the
float reference; decide the task (`detect_task`, or the `--task` given); make the AI Edge
quantizer's variants of a float file and skip the ones that are byte-identical to another
or have nothing quantized; measure each variant in LiteRT against the reference, output by
output (`output_errors`: the error the gate's tolerances are derived from); write the
build folder (the `.tflite` files, `golden.npz` with keys in*/y/out*, `report.json`).
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import zstandard

from litefleet.errors import UserError
from litefleet.fsutil import staged_dir
from litefleet.golden import GoldenSet, golden_file_bytes
from litefleet.litert import LoadedModel, delegate_only_ops, unique_names
from litefleet.pipeline import quantize
from litefleet.pipeline.samples import Samples
from litefleet.release import (
    BUILD_REPORT,
    GOLDEN_SET,
    BuildReport,
    CandidateReport,
    Precision,
    SkippedCandidate,
    Task,
)

ProgressHook = Callable[[str, int, int], None]

DERIVED: tuple[Precision, ...] = ("dynamic", "int4", "weight-int8", "weight-int4")
"""Variants the AI Edge quantizer makes of a float `.tflite` file."""
CLOSE_SHARE = 0.99
"""Output errors are the 99th percentile of |variant - reference| / range(reference): the
share of elements the gate's default `min_share` requires within tolerance."""
NEAR = 0.01
"""For tasks without labels, a variant's `accuracy` is the share of output elements within
1 % of the reference's range of the reference (1.0 for the original file)."""
MAX_VARIANT_ERROR = 0.05
"""A quantized variant of a model without labels is kept only while every output stays
within 5 % of its range of the float reference (99th percentile): the release's gate
tolerance covers every variant kept, so one far-off variant would loosen it for all."""
MAX_EVAL = 1000
"""Samples measured at most (the golden set is a prefix of them)."""

NO_KERAS = "a .tflite file is evaluated and quantized as it is: {step} needs the Keras model"


def detect_task(
    outputs: list[tuple[int, ...]], reference: list[np.ndarray], labelled: bool
) -> Task:
    """What a model does, from its output shapes (per sample) and values.

    One `(classes,)` output whose rows look like class scores (probabilities summing to 1,
    or any scores when labels are given) is a classifier; an output whose last axis is 4
    beside others is a detector's boxes; an `(H, W, C)` output is a segmentation map; small
    vector outputs are a regression; anything else is `other`.
    """
    if len(outputs) == 1 and len(outputs[0]) == 1 and outputs[0][0] >= 2:
        rows = reference[0]
        softmax_like = bool(
            len(rows)
            and rows.min() >= -1e-6
            and rows.max() <= 1 + 1e-6
            and np.allclose(rows.sum(axis=1), 1.0, atol=1e-3)
        )
        if softmax_like or labelled:
            return "classification"
    if len(outputs) > 1 and any(len(s) >= 2 and s[-1] == 4 for s in outputs):
        return "detection"
    if any(len(s) == 3 and min(s[0], s[1]) >= 4 for s in outputs):
        return "segmentation"
    if all(len(s) <= 1 and int(np.prod(s)) <= 16 for s in outputs):
        return "regression"
    return "other"


def build_tflite(
    model_path: Path,
    samples: Samples,
    out_dir: Path,
    *,
    task: Task | None = None,
    golden_size: int = 300,
    latency_runs: int = 50,
    zstd_level: int = 19,
    recipe: dict | None = None,
    progress: ProgressHook | None = None,
) -> BuildReport:
    """Measure `model_path` and its quantized variants on `samples`; write `out_dir`.

    Raises:
        UserError: LiteRT cannot load the file, the samples do not fit its inputs, labels
            for a model that is not a classifier, a `task` that contradicts the outputs.
    """
    started = time.perf_counter()
    hook = progress or (lambda stage, done, total: None)
    original = Path(model_path).read_bytes()
    model = LoadedModel(original)
    n_eval = min(MAX_EVAL, len(samples.inputs[0]))
    inputs = [a[:n_eval] for a in samples.inputs]
    labels = samples.labels[:n_eval] if samples.labels is not None else None
    hook("run the float reference", 0, 1)
    reference = _outputs(model, inputs)
    hook("run the float reference", 1, 1)
    shapes = [tuple(t.shape[1:]) for t in model.signature.outputs]
    task = _decide_task(task, shapes, reference, labels)

    skipped = [
        SkippedCandidate(name=s, reason=NO_KERAS.format(step=s))
        for s in ("training", "pruned", "qat", "distilled")
    ]
    delegated = delegate_only_ops(original)
    files = _variants(original, delegated, skipped, hook)

    with staged_dir(out_dir) as staging:
        measured = []
        for done, (precision, data) in enumerate(files):
            hook("evaluate in LiteRT", done, len(files))
            name = f"baseline-{precision}"
            cand = _measure(
                name, precision, data, inputs, labels, reference, task, latency_runs, zstd_level
            )
            worst = max(cand.output_errors.items(), key=lambda kv: kv[1], default=("", 0.0))
            if done and task != "classification" and worst[1] > MAX_VARIANT_ERROR:
                reason = (
                    f"output {worst[0]!r} moves {worst[1]:.1%} of its range from the float"
                    f" reference (99th percentile), over the {MAX_VARIANT_ERROR:.0%} a variant"
                    " may differ"
                )
                skipped.append(SkippedCandidate(name=name, reason=reason))
                continue
            (staging / f"{name}.tflite").write_bytes(data)
            measured.append(cand)
        hook("evaluate in LiteRT", len(files), len(files))
        n_golden = min(golden_size, n_eval)
        golden = GoldenSet(
            [a[:n_golden] for a in inputs],
            labels[:n_golden] if labels is not None else None,
            [r[:n_golden] for r in reference],
        )
        (staging / GOLDEN_SET).write_bytes(golden_file_bytes(golden))
        report = BuildReport(
            dataset=samples.name,
            num_classes=int(shapes[0][0]) if task == "classification" else 0,
            input_shape=[int(d) for d in model.signature.inputs[0].shape[1:]],
            keras_accuracy=_accuracy(reference[0], labels) if task == "classification" else 0.0,
            candidates=measured,
            skipped=skipped,
            model_kind="tflite",
            task=task,
            test_samples=n_eval if labels is not None else None,
            reference_stats=_drift(samples),
            environment=_environment(delegated),
            recipe=recipe or {},
            seconds=round(time.perf_counter() - started, 1),
        )
        (staging / BUILD_REPORT).write_text(report.model_dump_json(indent=2))
        from litefleet.pipeline.report import plot

        plot(report, staging / "report.png")
    return report


def _decide_task(
    given: Task | None, shapes: list[tuple[int, ...]], reference: list[np.ndarray], labels
) -> Task:
    labelled = labels is not None
    found = detect_task(shapes, reference, labelled)
    task = given or found
    if task == "classification":
        if len(shapes) != 1 and given is None:
            raise UserError("a classifier has one (classes,) output")
        classes = int(np.prod(shapes[0]))
        if labelled and (labels.min() < 0 or labels.max() >= classes):
            raise UserError(
                f"labels y run {labels.min()}..{labels.max()}; the model's first output has"
                f" {classes} classes"
            )
    elif labelled:
        outs = ", ".join(str(s) for s in shapes)
        raise UserError(
            f"labels (y) are only for a classifier; this model's outputs {outs} make it"
            f" '{task}': drop y from the data, or pass --task classification"
        )
    return task


def _outputs(model: LoadedModel, inputs: list[np.ndarray]) -> list[np.ndarray]:
    """Every output of every sample, in output order (float32, batch first)."""
    try:
        arrays, batched = model.arrange(inputs)
    except UserError as exc:
        raise UserError(f"the data does not fit the model: {exc}") from None
    if not batched:
        raise UserError("the data must hold a batch of samples (the first axis counts them)")
    rows = [model.run_sample(sample) for sample in zip(*arrays, strict=True)]
    return [np.stack([r[k] for r in rows]).astype(np.float32) for k in range(len(rows[0]))]


def _variants(
    original: bytes, delegated: list[str], skipped: list[SkippedCandidate], hook: ProgressHook
) -> list[tuple[Precision, bytes]]:
    precision = precision_of(original)
    files: list[tuple[Precision, bytes]] = [(precision, original)]
    seen = {hashlib.sha256(original).hexdigest(): f"baseline-{precision}"}
    base_types = tensor_types(original)
    for done, derived in enumerate(DERIVED):
        hook("quantize", done, len(DERIVED))
        name = f"baseline-{derived}"
        if precision != "float32":
            reason = f"the file is already quantized ({precision}); the quantizer needs float32"
            skipped.append(SkippedCandidate(name=name, reason=reason))
            continue
        try:
            data = quantize.quantize_tflite(original, derived)
        except quantize.QuantizerCannot as exc:
            reason = str(exc)
            if delegated:
                reason += f" (custom ops {', '.join(delegated)} {DELEGATE_NOTE})"
            skipped.append(SkippedCandidate(name=name, reason=reason))
            continue
        digest = hashlib.sha256(data).hexdigest()
        if digest in seen:
            reason = f"byte-identical to {seen[digest]}: the quantizer changed nothing"
            skipped.append(SkippedCandidate(name=name, reason=reason))
            continue
        if tensor_types(data) == base_types:
            reason = (
                "nothing quantized: the quantizer returned the same tensor types as the float"
                " file (no int8/int4 weights)"
            )
            skipped.append(SkippedCandidate(name=name, reason=reason))
            continue
        seen[digest] = name
        files.append((derived, data))
    hook("quantize", len(DERIVED), len(DERIVED))
    return files


DELEGATE_NOTE = "run only through LiteRT's XNNPACK delegate"


def tensor_types(content: bytes) -> dict[str, int]:
    """How many tensors of each type a flatbuffer holds (read without an interpreter)."""
    from ai_edge_litert import schema_py_generated as schema

    model = schema.Model.GetRootAsModel(bytearray(content), 0)
    names = {v: k for k, v in vars(schema.TensorType).items() if not k.startswith("_")}
    counts: dict[str, int] = {}
    for g in range(model.SubgraphsLength()):
        sub = model.Subgraphs(g)
        for t in range(sub.TensorsLength()):
            kind = names.get(sub.Tensors(t).Type(), "?")
            counts[kind] = counts.get(kind, 0) + 1
    return counts


def precision_of(content: bytes) -> Precision:
    """int8 when the first input is int8; else by the narrowest weight type in the file."""
    model = LoadedModel(content)
    if model.signature.inputs[0].dtype == "int8":
        return "int8"
    kinds = tensor_types(content)
    if "INT8" in kinds or "INT4" in kinds:
        return "dynamic"
    if "FLOAT16" in kinds:
        return "float16"
    return "float32"


def _measure(
    name: str,
    precision: Precision,
    data: bytes,
    inputs: list[np.ndarray],
    labels: np.ndarray | None,
    reference: list[np.ndarray],
    task: Task,
    latency_runs: int,
    zstd_level: int,
) -> CandidateReport:
    model = LoadedModel(data)
    outputs = _outputs(model, inputs)
    names = unique_names([t.name for t in model.signature.outputs], "output")
    errors = {n: output_error(o, r) for n, o, r in zip(names, outputs, reference, strict=True)}
    if task == "classification":
        accuracy = _accuracy(outputs[0], labels) if labels is not None else 0.0
        agreement = float((outputs[0].argmax(axis=1) == reference[0].argmax(axis=1)).mean())
        if labels is None:
            accuracy = agreement
    else:
        agreement = accuracy = float(
            np.mean([near_share(o, r) for o, r in zip(outputs, reference, strict=True)])
        )
    p50, p95 = _latency(model, inputs, latency_runs)
    return CandidateReport(
        name=name,
        file=f"{name}.tflite",
        source="baseline",
        precision=precision,
        signature=model.signature,
        accuracy=accuracy,
        agreement=agreement,
        latency_ms_p50=p50,
        latency_ms_p95=p95,
        throughput_per_s=1000.0 / p50 if p50 > 0 else 0.0,
        raw_bytes=len(data),
        zstd_bytes=len(zstandard.ZstdCompressor(level=zstd_level).compress(data)),
        sparsity=0.0,
        parameters=0,
        sha256=hashlib.sha256(data).hexdigest(),
        output_errors=errors,
    )


def _scale(reference: np.ndarray) -> float:
    span = float(np.ptp(reference)) if reference.size else 0.0
    return span if span > 0 else 1.0


def output_error(output: np.ndarray, reference: np.ndarray) -> float:
    """The 99th percentile of |output - reference| / range(reference) over all elements."""
    if not reference.size:
        return 0.0
    diff = np.abs(output.astype(np.float64) - reference) / _scale(reference)
    return float(np.quantile(diff, CLOSE_SHARE))


def near_share(output: np.ndarray, reference: np.ndarray) -> float:
    if not reference.size:
        return 1.0
    diff = np.abs(output.astype(np.float64) - reference) / _scale(reference)
    return float((diff <= NEAR).mean())


def _accuracy(scores: np.ndarray, labels: np.ndarray | None) -> float:
    if labels is None or not len(labels):
        return 0.0
    return float((scores.reshape(len(scores), -1).argmax(axis=1) == labels).mean())


def _latency(model: LoadedModel, inputs: list[np.ndarray], runs: int) -> tuple[float, float]:
    sample = [a[0] for a in inputs]
    for _ in range(min(10, runs)):  # warm-up: first invokes allocate and page in
        model.run_sample(sample)
    times = np.empty(max(1, runs))
    for i in range(len(times)):
        start = time.perf_counter()
        model.run_sample([a[i % len(a)] for a in inputs])
        times[i] = time.perf_counter() - start
    return float(np.median(times) * 1e3), float(np.percentile(times, 95) * 1e3)


def _drift(samples: Samples):
    from litefleet.drift import reference_stats

    return reference_stats(samples.drift_inputs)


def _environment(delegated: list[str]) -> dict[str, str]:
    from litefleet.pipeline.report import environment

    env = environment()
    if delegated:
        env["delegate_only_ops"] = f"{', '.join(delegated)}: {DELEGATE_NOTE}"
    return env
