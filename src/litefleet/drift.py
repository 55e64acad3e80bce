"""Drift statistics, shared by the build (reference bins) and the device (live feedback):
input drift (PSI per pooled feature), prediction confidence, errors.

The release ships `drift.json`: reference statistics of the training inputs, bounded
whatever the model. Each input is reduced to at most `MAX_DRIFT_FEATURES` pooled features
(`pool`: a fixed set of evenly spaced elements, averaged in runs of `per_feature`), and each
feature gets quantile bins. The monitor pools each live input the same way and counts it
into the same bins: a fixed cost per prediction (a gather of at most 64 x 16 elements, pooled and
binned in batches), a fixed memory, for an 8x8 digit and a 224x224x3 photo alike.
PSI = sum((p - q) * ln(p / q)) over bins, averaged over features; < 0.1 is stable,
> 0.25 a significant shift.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from litefleet.release import (
    MAX_DRIFT_FEATURES,
    FeatureStats,
    InputFeatures,
    LegacyFeatureStats,
)

EPS = 1e-4
"""Floor for bin shares, so an empty bin does not make PSI infinite."""
PER_FEATURE = 16
"""Elements averaged into one pooled feature (when the input has that many)."""
WARMUP = 256
"""Inputs of a version the monitor always looks at, whatever they cost (probation's signal)."""
DRIFT_BUDGET = 0.05
"""Share of the inference time the monitor may spend binning live inputs (`observe`)."""
CREDIT_CAP_S = 0.002
"""Most binning time saved up while inputs were skipped (bounds a burst of work)."""
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


Inputs = np.ndarray | Sequence[np.ndarray]
"""One array (a single-input model) or one array per model input, in input order."""


def plan_features(elements: Sequence[int], cap: int = MAX_DRIFT_FEATURES) -> list[InputFeatures]:
    """How many pooled features each input gets: the cap shared evenly, never more features
    than an input has elements. Refuses more inputs than the cap (one feature each minimum)."""
    if not elements or len(elements) > cap:
        raise ValueError(f"drift statistics cover 1 to {cap} inputs, not {len(elements)}")
    share = cap // len(elements)
    plan = []
    for n in elements:
        features = max(1, min(share, n))
        per_feature = max(1, min(PER_FEATURE, n // features))
        plan.append(InputFeatures(elements=n, features=features, per_feature=per_feature))
    return plan


def positions(spec: InputFeatures) -> np.ndarray:
    """The flat element indices an input's features average (see `InputFeatures`)."""
    taken = spec.features * spec.per_feature
    j = np.arange(taken, dtype=np.float64)
    return np.floor((j + 0.5) * spec.elements / taken).astype(np.int64)


def pool(inputs: Inputs, plan: Sequence[InputFeatures]) -> np.ndarray:
    """(samples, features) pooled features of a batch (each input batch first)."""
    arrays = _as_list(inputs)
    if len(arrays) != len(plan):
        raise ValueError(f"{len(arrays)} inputs, the drift statistics describe {len(plan)}")
    parts = []
    for a, spec in zip(arrays, plan, strict=True):
        flat = np.asarray(a).reshape(len(a), -1)
        if flat.shape[1] != spec.elements:
            raise ValueError(f"input of {flat.shape[1]} elements, expected {spec.elements}")
        picked = flat[:, positions(spec)].astype(np.float64)
        parts.append(picked.reshape(len(a), spec.features, spec.per_feature).mean(axis=2))
    return np.concatenate(parts, axis=1)


def reference_stats(x: Inputs, bins: int = 10) -> FeatureStats:
    """Quantile bins of pooled training inputs: what a build ships for drift detection.

    `x`: one batch-first array, or a list of them (one per model input)."""
    arrays = _as_list(x)
    plan = plan_features([int(np.prod(a.shape[1:], dtype=np.int64)) for a in arrays])
    feats = pool(arrays, plan)
    edges, fractions = [], []
    for col in feats.T:
        # 6 significant digits: drift.json stays a few KB (bins are counted with the
        # rounded edges, so the reference and the monitor agree exactly)
        e = np.unique([_short(v) for v in np.quantile(col, np.linspace(0, 1, bins + 1))])
        if len(e) < 2:
            e = np.array([_short(col.min() - 0.5), _short(col.max() + 0.5)])
        counts = _bin_counts(col, e)
        edges.append([float(v) for v in e])
        fractions.append([_short(v) for v in counts / max(1, counts.sum())])
    return FeatureStats(inputs=plan, edges=edges, fractions=fractions)


def _short(value: float) -> float:
    return float(f"{value:.6g}")


def _as_list(x: Inputs) -> list[np.ndarray]:
    if isinstance(x, np.ndarray):
        return [x]
    return [np.asarray(a) for a in x]


def _bin_counts(values: np.ndarray, edges: np.ndarray) -> np.ndarray:
    # interior edges only: values below the first or above the last land in the end bins
    idx = np.searchsorted(edges[1:-1], values, side="right")
    return np.bincount(idx, minlength=len(edges) - 1).astype(np.float64)


BATCH = 64
"""Samples kept before they are pooled and binned together (amortises everything but one
gather per sample; the buffer holds at most 64 x 64 x 16 float32, 256 KB)."""


class DriftMonitor:
    """Counts pooled live inputs per reference bin; thread-safe, fixed cost per sample.

    A sample costs one `np.take` of at most 64 x 16 elements into a buffer (the number of
    numpy calls, not the elements, is what a sample costs); pooling and binning run on a
    whole buffer at once, when it is full or when the drift is read. Statistics of the
    first format (`LegacyFeatureStats`, one feature per element) are not monitored: an old
    installed version reports no drift rather than paying per element.
    """

    def __init__(self, stats: FeatureStats | LegacyFeatureStats | None) -> None:
        self._lock = threading.Lock()
        self.stats = stats if isinstance(stats, FeatureStats) else None
        self._plan = list(self.stats.inputs) if self.stats else []
        self._positions = [positions(spec) for spec in self._plan]
        bounds = np.cumsum([0] + [len(p) for p in self._positions])
        self._slices = [slice(a, b) for a, b in itertools.pairwise(bounds)]
        n = len(self.stats.edges) if self.stats else 0
        width = max((len(e) for e in self.stats.edges), default=2) if self.stats else 2
        # interior edges padded with +inf: a value's bin = how many interior edges are <= it
        # (searchsorted side="right" for every feature in one comparison)
        self._interior = np.full((n, width - 2), np.inf)
        self._expected = np.zeros((n, width - 1))
        self._valid = np.zeros(self._expected.shape, dtype=bool)
        if self.stats:
            for i, (e, f) in enumerate(zip(self.stats.edges, self.stats.fractions, strict=True)):
                self._interior[i, : len(e) - 2] = e[1:-1]
                self._expected[i, : len(f)] = f
                self._valid[i, : len(f)] = True
        self._offsets = np.arange(n) * (width - 1)
        self._counts = np.zeros_like(self._expected)
        self._buffer = np.zeros((BATCH, int(bounds[-1])), dtype=np.float32)
        self._buffered = 0
        self.predictions = 0
        self.errors = 0
        self._confidence_sum = 0.0
        self._confidence_n = 0
        self.skipped = 0
        """Inputs left unbinned to keep within `DRIFT_BUDGET` (see `observe`)."""
        self._credit = 0.0
        self._cost_s = 0.0

    def features(self, x: Inputs) -> np.ndarray | None:
        """Pooled features of ONE sample (with or without a batch axis of 1), or None when
        the input does not have the shape the statistics describe."""
        row = np.zeros(self._buffer.shape[1], dtype=np.float32)
        return self._pool(row[None])[0] if self._gather(x, row) else None

    def _gather(self, x: Inputs, row: np.ndarray) -> bool:
        """The sampled elements of one sample into `row`; False when its shape is not the
        one the statistics describe."""
        if isinstance(x, np.ndarray) and len(self._plan) == 1:  # the common case, fast
            if x.size != self._plan[0].elements:
                return False
            np.take(x, self._positions[0], out=row, mode="clip")
            return True
        arrays = _as_list(x)
        if len(arrays) != len(self._plan):
            return False
        if any(a.size != spec.elements for a, spec in zip(arrays, self._plan, strict=True)):
            return False
        for a, pos, part in zip(arrays, self._positions, self._slices, strict=True):
            np.take(np.asarray(a, dtype=np.float32), pos, out=row[part], mode="clip")
        return True

    def _pool(self, rows: np.ndarray) -> np.ndarray:
        """(samples, features) means of the gathered elements of each feature."""
        parts = [
            rows[:, part].reshape(len(rows), spec.features, spec.per_feature).mean(axis=2)
            for spec, part in zip(self._plan, self._slices, strict=True)
        ]
        return np.concatenate(parts, axis=1, dtype=np.float64)

    def observe(
        self, x: Inputs, probabilities: np.ndarray | None, inference_s: float | None = None
    ) -> None:
        """Count one live prediction. With `inference_s` (what the inference took), an
        input past the first `WARMUP` (always looked at: probation needs an early signal) is
        looked at (binned, its confidence counted) only while the monitor's own measured
        cost stays within `DRIFT_BUDGET` of the inference time (a token bucket): on a model
        that runs in microseconds most inputs are skipped, on a camera model none is."""
        with self._lock:
            self.predictions += 1
            if inference_s is not None and self.predictions > WARMUP:
                # the bucket always holds one look's cost: one slow look (a busy device, a
                # pause) must not price every later input out of a cap it can never reach
                cap = max(CREDIT_CAP_S, self._cost_s)
                self._credit = min(self._credit + DRIFT_BUDGET * inference_s, cap)
                if self._credit < self._cost_s:
                    self.skipped += 1
                    return
                start = time.perf_counter()
            if probabilities is not None and probabilities.size:
                self._confidence_sum += float(probabilities.max())
                self._confidence_n += 1
            if self._plan and self._gather(x, self._buffer[self._buffered]):
                self._buffered += 1
                if self._buffered == BATCH:
                    self._bin_buffer()
            if inference_s is not None and self.predictions > WARMUP:
                spent = time.perf_counter() - start
                self._credit -= spent
                self._cost_s = spent if not self._cost_s else 0.9 * self._cost_s + 0.1 * spent

    def _bin_buffer(self) -> None:
        """Pool and bin the buffered samples into the counts (lock held)."""
        if not self._buffered:
            return
        feats = self._pool(self._buffer[: self._buffered])
        bins = (self._interior[None] <= feats[:, :, None]).sum(axis=2)
        cells = (bins + self._offsets).ravel()
        self._counts += np.bincount(cells, minlength=self._counts.size).reshape(self._counts.shape)
        self._buffered = 0

    def error(self) -> None:
        with self._lock:
            self.predictions += 1
            self.errors += 1

    def drift(self) -> float:
        with self._lock:
            self._bin_buffer()
            if not self._plan or self._counts.sum() == 0:
                return 0.0
            # Jeffreys smoothing (+0.5 per bin): with few samples most bins are empty, and
            # raw PSI of 20 in-distribution inputs is ~1.1, a false "drift spike"
            smoothed = self._counts + SMOOTHING * self._valid
            actual = smoothed / smoothed.sum(axis=1, keepdims=True)
            return float(psi(self._expected, actual).mean())

    def snapshot(self) -> Feedback:
        drift = self.drift()
        with self._lock:
            n = self.predictions
            seen = self._confidence_n
            return Feedback(
                drift=drift,
                error_rate=self.errors / n if n else 0.0,
                confidence=self._confidence_sum / seen if seen else 1.0,
                predictions=n,
            )
