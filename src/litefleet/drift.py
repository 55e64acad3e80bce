"""Drift statistics, shared by the build (reference bins) and the device (live feedback):
input drift (PSI per feature), prediction confidence, errors.

The release ships reference statistics of the training inputs (bin edges and the share of
training samples per bin, per feature). The monitor bins each live input into the same
bins and keeps counts, so the cost per prediction is one `searchsorted` per feature and the
memory is fixed. PSI = sum((p - q) * ln(p / q)) over bins, averaged over features;
< 0.1 is stable, > 0.25 a significant shift.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

import numpy as np

from litefleet.release import FeatureStats

EPS = 1e-4
"""Floor for bin shares, so an empty bin does not make PSI infinite."""
SMOOTHING = 0.5
"""Pseudo-count added to every live bin before PSI (see `DriftMonitor.drift`)."""


@dataclass(frozen=True)
class Feedback:
    """What the runtime has seen since the last check (computed by `DriftMonitor`).

    The policies' array methods take the same record with numpy arrays in its fields, one
    element per device (the fleet simulator's form)."""

    drift: float = 0.0
    """Mean PSI of live inputs against the release's reference statistics."""
    error_rate: float = 0.0
    """Share of failed predictions."""
    confidence: float = 1.0
    """Mean top-class probability of the live predictions."""
    predictions: int = 0


def psi(expected: np.ndarray, actual: np.ndarray) -> np.ndarray:
    """Population stability index per row of two (features, bins) share arrays."""
    p = np.clip(actual, EPS, None)
    q = np.clip(expected, EPS, None)
    p = p / p.sum(axis=-1, keepdims=True)
    q = q / q.sum(axis=-1, keepdims=True)
    return ((p - q) * np.log(p / q)).sum(axis=-1)


def reference_stats(x: np.ndarray, bins: int = 10) -> FeatureStats:
    """Quantile bins of training inputs: what a build ships for drift detection."""
    flat = x.reshape(len(x), -1).astype(np.float64)
    edges, fractions = [], []
    for col in flat.T:
        e = np.unique(np.quantile(col, np.linspace(0, 1, bins + 1)))
        if len(e) < 2:
            e = np.array([col.min() - 0.5, col.max() + 0.5])
        counts = _bin_counts(col, e)
        edges.append(e.tolist())
        fractions.append((counts / max(1, counts.sum())).tolist())
    return FeatureStats(edges=edges, fractions=fractions)


def _bin_counts(values: np.ndarray, edges: np.ndarray) -> np.ndarray:
    # interior edges only: values below the first or above the last land in the end bins
    idx = np.searchsorted(edges[1:-1], values, side="right")
    return np.bincount(idx, minlength=len(edges) - 1).astype(np.float64)


class DriftMonitor:
    """Counts live inputs per reference bin; thread-safe, O(features) per sample."""

    def __init__(self, stats: FeatureStats | None) -> None:
        self._lock = threading.Lock()
        self.stats = stats
        self._edges = [np.asarray(e[1:-1], dtype=np.float64) for e in stats.edges] if stats else []
        self._expected = (
            np.array([_pad(f, max(map(len, stats.fractions))) for f in stats.fractions])
            if stats
            else None
        )
        width = self._expected.shape[1] if self._expected is not None else 0
        self._counts = np.zeros((len(self._edges), width))
        self.predictions = 0
        self.errors = 0
        self._confidence_sum = 0.0

    def observe(self, x: np.ndarray, probabilities: np.ndarray | None) -> None:
        flat = np.asarray(x, dtype=np.float64).reshape(-1)
        with self._lock:
            self.predictions += 1
            if probabilities is not None and probabilities.size:
                self._confidence_sum += float(np.max(probabilities))
            if self._edges and flat.size == len(self._edges):
                for i, edges in enumerate(self._edges):
                    self._counts[i, int(np.searchsorted(edges, flat[i], side="right"))] += 1

    def error(self) -> None:
        with self._lock:
            self.predictions += 1
            self.errors += 1

    def drift(self) -> float:
        with self._lock:
            if self._expected is None or self._counts.sum() == 0:
                return 0.0
            # Jeffreys smoothing (+0.5 per bin): with few samples most bins are empty, and
            # raw PSI of 20 in-distribution inputs is ~1.1, a false "drift spike"
            smoothed = self._counts + SMOOTHING
            actual = smoothed / smoothed.sum(axis=1, keepdims=True)
            return float(psi(self._expected, actual).mean())

    def snapshot(self) -> Feedback:
        drift = self.drift()
        with self._lock:
            n = self.predictions
            ok = n - self.errors
            return Feedback(
                drift=drift,
                error_rate=self.errors / n if n else 0.0,
                confidence=self._confidence_sum / ok if ok else 1.0,
                predictions=n,
            )


def _pad(values: list[float], width: int) -> list[float]:
    return list(values) + [0.0] * (width - len(values))
