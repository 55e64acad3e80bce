"""A build recipe: every option of a build, so a build can be repeated exactly.

A recipe is a TOML file whose tables mirror the sections below; unknown keys are errors
(a typo must not silently fall back to a default). Command-line options override it.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from litefleet.errors import UserError


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class DataOptions(_Section):
    path: Path | None = None
    """An `.npz` with x_train, y_train, x_test, y_test, a CSV file or an image folder
    (one sub-folder per class); None = the embedded digits."""
    test_size: float = Field(0.2, gt=0, lt=1)
    """Share held out for testing when the data has no split of its own (CSV, images)."""
    golden_size: int = Field(300, ge=10)
    image_size: list[int] | None = Field(None, min_length=2, max_length=2)
    """[height, width] images are resized to; None = the size of the first image."""
    color: Literal["auto", "grayscale", "rgb"] = "auto"
    label_column: str | None = None
    """CSV column holding the class; None = `label`, else the last column."""
    classes: list[str] | None = None
    """Class names in label order (label 0 first); None = the image folders' names or the
    CSV's label values. Recorded in report.json and the release's `card.json`."""


class ModelOptions(_Section):
    path: Path | None = None
    """A Keras 3 or tf_keras `.keras`/`.h5` file, a SavedModel folder or a `.tflite` file;
    None = the default MLP. The kind is read from the file (`litefleet.pipeline.detect`)."""
    hidden: list[int] = Field(default_factory=lambda: [128, 64])
    custom_objects: Path | None = None
    """A Python file defining the custom layers/objects a Keras 3 model needs to load."""
    as_is: bool = False
    """Compress the model as it is: the baseline is the user's model unchanged (no training,
    its weights bit-identical); pruning, QAT and the student start from it."""

    @model_validator(mode="after")
    def _as_is_needs_a_model(self) -> ModelOptions:
        if self.as_is and self.path is None:
            raise ValueError("model.as_is needs model.path (the model to keep as it is)")
        return self


class TrainOptions(_Section):
    epochs: int = Field(200, ge=0)
    """Training epochs of the baseline (early stopping); 0 only with `model.as_is`."""
    batch_size: int = Field(32, ge=1)
    learning_rate: float = Field(1e-3, gt=0)
    validation_split: float = Field(0.1, gt=0, lt=1)
    patience: int = Field(10, ge=1)
    trainable: Literal["all", "last"] = "all"
    """`last` fine-tunes only the last layer of a loaded model (small delta patches)."""


class PruneOptions(_Section):
    enabled: bool = True
    initial_sparsity: float = Field(0.0, ge=0, lt=1)
    final_sparsity: float = Field(0.5, gt=0, lt=1)
    begin_epoch: int = Field(0, ge=0)
    epochs: int = Field(10, ge=1)
    """Fine-tuning epochs; the schedule ends one epoch before the last."""
    power: float = Field(3.0, gt=0)
    frequency: int = Field(10, ge=1)
    """Pruning steps: masks are updated every `frequency` training steps."""

    @model_validator(mode="after")
    def _initial_below_final(self) -> PruneOptions:
        if self.initial_sparsity >= self.final_sparsity:
            raise ValueError("prune.initial_sparsity must be below prune.final_sparsity")
        if self.begin_epoch >= self.epochs:
            raise ValueError("prune.begin_epoch must be below prune.epochs")
        return self


class QatOptions(_Section):
    enabled: bool = True
    epochs: int = Field(5, ge=1)
    learning_rate: float = Field(1e-4, gt=0)


class DistillOptions(_Section):
    enabled: bool = True
    student_hidden: list[int] = Field(default_factory=lambda: [32, 16])
    temperature: float = Field(4.0, gt=0)
    alpha: float = Field(0.1, ge=0, le=1)
    """Weight of the hard-label loss; 1 - alpha goes to the teacher's soft targets."""
    epochs: int = Field(200, ge=1)
    patience: int = Field(15, ge=1)
    max_loss: float = Field(0.02, ge=0, le=1)
    """A student whose accuracy is more than this below the teacher's is rejected (listed in
    report.json `skipped` with both figures), not offered as a candidate."""


class ConvertOptions(_Section):
    representative_samples: int = Field(300, ge=10)


