"""Training and test parts of a dataset: a seeded split that keeps every class's share.

Its own module because both data sources that split need it (`data.py` for CSV files,
`images.py` for one folder of classes) and `data.py` imports `images.py`.
"""

from __future__ import annotations

import numpy as np

from litefleet.errors import UserError


def split(
    x: np.ndarray, y: np.ndarray, test_size: float, seed: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """A seeded split that keeps every class's share in both parts (stratified)."""
    rng = np.random.default_rng(seed)
    test_idx: list[np.ndarray] = []
    for label in np.unique(y):
        members = rng.permutation(np.flatnonzero(y == label))
        n_test = round(len(members) * test_size)
        test_idx.append(members[: min(n_test, len(members) - 1)])
    test = np.sort(np.concatenate(test_idx)) if test_idx else np.array([], int)
    train = np.setdiff1d(np.arange(len(y)), test)
    if len(test) == 0 or len(train) == 0:
        raise UserError(f"too few samples ({len(y)}) to split into training and test parts")
    return x[train], y[train], x[test], y[test]
