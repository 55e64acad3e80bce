"""A build: data → model → compress → convert → evaluate → a build folder.

Usage::

    from litefleet.pipeline.build import build
    from litefleet.pipeline.recipe import Recipe
    report = build(Recipe(), Path("out/build"))

The model may be the default MLP, a tf_keras or Keras 3 model, a SavedModel or an existing
`.tflite` file (`litefleet.pipeline.detect`); every step that applies to it runs, and every
candidate that does not apply is listed in `report.json` under `skipped` with the reason.

The folder is written to a temporary sibling and renamed into place at the end, so a
failed build leaves nothing half-written where the user looks. It holds one `.tflite` per
candidate, `golden.npz` (for the device's health gate), `report.json` (`BuildReport`),
`report.png`, the effective `recipe.toml`, `baseline.keras` (the trained float model, the
starting point of a fine-tune: `litefleet build --model out/build/baseline.keras
--fine-tune-last-layer`) and the compressed Keras candidates (`pruned.keras`,
`distilled.keras`, `distilled-pruned.keras`, `qat.weights.h5`). A fine-tune of the last
layer starts every candidate from its predecessor in that folder, so each file changes
only in its last layer and a delta patch stays small.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from litefleet.drift import reference_stats
from litefleet.fsutil import staged_dir
from litefleet.pipeline import (
    compress,
    convert,
    evaluate,
    models,
    quantize,
    report,
    students,
    train,
)
from litefleet.pipeline import keras3 as k3
from litefleet.pipeline.data import Dataset, dataset_of, preprocessing_of
from litefleet.pipeline.detect import detect_model
from litefleet.pipeline.recipe import Recipe, recipe_to_toml
from litefleet.pipeline.savedmodel import SavedModelClassifier
from litefleet.pipeline.tf import keras
from litefleet.release import (
    BUILD_REPORT,
    GOLDEN_SET,
    BuildReport,
    CandidateReport,
    Precision,
    SkippedCandidate,
)

QAT_WEIGHTS = "qat.weights.h5"

ProgressHook = Callable[[str, int, int], None]
"""Called as (stage, done, total) while a stage advances; drives the terminal progress bars."""

CONVERSIONS: dict[str, tuple[Precision, ...]] = {
    "baseline": ("float32", "float16", "dynamic", "int8", "int4", "weight-int4"),
    "pruned": ("float32", "int8", "int4"),
    "qat": ("int8",),
    "distilled": ("float32", "int8", "int4"),
    "distilled-pruned": ("float32", "int8", "int4"),
}
"""Which precisions each candidate is converted to. Pruned and distilled models are also
quantized (the combinations); a QAT model is meant only for int8. `dynamic`, `int4` and
`weight-*` come from the AI Edge quantizer applied to the same candidate's float32 file
(the converter's dynamic-range mode leaves tensors under 1024 values in float32 — the last
layer of a small model — so a fine-tune of that layer changed 10 % of the file)."""

DRIFT_BINS = 10

NO_KERAS = {
    "saved_model": "a SavedModel without Keras metadata is a frozen graph: {step} needs the "
    "Keras model (save it with model.save('model.keras'))",
    "tflite": "a .tflite file is evaluated and quantized as it is: {step} needs the Keras model",
}


@dataclass
class _File:
    """One converted candidate before it is measured."""

    source: str
    precision: Precision
    data: bytes
    sparsity: float
    parameters: int


def build(
    recipe: Recipe,
    out_dir: Path,
    progress: ProgressHook | None = None,
    *,
    data: Dataset | None = None,
) -> BuildReport:
    """Train, compress, convert and evaluate every candidate that applies; write the folder.

    Args:
        recipe: every option (`Recipe()` is the default digits build); `recipe.model.path`
            may be a Keras 3 or tf_keras model, a SavedModel or a `.tflite` file.
        out_dir: the build folder to write (atomically: staged, then renamed).
        progress: called as `progress(stage, done, total)` while it runs.
        data: the dataset, when the caller loaded it already (the CLI does, before
            importing TensorFlow); None = read what the recipe names.

    Returns:
        The `BuildReport` also written to `out_dir/report.json`; candidates that do not
        apply to the model are in `report.skipped` with the reason.

    Raises:
        UserError: unreadable data or model, an option out of range.

    Example:
        >>> from litefleet import build, Recipe
        >>> report = build(Recipe(), Path("out/v1"))
        >>> [c.name for c in report.candidates][:2]
        ['baseline-float32', 'baseline-float16']
    """
    started = time.perf_counter()
    hook = progress or (lambda stage, done, total: None)
    data = data if data is not None else dataset_of(recipe)
    detected = detect_model(recipe.model.path) if recipe.model.path else None
    kind = detected.kind if detected else "default"
    if kind == "tflite":  # measured and quantized as it is (`tflite_build`, no TensorFlow)
        from litefleet.pipeline.samples import from_dataset
        from litefleet.pipeline.tflite_build import build_tflite

        return build_tflite(
            recipe.model.path,
            from_dataset(data),
            out_dir,
            golden_size=recipe.data.golden_size,
            latency_runs=recipe.evaluate.latency_runs,
            zstd_level=recipe.evaluate.zstd_level,
            recipe=recipe.model_dump(mode="json"),
            progress=hook,
        )
    train.seed_everything(recipe.seed)

    skipped: list[SkippedCandidate] = []
    keras_to_save: dict[str, object] = {}
    candidates, reference = _models(recipe, kind, data, hook, skipped, keras_to_save)
    files = _convert(recipe, data, candidates, skipped, hook)

    with staged_dir(out_dir) as staging:
        measured = _measure(recipe, data, files, reference, staging, hook)
        build_report = BuildReport(
            dataset=data.name,
            num_classes=data.num_classes,
            input_shape=list(data.input_shape),
            keras_accuracy=float((reference.argmax(axis=1) == data.y_test).mean()),
            candidates=measured,
            skipped=skipped,
            model_kind=kind,
            reference_stats=reference_stats(data.x_train, bins=DRIFT_BINS),
            class_names=list(data.classes or ()),
            preprocessing=preprocessing_of(data),
            test_samples=len(data.x_test),
            environment=report.environment(),
            recipe=recipe.model_dump(mode="json"),
            seconds=round(time.perf_counter() - started, 1),
        )
        _write_golden(staging / GOLDEN_SET, data, reference, recipe.data.golden_size)
        (staging / BUILD_REPORT).write_text(build_report.model_dump_json(indent=2))
        (staging / "recipe.toml").write_text(
            recipe_to_toml(recipe, _not_applied(recipe, kind, data, skipped, keras_to_save))
        )
        _save_models(keras_to_save, staging)
        report.plot(build_report, staging / "report.png")
    return build_report


def _not_applied(
    recipe: Recipe,
    kind: str,
    data: Dataset,
    skipped: list[SkippedCandidate],
    made: dict[str, object],
) -> set[str]:
    """Recipe keys and sections that did not shape this build (left out of recipe.toml)."""
    omit: set[str] = set()
    if kind != "default":
        omit.add("model.hidden")  # the default MLP's widths: the user brought a model
    if data.image_size is None:
        omit |= {"data.image_size", "data.color"}
    if recipe.data.path is None or Path(recipe.data.path).is_dir():
        omit.add("data.label_column")
    if recipe.model.as_is or kind in ("tflite", "saved_model"):
        omit |= {"train.epochs", "train.patience", "train.trainable"}
    if kind == "tflite":
        omit |= {"train", "prune", "qat", "distill"}
    reasons = {s.name: s.reason for s in skipped}
    for section, step in (("prune", "pruned"), ("qat", "qat")):
        if step in reasons:
            omit.add(section)
    for section in ("prune", "qat", "distill"):
        options = getattr(recipe, section)
        if not options.enabled:  # the user's choice stays visible, its settings do not
            omit |= {f"{section}.{key}" for key in type(options).model_fields if key != "enabled"}
    why_no_student = reasons.get("distilled", "")
    if why_no_student and not why_no_student.startswith("rejected"):
        omit.add("distill")  # no student was trained
    student = made.get("distilled")
    conv = student is not None and students.describe(student).startswith("conv")
    if conv or why_no_student.startswith("rejected: the conv"):
        omit.add("distill.student_hidden")  # the widths of an MLP student
    return omit


def _epochs(hook: ProgressHook, stage: str) -> train.EpochHook:
    return lambda epoch, planned, logs: hook(stage, epoch, planned)


def _previous_build(recipe: Recipe) -> Path | None:
    """The build folder a last-layer fine-tune starts from, when the model lies in one."""
    if recipe.train.trainable != "last" or recipe.model.path is None:
        return None
    folder = Path(recipe.model.path).parent
    return folder if (folder / BUILD_REPORT).is_file() else None


def _models(
    recipe: Recipe,
    kind: str,
    data: Dataset,
    hook: ProgressHook,
    skipped: list[SkippedCandidate],
    keras_to_save: dict[str, object],
) -> tuple[dict[str, object], np.ndarray]:
    """The candidates to convert (name -> model) and the reference outputs on x_test."""
    if kind == "saved_model":
        baseline: object = SavedModelClassifier(recipe.model.path)
        baseline.check_fits(data.input_shape, data.num_classes)
        for step in ("pruned", "qat") if recipe.model.as_is else ("training", "pruned", "qat"):
            skipped.append(SkippedCandidate(name=step, reason=NO_KERAS[kind].format(step=step)))
        reference = baseline.predict(data.x_test)
        out = {"baseline": baseline}
        teacher = baseline.predict(data.x_train)
        _distilled(recipe, data, teacher, hook, out, None, keras_to_save, None, reference, skipped)
        return out, reference

    tfmot_ready = True
    if kind == "default":
        baseline = models.mlp(data.input_shape, data.num_classes, recipe.model.hidden, "baseline")
    elif kind == "keras3":
        baseline, tfmot_ready, why = _keras3_baseline(recipe, data)
        if not tfmot_ready:
            for step in ("pruned", "qat"):
                skipped.append(SkippedCandidate(name=step, reason=why))
    else:
        baseline = models.load_model(recipe.model.path)
        models.check_fits(baseline, data.input_shape, data.num_classes)
    if recipe.model.as_is:
        hook("baseline as it is", 1, 1)  # the user's weights, untouched
    elif tfmot_ready:
        train.train_baseline(baseline, data, recipe.train, _epochs(hook, "train baseline"))
    else:
        hook("train baseline", 0, 1)
        k3.fit_keras3(
            baseline, data, recipe.train, epochs=recipe.train.epochs, patience=recipe.train.patience
        )
        hook("train baseline", 1, 1)
    keras_to_save["baseline"] = baseline
    reference = np.asarray(baseline.predict(data.x_test, verbose=0, batch_size=256))
    out: dict[str, object] = {"baseline": baseline}
    previous = _previous_build(recipe)
    if tfmot_ready and recipe.prune.enabled:
        out["pruned"] = _pruned(recipe, data, baseline, previous, hook)
        keras_to_save["pruned"] = out["pruned"]
    if tfmot_ready and recipe.qat.enabled:
        try:
            out["qat"] = keras_to_save["qat"] = _qat(recipe, data, baseline, previous, hook)
        except (ValueError, RuntimeError) as exc:  # a layer tfmot cannot quantize
            message = " ".join(str(exc).split())[:200]
            reason = f"quantization-aware training cannot handle this model: {message}"
            skipped.append(SkippedCandidate(name="qat", reason=reason))
    teacher = np.asarray(baseline.predict(data.x_train, verbose=0, batch_size=256))
    _distilled(
        recipe, data, teacher, hook, out, previous, keras_to_save, baseline, reference, skipped
    )
    return out, reference


def _keras3_baseline(recipe: Recipe, data: Dataset) -> tuple[object, bool, str]:
    """A tf_keras copy when one is provably equal (tfmot works), else the Keras 3 model."""
    model3 = k3.load_keras3(recipe.model.path, recipe.model.custom_objects)
    models.check_fits(model3, data.input_shape, data.num_classes)
    model3 = k3.with_graph(model3, data.input_shape)
    try:
        return k3.to_tf_keras(model3, data.x_train), True, ""
    except k3.NotTransferable as exc:
        reason = f"tfmot needs a tf_keras model and this Keras 3 model has no equal one: {exc}"
        return model3, False, reason


def _pruned(
    recipe: Recipe, data: Dataset, baseline, previous: Path | None, hook: ProgressHook
) -> keras.Model:
    if previous is not None and (previous / "pruned.keras").is_file():
        return _fine_tuned_sibling(recipe, data, previous / "pruned.keras", hook, "prune")
    return compress.prune(baseline, data, recipe.prune, recipe.train, _epochs(hook, "prune"))


def _qat(
    recipe: Recipe, data: Dataset, baseline, previous: Path | None, hook: ProgressHook
) -> keras.Model:
    if previous is not None and (previous / QAT_WEIGHTS).is_file():
        return compress.fine_tune_qat(
            baseline,
            previous / QAT_WEIGHTS,
            data,
            recipe.qat,
            recipe.train,
            _epochs(hook, "quantization-aware"),
        )
    return compress.quantization_aware(
        baseline, data, recipe.qat, recipe.train, _epochs(hook, "quantization-aware")
    )


def _distilled(
    recipe: Recipe,
    data: Dataset,
    teacher: np.ndarray,
    hook: ProgressHook,
    out: dict[str, object],
    previous: Path | None,
    keras_to_save: dict[str, object],
    teacher_model,
    reference: np.ndarray,
    skipped: list[SkippedCandidate],
) -> None:
    """The student suited to the teacher (`students.plan_student`) and, pruned, its smaller
    sparse self; a student that loses more than `distill.max_loss` is rejected, with both
    accuracies in `report.skipped`, and no candidate is made of it."""
    if not recipe.distill.enabled:
        return
    if previous is not None and (previous / "distilled.keras").is_file():
        student = _fine_tuned_sibling(recipe, data, previous / "distilled.keras", hook, "distill")
    else:
        plan = students.plan_student(
            teacher_model, data.input_shape, data.num_classes, recipe.distill.student_hidden
        )
        if not plan.family:
            skipped.append(SkippedCandidate(name="distilled", reason=plan.reason))
            return
        student = compress.distill(
            teacher,
            data,
            recipe.distill,
            recipe.train,
            _epochs(hook, "distill"),
            student=plan.build(data.input_shape, data.num_classes),
        )
    teacher_accuracy = float((reference.argmax(axis=1) == data.y_test).mean())
    student_accuracy = train.keras_accuracy(student, data.x_test, data.y_test)
    loss = teacher_accuracy - student_accuracy
    if loss > recipe.distill.max_loss:
        reason = (
            f"rejected: the {students.describe(student)} student scored {student_accuracy:.2%} "
            f"against the teacher's {teacher_accuracy:.2%} ({-loss * 100:+.2f} pp, more than "
            f"the {recipe.distill.max_loss * 100:g} pp distill.max_loss) on "
            f"{len(data.y_test)} test samples"
        )
        skipped.append(SkippedCandidate(name="distilled", reason=reason))
        return
    out["distilled"] = keras_to_save["distilled"] = student
    if not recipe.prune.enabled:
        return
    if previous is not None and (previous / "distilled-pruned.keras").is_file():
        small = _fine_tuned_sibling(
            recipe, data, previous / "distilled-pruned.keras", hook, "distill + prune"
        )
    else:
        small = compress.prune(
            student, data, recipe.prune, recipe.train, _epochs(hook, "distill + prune")
        )
    out["distilled-pruned"] = keras_to_save["distilled-pruned"] = small


def _fine_tuned_sibling(
    recipe: Recipe, data: Dataset, path: Path, hook: ProgressHook, stage: str
) -> keras.Model:
    """The previous build's candidate with only its last layer trained again; its zeros
    (the pruning mask) stay zeros."""
    previous = models.load_model(path)
    model = models.copy_model(previous)
    train.train_baseline(model, data, recipe.train, _epochs(hook, stage))
    return compress.keep_zeros(model, previous)


def _convert(
    recipe: Recipe,
    data: Dataset,
    candidates: dict[str, object],
    skipped: list[SkippedCandidate],
    hook: ProgressHook,
) -> list[_File]:
    calibration = convert.representative_samples(
        data.x_train, recipe.convert.representative_samples, recipe.seed
    )
    plan = [(s, p) for s in candidates for p in CONVERSIONS[s]]
    files: list[_File] = []
    floats: dict[str, bytes] = {}
    for done, (source, precision) in enumerate(plan):
        hook("convert", done, len(plan))
        model = candidates[source]
        is_keras = not isinstance(model, SavedModelClassifier)
        sparsity = compress.weight_sparsity(model) if is_keras else 0.0
        counted = candidates["baseline"] if source == "qat" else model
        parameters = models.count_parameters(counted) if is_keras else 0
        if precision in quantize.RECIPES:
            if source not in floats:
                floats[source] = convert.to_tflite(model, "float32", calibration)
            try:
                data_bytes = quantize.quantize_tflite(floats[source], precision)
            except quantize.QuantizerCannot as exc:
                skipped.append(SkippedCandidate(name=f"{source}-{precision}", reason=str(exc)))
                continue
        else:
            data_bytes = convert.to_tflite(model, precision, calibration)
            if precision == "float32":
                floats[source] = data_bytes
        files.append(_File(source, precision, data_bytes, sparsity, parameters))
    hook("convert", len(plan), len(plan))
    return files


def _measure(
    recipe: Recipe,
    data: Dataset,
    files: list[_File],
    reference: np.ndarray,
    staging: Path,
    hook: ProgressHook,
) -> list[CandidateReport]:
    """Every file evaluated in the LiteRT interpreter, as a device will run it."""
    reference_classes = reference.argmax(axis=1)
    results = []
    for done, f in enumerate(files):
        hook("evaluate in LiteRT", done, len(files))
        name = f"{f.source}-{f.precision}"
        path = staging / f"{name}.tflite"
        path.write_bytes(f.data)
        measured = evaluate.measure(
            path,
            data.x_test,
            data.y_test,
            reference_classes,
            latency_runs=recipe.evaluate.latency_runs,
            throughput_batch=recipe.evaluate.throughput_batch,
            throughput_seconds=recipe.evaluate.throughput_seconds,
            zstd_level=recipe.evaluate.zstd_level,
        )
        results.append(
            CandidateReport(
                name=name,
                file=path.name,
                source=f.source,
                precision=f.precision,
                sparsity=f.sparsity,
                parameters=f.parameters,
                **vars(measured),
            )
        )
    hook("evaluate in LiteRT", len(files), len(files))
    return results


def _save_models(keras_to_save: dict[str, object], folder: Path) -> None:
    for name, model in keras_to_save.items():
        if name == "qat":
            model.save_weights(folder / QAT_WEIGHTS)
        else:
            model.save(folder / f"{name}.keras")


def _write_golden(path: Path, data: Dataset, reference: np.ndarray, size: int) -> None:
    n = min(size, len(data.x_test))
    np.savez_compressed(
        path,
        x=data.x_test[:n].astype(np.float32),
        y=data.y_test[:n].astype(np.int64),
        reference=reference[:n].astype(np.float32),
    )