class EvaluateOptions(_Section):
    latency_runs: int = Field(300, ge=10)
    throughput_batch: int = Field(64, ge=1)
    throughput_seconds: float = Field(0.2, gt=0, le=60)
    """How long batched invokes are timed per candidate (at least 10 of them)."""
    zstd_level: int = Field(19, ge=1, le=22)


class Recipe(_Section):
    """Every option of a build, one pydantic model (unknown keys are refused).

    Args:
        seed, data, model, train, prune, qat, distill, convert, evaluate: the sections of
            a recipe TOML file, each with documented defaults.

    Raises:
        ValidationError: an unknown key or a value out of range.

    Example:
        >>> from litefleet import Recipe
        >>> recipe = Recipe(train={"epochs": 5}, prune={"final_sparsity": 0.8})
    """

    seed: int = 0
    data: DataOptions = Field(default_factory=DataOptions)
    model: ModelOptions = Field(default_factory=ModelOptions)
    train: TrainOptions = Field(default_factory=TrainOptions)
    prune: PruneOptions = Field(default_factory=PruneOptions)
    qat: QatOptions = Field(default_factory=QatOptions)
    distill: DistillOptions = Field(default_factory=DistillOptions)
    convert: ConvertOptions = Field(default_factory=ConvertOptions)
    evaluate: EvaluateOptions = Field(default_factory=EvaluateOptions)

    @model_validator(mode="after")
    def _consistent(self) -> Recipe:
        if self.train.epochs == 0 and not self.model.as_is:
            raise ValueError("train.epochs 0 means no training: only with model.as_is")
        if self.model.as_is and self.train.trainable == "last":
            raise ValueError("model.as_is keeps the model unchanged: no last-layer fine-tune")
        return self

    def with_overrides(self, overrides: dict[str, object]) -> Recipe:
        """A copy with dotted keys (`prune.final_sparsity`) replaced; None values are skipped."""
        data = self.model_dump()
        for dotted, value in overrides.items():
            if value is None:
                continue
            node = data
            *parents, leaf = dotted.split(".")
            for key in parents:
                node = node[key]
            node[leaf] = value
        return parse_recipe(data, source="command-line options")


def parse_recipe(data: dict, *, source: str) -> Recipe:
    try:
        return Recipe.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "(top level)"
        problem = "unknown key" if first["type"] == "extra_forbidden" else first["msg"]
        raise UserError(f"recipe {source}: {where}: {problem}") from None


def load_recipe(path: Path) -> Recipe:
    """Read a TOML recipe; relative data/model paths are relative to the recipe file."""
    if not path.is_file():
        raise UserError(f"recipe not found: {path}")
    try:
        data = tomllib.loads(path.read_text())
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise UserError(f"recipe {path} is not valid TOML: {exc}") from None
    recipe = parse_recipe(data, source=str(path))
    base = path.parent
    updates = {}
    if recipe.data.path is not None and not recipe.data.path.is_absolute():
        updates["data.path"] = str(base / recipe.data.path)
    if recipe.model.path is not None and not recipe.model.path.is_absolute():
        updates["model.path"] = str(base / recipe.model.path)
    if recipe.model.custom_objects is not None and not recipe.model.custom_objects.is_absolute():
        updates["model.custom_objects"] = str(base / recipe.model.custom_objects)
    return recipe.with_overrides(updates) if updates else recipe


def recipe_to_toml(recipe: Recipe, omit: set[str] | frozenset[str] = frozenset()) -> str:
    """The recipe as TOML (tomllib reads but cannot write; the format here is flat enough).

    `omit` names keys (`model.hidden`) or whole sections (`qat`) that did not apply to
    this build: the written recipe shows only what shaped the model (read back, an omitted
    key takes its default, which did not apply either)."""
    lines: list[str] = [f"seed = {recipe.seed}", ""]
    for section, values in recipe.model_dump(mode="json").items():
        if not isinstance(values, dict) or section in omit:
            continue
        kept = {k: v for k, v in values.items() if v is not None and f"{section}.{k}" not in omit}
        if not kept:
            continue
        lines.append(f"[{section}]")
        lines += [f"{key} = {_toml_value(value)}" for key, value in kept.items()]
        lines.append("")
    return "\n".join(lines)


def _toml_value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    return repr(value)
