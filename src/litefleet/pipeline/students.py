"""Which student a teacher gets: one of its own family, made narrower, or none (with why).

An MLP on flattened pixels cannot imitate a CNN (issue 19: −18.75 pp at only 1.4× smaller),
so the student follows the teacher:
- an image model (samples H×W×C) whose teacher has convolutions gets a convolutional
  student: the teacher's convolution widths halved (at least 4 filters), each followed by
  2×2 max pooling while the feature map is larger than 2×2, then the logits;
- an MLP teacher gets an MLP of its own depth, each hidden layer at most half the
  teacher's width and at most the recipe's `distill.student_hidden` width (the default
  MLP [128, 64] gets [32, 16]); a teacher on flat features whose layers are unknown gets
  `student_hidden` as it is;
- anything else (sequences, a teacher whose layers are unknown on non-image data, a student
  that would not be smaller than its teacher) gets none, and the build lists the reason.
"""

from __future__ import annotations

from dataclasses import dataclass

from litefleet.pipeline.models import LOGITS_LAYER, mlp
from litefleet.pipeline.tf import keras

CONV_LAYERS = ("Conv2D", "SeparableConv2D", "DepthwiseConv2D")
MIN_FILTERS = 4
DEFAULT_FILTERS = (8, 16)
"""A convolutional student's widths when the teacher's layers are unknown (a SavedModel)."""
MAX_SIZE_SHARE = 0.8
"""A student with more than this share of the teacher's parameters is not worth a variant."""


@dataclass(frozen=True)
class StudentPlan:
    """The student to train (`build()` makes it), or why there is none."""

    family: str
    """"conv" or "mlp"; "" when there is no student."""
    widths: tuple[int, ...] = ()
    reason: str = ""

    def build(self, input_shape: tuple[int, ...], num_classes: int) -> keras.Model:
        if self.family == "conv":
            return conv_student(input_shape, num_classes, self.widths)
        return mlp(input_shape, num_classes, list(self.widths), name="student")


def plan_student(
    teacher, input_shape: tuple[int, ...], num_classes: int, student_hidden: list[int]
) -> StudentPlan:
    """The student suited to `teacher` (a Keras model, or None when its layers are unknown)."""
    kinds = _layer_kinds(teacher)
    filters = [f for kind, f in kinds if kind in CONV_LAYERS and f]
    is_image = len(input_shape) == 3
    if is_image and (filters or teacher is None or not kinds):
        widths = tuple(max(MIN_FILTERS, f // 2) for f in filters) or DEFAULT_FILTERS
        plan = StudentPlan("conv", widths)
    elif kinds and not filters and _all_dense(kinds):
        hidden = [units for kind, units in kinds if kind == "Dense" and units][:-1]
        if not hidden:
            return StudentPlan("", reason="the teacher has no hidden layer to make narrower")
        caps = list(student_hidden) + [student_hidden[-1]] * len(hidden) if student_hidden else []
        widths = tuple(
            max(MIN_FILTERS, min(units // 2, caps[i]) if caps else units // 2)
            for i, units in enumerate(hidden)
        )
        plan = StudentPlan("mlp", widths)
    elif len(input_shape) == 1:
        plan = StudentPlan("mlp", tuple(student_hidden))
    else:
        return StudentPlan(
            "",
            reason=f"no student family for samples of shape {tuple(input_shape)} and this "
            "teacher (convolutional students need H×W×C images, MLP students flat features)",
        )
    teacher_size = _parameters(teacher)
    if teacher_size:
        size = _parameters(plan.build(input_shape, num_classes))
        if size > MAX_SIZE_SHARE * teacher_size:
            return StudentPlan(
                "",
                reason=f"the {plan.family} student would have {size:,} parameters, "
                f"{size / teacher_size:.0%} of the teacher's {teacher_size:,}: not smaller",
            )
    return plan


def conv_student(
    input_shape: tuple[int, ...], num_classes: int, widths: tuple[int, ...]
) -> keras.Model:
    """Conv(3×3, relu) blocks of the given widths with 2×2 pooling, then logits + softmax."""
    inputs = keras.Input(shape=input_shape, name="features")
    x = inputs
    height, width = input_shape[0], input_shape[1]
    for i, filters in enumerate(widths):
        x = keras.layers.Conv2D(filters, 3, padding="same", activation="relu", name=f"conv_{i}")(x)
        if min(height, width) > 2:
            x = keras.layers.MaxPooling2D(2, name=f"pool_{i}")(x)
            height, width = height // 2, width // 2
    x = keras.layers.Flatten()(x)
    logits = keras.layers.Dense(num_classes, name=LOGITS_LAYER)(x)
    outputs = keras.layers.Softmax(name="probabilities")(logits)
    return keras.Model(inputs, outputs, name="student")


def describe(model: keras.Model) -> str:
    """`conv 8-16` / `mlp 32-16`: the student's family and widths, for the report."""
    kinds = _layer_kinds(model)
    convs = [str(f) for kind, f in kinds if kind in CONV_LAYERS]
    if convs:
        return "conv " + "-".join(convs)
    dense = [str(f) for kind, f in kinds if kind == "Dense"][:-1]
    return "mlp " + "-".join(dense)


def _layer_kinds(model) -> list[tuple[str, int | None]]:
    """(class name, filters or units) of each layer; [] when the model has no layer list."""
    layers = getattr(model, "layers", None)
    if not layers:
        return []
    out = []
    for layer in layers:
        name = type(layer).__name__
        if name in ("Functional", "Sequential", "Model"):
            out += _layer_kinds(layer)
            continue
        out.append((name, getattr(layer, "filters", None) or getattr(layer, "units", None)))
    return out


def _all_dense(kinds: list[tuple[str, int | None]]) -> bool:
    shapeless = {"InputLayer", "Flatten", "Dense", "Dropout", "Softmax", "Activation", "Rescaling"}
    return all(kind in shapeless or "Normalization" in kind for kind, _ in kinds)


def _parameters(model) -> int:
    weights = getattr(model, "weights", None)
    if not weights:
        return 0
    return int(sum(_size(w.shape) for w in weights))


def _size(shape) -> int:
    n = 1
    for d in shape:
        n *= int(d)
    return n
