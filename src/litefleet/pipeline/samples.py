"""The samples a prebuilt `.tflite` is measured on: inputs only, labels only when they exist.

`litefleet build --model M.tflite --data inputs.npz` takes an `.npz` holding

- `x` (a one-input model), or one array per input name (the tensor name, or the short
  name a converter derived it from: `image` for `serving_default_image:0`), or `in0`,
  `in1`, ... in the model's input order: every array batch first, one row per sample;
- `y` (integer labels), only for a classifier.

Any dataset `litefleet build` reads otherwise (the embedded digits, an npz with
x_train/y_train/x_test/y_test, a CSV file, an image folder) works too: its test split is
measured, its training split feeds the drift statistics. Imports no TensorFlow.
"""

from __future__ import annotations

import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from litefleet.errors import UserError

TRAIN_TEST_KEYS = ("x_train", "y_train", "x_test", "y_test")


@dataclass(frozen=True)
class Samples:
    name: str
    inputs: list[np.ndarray]
    """One batch-first float32 array per model input, in the model's input order."""
    labels: np.ndarray | None
    drift_inputs: list[np.ndarray]
    """What the drift statistics describe (the training split when there is one)."""


def inputs_only_npz(path: Path | None) -> bool:
    """Whether `path` is an npz of input samples (not the x_train/... training format)."""
    if path is None or not Path(path).is_file() or not zipfile.is_zipfile(path):
        return False
    with zipfile.ZipFile(path) as z:
        names = {n.removesuffix(".npy") for n in z.namelist()}
    return not set(TRAIN_TEST_KEYS) <= names


def load_samples(
    path: Path, input_names: list[str], aliases: dict[str, str] | None = None
) -> Samples:
    """The samples of an inputs-only npz, in the model's input order (see the module)."""
    try:
        with np.load(path, allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
    except ValueError as exc:
        raise UserError(f"data file {path} is not a readable npz of plain arrays: {exc}") from None
    labels = arrays.pop("y", None)
    arrays = {(aliases or {}).get(k, k): v for k, v in arrays.items()}
    inputs = _in_order(path, arrays, input_names)
    counts = {len(a) for a in inputs}
    if len(counts) != 1 or 0 in counts:
        raise UserError(f"data file {path}: inputs hold different or no sample counts {counts}")
    for name, a in zip(input_names, inputs, strict=True):
        if not np.issubdtype(a.dtype, np.number) or not np.isfinite(a).all():
            raise UserError(f"data file {path}: input {name!r} must be finite numbers")
    if labels is not None:
        labels = labels.reshape(-1)
        if not np.issubdtype(labels.dtype, np.integer) or len(labels) != len(inputs[0]):
            raise UserError(
                f"data file {path}: y must be one integer label per sample"
                f" ({len(inputs[0])} samples)"
            )
    floats = [a.astype(np.float32) for a in inputs]
    return Samples(Path(path).stem, floats, labels, floats)


def _in_order(path: Path, arrays: dict[str, np.ndarray], names: list[str]) -> list[np.ndarray]:
    if len(names) == 1 and "x" in arrays:
        rest = sorted(set(arrays) - {"x"})
        if rest:
            raise UserError(f"data file {path}: unknown arrays {rest} beside x (and y)")
        return [arrays["x"]]
    if all(n in arrays for n in names):
        unknown = sorted(set(arrays) - set(names))
        if unknown:
            raise UserError(f"data file {path}: unknown arrays {unknown}; the inputs are {names}")
        return [arrays[n] for n in names]
    positional = [f"in{i}" for i in range(len(names))]
    if set(arrays) == set(positional):
        return [arrays[k] for k in positional]
    want = "x" if len(names) == 1 else f"one array per input name {names}"
    raise UserError(
        f"data file {path} holds {sorted(arrays)}; expected {want} (or in0, in1, ...), "
        "and y (labels) only for a classifier"
    )


def from_dataset(dataset) -> Samples:
    """A labelled `pipeline.data.Dataset` (one input): its test split, drift from training."""
    return Samples(dataset.name, [dataset.x_test], dataset.y_test, [dataset.x_train])
