"""A build: data → train → compress → convert → evaluate → a build folder.

Usage::

    from litefleet.pipeline.build import build
    from litefleet.pipeline.recipe import Recipe
    report = build(Recipe(), Path("out/build"))

The folder is written to a temporary sibling and renamed into place at the end, so a
failed build leaves nothing half-written where the user looks. It holds one `.tflite` per
candidate, `golden.npz` (for the device's health gate), `report.json` (`BuildReport`),
`report.png`, the effective `recipe.toml` and `baseline.keras` (the trained float model,
the starting point of a fine-tune: `litefleet build --model out/build/baseline.keras`).
"""

from __future__ import annotations

import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from litefleet.drift import reference_stats
from litefleet.errors import UserError
from litefleet.fsutil import replace_dir
from litefleet.pipeline import compress, convert, evaluate, models, report, train
from litefleet.pipeline.data import Dataset, load_dataset
from litefleet.pipeline.recipe import Recipe, recipe_to_toml
from litefleet.pipeline.tf import keras
from litefleet.release import (
    BUILD_REPORT,
    GOLDEN_SET,
    BuildReport,
    CandidateReport,
    Precision,
)

ProgressHook = Callable[[str, int, int], None]
"""Called as (stage, done, total) while a stage advances; drives the terminal progress bars."""

CONVERSIONS: dict[str, tuple[Precision, ...]] = {
    "baseline": ("float32", "float16", "dynamic", "int8"),
    "pruned": ("float32", "int8"),
    "qat": ("int8",),
    "distilled": ("float32", "int8"),
}
"""Which precisions each Keras candidate is converted to. Pruned and distilled models are
also quantized (the combinations); a QAT model is meant only for int8."""

DRIFT_BINS = 10


def build(recipe: Recipe, out_dir: Path, progress: ProgressHook | None = None) -> BuildReport:
    """Train, compress, convert and evaluate every candidate; write the build folder.

    Args:
        recipe: every option (`Recipe()` is the default digits build).
        out_dir: the build folder to write (atomically: staged, then renamed).
        progress: called as `progress(stage, done, total)` while it runs.

    Returns:
        The `BuildReport` also written to `out_dir/report.json`.

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
    data = load_dataset(recipe.data.path, test_size=recipe.data.test_size, seed=recipe.seed)
    train.seed_everything(recipe.seed)

    baseline = _baseline_model(recipe, data)
    train.train_baseline(baseline, data, recipe.train, _epochs(hook, "train baseline"))
    reference = baseline.predict(data.x_test, verbose=0, batch_size=256)
    keras_candidates = _compress(recipe, data, baseline, hook)

    out_dir = out_dir.resolve()
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.", dir=out_dir.parent))
    try:
        candidates = _convert_and_measure(recipe, data, keras_candidates, reference, staging, hook)
        build_report = BuildReport(
            dataset=data.name,
            num_classes=data.num_classes,
            input_shape=list(data.input_shape),
            keras_accuracy=float((reference.argmax(axis=1) == data.y_test).mean()),
            candidates=candidates,
            reference_stats=reference_stats(data.x_train, bins=DRIFT_BINS),
            environment=report.environment(),
            recipe=recipe.model_dump(mode="json"),
            seconds=round(time.perf_counter() - started, 1),
        )
        _write_golden(staging / GOLDEN_SET, data, reference, recipe.data.golden_size)
        (staging / BUILD_REPORT).write_text(build_report.model_dump_json(indent=2))
        (staging / "recipe.toml").write_text(recipe_to_toml(recipe))
        baseline.save(staging / "baseline.keras")
        report.plot(build_report, staging / "report.png")
        replace_dir(staging, out_dir)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return build_report


def _epochs(hook: ProgressHook, stage: str) -> train.EpochHook:
    return lambda epoch, planned, logs: hook(stage, epoch, planned)


def _baseline_model(recipe: Recipe, data: Dataset) -> keras.Model:
    if recipe.model.path is None:
        return models.mlp(data.input_shape, data.num_classes, recipe.model.hidden, name="baseline")
    model = models.load_model(recipe.model.path)
    models.check_fits(model, data.input_shape, data.num_classes)
    return model


def _compress(
    recipe: Recipe, data: Dataset, baseline: keras.Model, hook: ProgressHook
) -> dict[str, keras.Model]:
    out: dict[str, keras.Model] = {"baseline": baseline}
    if recipe.prune.enabled:
        out["pruned"] = compress.prune(
            baseline, data, recipe.prune, recipe.train, _epochs(hook, "prune")
        )
    if recipe.qat.enabled:
        try:
            out["qat"] = compress.quantization_aware(
                baseline, data, recipe.qat, recipe.train, _epochs(hook, "quantization-aware")
            )
        except (ValueError, RuntimeError) as exc:  # a layer tfmot cannot quantize
            message = " ".join(str(exc).split())[:200]
            raise UserError(
                f"quantization-aware training cannot handle this model: {message}"
            ) from None
    if recipe.distill.enabled:
        out["distilled"] = compress.distill(
            baseline, data, recipe.distill, recipe.train, _epochs(hook, "distill")
        )
    return out


def _convert_and_measure(
    recipe: Recipe,
    data: Dataset,
    keras_candidates: dict[str, keras.Model],
    reference: np.ndarray,
    staging: Path,
    hook: ProgressHook,
) -> list[CandidateReport]:
    calibration = convert.representative_samples(
        data.x_train, recipe.convert.representative_samples, recipe.seed
    )
    plan = [(s, p) for s, model in keras_candidates.items() for p in CONVERSIONS[s]]
    reference_classes = reference.argmax(axis=1)
    results = []
    for done, (source, precision) in enumerate(plan):
        hook("convert + evaluate", done, len(plan))
        model = keras_candidates[source]
        name = f"{source}-{precision}"
        path = staging / f"{name}.tflite"
        path.write_bytes(convert.to_tflite(model, precision, calibration))
        measured = evaluate.measure(
            path,
            data.x_test,
            data.y_test,
            reference_classes,
            latency_runs=recipe.evaluate.latency_runs,
            throughput_batch=recipe.evaluate.throughput_batch,
            zstd_level=recipe.evaluate.zstd_level,
        )
        results.append(
            CandidateReport(
                name=name,
                file=path.name,
                source=source,
                precision=precision,
                sparsity=compress.weight_sparsity(model),
                parameters=models.count_parameters(
                    keras_candidates["baseline"] if source == "qat" else model
                ),
                **vars(measured),
            )
        )
    hook("convert + evaluate", len(plan), len(plan))
    return results


def _write_golden(path: Path, data: Dataset, reference: np.ndarray, size: int) -> None:
    n = min(size, len(data.x_test))
    np.savez_compressed(
        path,
        x=data.x_test[:n].astype(np.float32),
        y=data.y_test[:n].astype(np.int64),
        reference=reference[:n].astype(np.float32),
    )
