"""A CSV file as arrays: a header row, numeric feature columns and one label column.

The label column is `--label-column` (default: a column named `label`, else the last one);
labels may be integers or names (names are numbered in sorted order). Parsed with the
standard library, so a malformed file is refused before TensorFlow is imported, with the
row and column that failed.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from litefleet.errors import UserError


def load_csv(path: Path, label_column: str | None) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """(features float32 (N, F), labels int64 (N,), class names in label order)."""
    try:
        with path.open(newline="", encoding="utf-8") as f:
            rows = list(csv.reader(f))
    except UnicodeDecodeError:
        raise UserError(f"data file {path} is neither an npz archive nor a CSV text file") from None
    rows = [r for r in rows if any(cell.strip() for cell in r)]
    if len(rows) < 3:
        raise UserError(f"data file {path}: a CSV needs a header row and at least 2 data rows")
    header = [h.strip() for h in rows[0]]
    chosen = label_column or ("label" if "label" in header else header[-1])
    if chosen not in header:
        raise UserError(f"data file {path} has no column {chosen!r} (columns: {', '.join(header)})")
    label_at = header.index(chosen)
    features, labels = [], []
    for line, row in enumerate(rows[1:], start=2):
        if len(row) != len(header):
            raise UserError(
                f"data file {path}, row {line}: {len(row)} fields, the header has {len(header)}"
            )
        labels.append(row[label_at].strip())
        values = []
        for col, cell in enumerate(row):
            if col == label_at:
                continue
            try:
                values.append(float(cell))
            except ValueError:
                raise UserError(
                    f"data file {path}, row {line}, column {header[col]!r}: {cell!r} is not a "
                    "number"
                ) from None
        features.append(values)
    x = np.asarray(features, np.float32)
    if not np.isfinite(x).all():
        raise UserError(f"data file {path}: features contain NaN or infinite values")
    return (x, *_label_numbers(labels))


def _label_numbers(labels: list[str]) -> tuple[np.ndarray, list[str]]:
    """Integer labels stay (their names are the numbers); names are numbered sorted."""
    try:
        numbers = np.array([int(v) for v in labels], np.int64)
        if numbers.min() >= 0:
            return numbers, [str(i) for i in range(int(numbers.max()) + 1)]
    except ValueError:
        pass
    names = sorted(set(labels))
    return np.array([names.index(v) for v in labels], np.int64), names
