"""`litefleet build`: train, compress, convert and evaluate; write a build folder.

The data is read and the model's kind detected before TensorFlow is imported, so a wrong
file is refused within a second; TensorFlow's own log lines stay hidden unless --verbose.
"""

from __future__ import annotations

import contextlib
import json
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn


def register(app: typer.Typer) -> None:
    app.command("build")(build_command)


def build_command(
    out: Path = typer.Option(Path("out/build"), "--out", "-o", help="Build folder to write."),
    recipe: Path | None = typer.Option(None, help="TOML recipe holding every option."),
    data: Path | None = typer.Option(
        None,
        help="An .npz (x_train, y_train, x_test, y_test), a CSV file or an image folder with "
        "one sub-folder per class (default: embedded digits).",
    ),
    model: Path | None = typer.Option(
        None,
        help="Your model: Keras 3 or tf_keras .keras/.h5, a SavedModel folder or a .tflite "
        "file (the kind is read from the file).",
    ),
    image_size: str | None = typer.Option(
        None, help="Image folders: HEIGHTxWIDTH to resize to (default: the first image's)."
    ),
    color: str | None = typer.Option(
        None, help="Image folders: grayscale, rgb or auto (from the first image)."
    ),
    label_column: str | None = typer.Option(
        None, help="CSV: the column holding the class (default: 'label', else the last)."
    ),
    custom_objects: Path | None = typer.Option(
        None, help="A Python file defining the custom layers a Keras 3 model needs."
    ),
    epochs: int | None = typer.Option(None, help="Maximum training epochs (early stopping)."),
    sparsity: float | None = typer.Option(None, help="Final sparsity of magnitude pruning."),
    student_width: int | None = typer.Option(
        None,
        help="MLP students: the most width of the first hidden layer (the second is half); "
        "a convolutional student follows the teacher's widths.",
    ),
    fine_tune_last_layer: bool = typer.Option(
        False, "--fine-tune-last-layer", help="Train only the last layer of --model."
    ),
    as_is: bool = typer.Option(
        False,
        "--as-is",
        help="Compress --model as it is: the baseline keeps its weights (no training); "
        "pruning, QAT and distillation start from it on your data.",
    ),
    classes: str | None = typer.Option(
        None,
        help="Class names in label order, comma-separated (default: the image folders' "
        "names or the CSV's label values); they travel with the release in card.json.",
    ),
    seed: int | None = typer.Option(None, help="Seed for data split, init and training."),
    task: str | None = typer.Option(
        None,
        help="A .tflite model's task: classification, detection, segmentation, regression or"
        " other (default: read from its outputs).",
    ),
    as_json: bool = typer.Option(False, "--json", help="Print report.json to stdout."),
    force: bool = typer.Option(
        False, "--force", help="Replace an existing build folder at --out (default: refuse)."
    ),
    verbose: bool = typer.Option(
        False, "--verbose", help="Show TensorFlow's, absl's and LiteRT's own log lines."
    ),
) -> None:
    """Build verified .tflite candidates from your model and data."""
    from litefleet.errors import UserError
    from litefleet.pipeline.quiet import quiet_tensorflow
    from litefleet.pipeline.recipe import Recipe, load_recipe

    quiet_tensorflow(verbose)  # before anything imports TensorFlow
    refuse_existing_out(out, force)
    base = load_recipe(recipe) if recipe else Recipe()
    chosen = base.with_overrides(
        {
            "data.path": str(data) if data else None,
            "model.path": str(model) if model else None,
            "train.epochs": epochs,
            "prune.final_sparsity": sparsity,
            "distill.student_hidden": [student_width, max(student_width // 2, 1)]
            if student_width
            else None,
            "train.trainable": "last" if fine_tune_last_layer else None,
            "model.as_is": True if as_is else None,
            "data.classes": [c.strip() for c in classes.split(",")] if classes else None,
            "seed": seed,
            "data.image_size": _image_size(image_size) if image_size else None,
            "data.color": color,
            "data.label_column": label_column,
            "model.custom_objects": str(custom_objects) if custom_objects else None,
        }
    )
    if fine_tune_last_layer and chosen.model.path is None:
        raise UserError("--fine-tune-last-layer needs --model (the model to fine-tune)")

    from litefleet.pipeline.data import dataset_of
    from litefleet.pipeline.detect import detect_model

    detected = detect_model(chosen.model.path) if chosen.model.path else None
    if detected is not None and detected.kind == "tflite":  # no TensorFlow on this path
        _build_tflite(chosen, detected, out, task, as_json)
        return
    if task is not None:
        raise UserError("--task is for a .tflite model (a Keras build trains a classifier)")
    dataset = dataset_of(chosen)  # data errors before the slow TensorFlow import

    console = _console(as_json)
    console.print(
        f"data: {dataset.name}, {len(dataset.x_train)} training and {len(dataset.x_test)} test "
        f"samples of shape {dataset.input_shape}, {dataset.num_classes} classes",
        highlight=False,
    )
    if detected is not None:
        console.print(f"model: {detected.describe()}", highlight=False)
    from litefleet.pipeline.build import build
    from litefleet.pipeline.report import table

    with _progress(console) as on_progress:
        report = build(chosen, out, on_progress, data=dataset)
    console.print(table(report))
    for skip in report.skipped:
        console.print(f"skipped {skip.name}: {skip.reason}", highlight=False)
    console.print(f"build folder: [bold]{out}[/] (report.json, report.png, golden.npz)")
    for line in chance_warnings(report, out):
        console.print(f"[bold yellow]WARNING[/] {line}", highlight=False)
    if as_json:
        sys.stdout.write(json.dumps(report.model_dump(mode="json"), indent=2) + "\n")


TASKS = ("classification", "detection", "segmentation", "regression", "other")


def _console(as_json: bool) -> Console:
    """With --json, stdout carries only the JSON; the table and progress go to stderr."""
    console = Console(stderr=as_json)
    if not console.is_terminal:
        console.width = max(console.width, 140)  # a log file gets the whole table
    return console


@contextlib.contextmanager
def _progress(console: Console) -> Iterator[Callable[[str, int, int], None]]:
    """A progress hook for a build: one bar per stage, in the order the stages start."""
    with Progress(
        TextColumn("{task.description:<22}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=False,
    ) as progress:
        tasks: dict[str, int] = {}

        def on_progress(stage: str, done: int, total: int) -> None:
            if stage not in tasks:
                tasks[stage] = progress.add_task(stage, total=total)
            progress.update(tasks[stage], completed=done, total=total)

        yield on_progress


def _build_tflite(chosen, detected, out: Path, task: str | None, as_json: bool) -> None:
    """A prebuilt `.tflite`: measured and quantized as it is, without TensorFlow."""
    from litefleet.errors import UserError
    from litefleet.litert import LoadedModel
    from litefleet.pipeline.data import dataset_of
    from litefleet.pipeline.report import table
    from litefleet.pipeline.samples import from_dataset, inputs_only_npz, load_samples
    from litefleet.pipeline.tflite_build import build_tflite

    if task is not None and task not in TASKS:
        raise UserError(f"unknown --task {task!r}: {', '.join(TASKS)}")
    model = LoadedModel.from_file(chosen.model.path)  # a custom op LiteRT lacks: one line
    if inputs_only_npz(chosen.data.path):
        samples = load_samples(chosen.data.path, model.input_names, model.input_aliases)
    elif len(model.input_names) == 1:
        samples = from_dataset(dataset_of(chosen))
    else:
        raise UserError(
            f"the model takes {len(model.input_names)} inputs {model.input_names}: give --data"
            " an .npz with one array per input name"
        )
    console = _console(as_json)
    shapes = ", ".join(
        f"{n} {tuple(a.shape[1:])}" for n, a in zip(model.input_names, samples.inputs, strict=True)
    )
    labels = "with labels" if samples.labels is not None else "without labels"
    console.print(
        f"data: {samples.name}, {len(samples.inputs[0])} samples ({shapes}), {labels}",
        highlight=False,
    )
    console.print(f"model: {detected.describe()}", highlight=False)
    with _progress(console) as on_progress:
        report = build_tflite(
            chosen.model.path,
            samples,
            out,
            task=task,  # type: ignore[arg-type]
            golden_size=chosen.data.golden_size,
            latency_runs=chosen.evaluate.latency_runs,
            zstd_level=chosen.evaluate.zstd_level,
            recipe=chosen.model_dump(mode="json"),
            progress=on_progress,
        )
    console.print(table(report))
    console.print(f"task: {report.task}", highlight=False)
    for skip in report.skipped:
        console.print(f"skipped {skip.name}: {skip.reason}", highlight=False)
    if "delegate_only_ops" in report.environment:
        console.print(
            f"note: custom ops {report.environment['delegate_only_ops']}", highlight=False
        )
    console.print(f"build folder: [bold]{out}[/] (report.json, report.png, golden.npz)")
    if as_json:
        sys.stdout.write(json.dumps(report.model_dump(mode="json"), indent=2) + "\n")


def _image_size(text: str) -> list[int]:
    """`28x28` or `28` (square) -> [height, width]."""
    from litefleet.errors import UserError

    parts = text.lower().replace("×", "x").split("x")
    try:
        numbers = [int(p) for p in parts]
    except ValueError:
        numbers = []
    if len(numbers) == 1:
        numbers *= 2
    if len(numbers) != 2 or min(numbers) < 1:
        raise UserError(f"--image-size {text!r}: use HEIGHTxWIDTH, e.g. 28x28")
    return numbers


def refuse_existing_out(out: Path, force: bool) -> None:
    """A build replaces its folder whole: never silently, since it may hold the build a
    release came from (its `baseline.keras` is what a fine-tune starts from)."""
    from litefleet.errors import UserError

    if out.exists() and not out.is_dir():
        raise UserError(f"--out {out} is a file, not a folder")
    if out.is_dir() and any(out.iterdir()) and not force:
        what = "a build folder" if (out / "report.json").is_file() else "files"
        raise UserError(
            f"--out {out} already holds {what}: --force replaces it, or choose another --out"
        )


def chance_warnings(report, out: Path) -> list[str]:
    """One line per variant whose test accuracy is not clearly above chance (the bound
    `publish` applies to golden accuracy, `registry.quality.chance_bound`, for the size of
    the build's golden set)."""
    from litefleet.registry.quality import chance_bound

    if report.num_classes < 2:
        return []
    try:
        import numpy as np

        with np.load(out / report.golden, allow_pickle=False) as z:
            n = len(z["y"]) if "y" in z.files else 0
    except (OSError, ValueError, KeyError):
        n = 0
    bound = chance_bound(report.num_classes, n or 200)
    return [
        f"{c.name}: accuracy {c.accuracy:.3f} is at chance level for {report.num_classes}"
        f" classes (needs more than {bound:.3f}); publish will refuse it"
        for c in report.candidates
        if c.accuracy <= bound
    ]
