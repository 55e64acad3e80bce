"""`litefleet build`: train, compress, convert and evaluate; write a build folder."""

from __future__ import annotations

import json
import sys
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
        None, help="An .npz with x_train, y_train, x_test, y_test (default: embedded digits)."
    ),
    model: Path | None = typer.Option(
        None, help="Your tf_keras model: .keras/.h5 file or SavedModel folder."
    ),
    epochs: int | None = typer.Option(None, help="Maximum training epochs (early stopping)."),
    sparsity: float | None = typer.Option(None, help="Final sparsity of magnitude pruning."),
    student_width: int | None = typer.Option(
        None, help="Width of the student's first hidden layer (the second is half)."
    ),
    fine_tune_last_layer: bool = typer.Option(
        False, "--fine-tune-last-layer", help="Train only the last layer of --model."
    ),
    seed: int | None = typer.Option(None, help="Seed for data split, init and training."),
    as_json: bool = typer.Option(False, "--json", help="Print report.json to stdout."),
) -> None:
    """Build verified .tflite candidates from a Keras model and a dataset."""
    from litefleet.pipeline.recipe import Recipe, load_recipe

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
            "seed": seed,
        }
    )
    if fine_tune_last_layer and chosen.model.path is None:
        from litefleet.errors import UserError

        raise UserError("--fine-tune-last-layer needs --model (the model to fine-tune)")

    # With --json, stdout carries only the JSON; the table and progress go to stderr.
    console = Console(stderr=as_json)
    if not console.is_terminal:
        console.width = max(console.width, 140)  # a log file gets the whole table
    from litefleet.pipeline.build import build
    from litefleet.pipeline.report import table

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

        report = build(chosen, out, on_progress)
    console.print(table(report))
    console.print(f"build folder: [bold]{out}[/] (report.json, report.png, golden.npz)")
    if as_json:
        sys.stdout.write(json.dumps(report.model_dump(mode="json"), indent=2) + "\n")
