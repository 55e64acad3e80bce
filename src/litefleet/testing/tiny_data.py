"""The tiny models' data: 8 features, 3 well-separated classes, made from fixed seeds.

The models in `tiny_models.py` (made by `tests/make_tiny_models.py` from these centroids)
classify it correctly, and every run sees the same numbers.
"""

from __future__ import annotations

import numpy as np

FEATURES, CLASSES = 8, 3


def centroids(seed: int) -> np.ndarray:
    base = np.random.default_rng(0).normal(0, 2.0, (CLASSES, FEATURES))
    return base + np.random.default_rng(seed).normal(0, 0.05, base.shape)


def dataset(n: int = 600) -> tuple[np.ndarray, np.ndarray]:
    """(x float32 (n, 8), y int64 (n,)): samples around the seed-0 centroids."""
    rng = np.random.default_rng(1)
    c0 = centroids(0)
    y = rng.integers(0, CLASSES, n)
    x = (c0[y] + rng.normal(0, 1.0, (n, FEATURES))).astype(np.float32)
    return x, y
