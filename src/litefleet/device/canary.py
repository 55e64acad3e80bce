"""The live canary: the previous version answers a sample of live inputs beside the new one.

A release can be exact on its golden set and wrong on what the device really sees; drift and
runtime errors never move for a model that is simply worse. So while a freshly activated
version is on probation, the runtime hands a sample of the app's live inputs, with the new
version's answers, to a `LiveCanary`. A background thread runs the previous version on them
and counts how often the two agree (same top class; for non-class outputs, outputs within
tolerance) and how the top-class confidence moved.

Off the app's latency path and within a budget:
- `offer()` only copies the arrays into a bounded queue (`put_nowait`): when the worker is
  behind, the sample is dropped, never waited for;
- the worker measures its own CPU time (`time.thread_time`) and skips samples while it has
  used more than `cpu_share` of one core since it started (default 0.1, taken of at least
  `cpu_window_s`, 10 s, so a burst right after the start is judged);
- `sample_rate` (default 1.0) draws which predictions are offered at all;
- the worker thread runs at the lowest CPU priority (nice 19, Linux), so on a busy device
  it waits for the app rather than the app for it.

The summary (`HOME/run/canary.json`: version, previous, samples, agreed, confidence of
both, dropped) is written every few seconds and at `close()`; probation judges it
(`canary_verdict`) and the agent reports it as a `canary` event.

The rule (`canary_verdict`): the release's expected live agreement `p0` is what the
publisher measured between the two versions on the golden inputs (`QualityRecord`), minus a
`margin` (0.05); with `n >= min_samples` (50) live samples and `k` agreements, the release
fails when the one-sided binomial z-score `(k/n - p0) / sqrt(p0 (1 - p0) / n)` is below
`-z` (3.09: a 0.1 % false-alarm rate per look for a release that truly agrees at `p0`; a
release that agrees as well as the golden set predicted sits `margin` above `p0`, where the
false-alarm rate per look is far smaller: about 1e-6 at n = 200 for p0 = 0.9).
"""

from __future__ import annotations

import contextlib
import math
import os
import queue
import random
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from pydantic import BaseModel, ConfigDict

from litefleet.fsutil import atomic_write_json, read_json
from litefleet.litert import LoadedModel


class CanaryRules(BaseModel):
    """The canary's settings (`config.json`'s `probation.canary`)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    enabled: bool = True
    sample_rate: float = 1.0
    """Share of live predictions offered to the canary."""
    cpu_share: float = 0.1
    """CPU the worker may use, as a share of one core since it started."""
    cpu_window_s: float = 10.0
    """The share is taken of at least this many seconds, so a burst of samples right after
    the start is judged (at 0.1: up to 1 s of CPU) instead of dropped because a
    millisecond-old worker has, by the ratio, already used its share."""
    queue_size: int = 64
    min_samples: int = 50
    margin: float = 0.05
    """How far below the golden-set agreement live agreement may fall before it is judged."""
    z: float = 3.09
    """One-sided z threshold (3.09: 0.1 % false alarms per look at exactly `p0`)."""
    default_agreement: float = 0.9
    """Expected agreement when the publisher measured none for this pair of versions."""
    atol: float = 0.05
    """Non-class outputs: an answer agrees when every element is within `atol` (scaled by
    the previous answer's range)."""


@dataclass
class CanarySummary:
    version: int
    previous: int
    samples: int = 0
    agreed: int = 0
    confidence_new: float = 0.0
    """Sum of the new version's top-class confidence over the samples."""
    confidence_old: float = 0.0
    dropped: int = 0
    """Samples not judged: the queue was full or the CPU budget was used up."""

    @property
    def agreement(self) -> float:
        return self.agreed / self.samples if self.samples else 1.0

    @property
    def confidence_delta(self) -> float:
        if not self.samples:
            return 0.0
        return (self.confidence_new - self.confidence_old) / self.samples

    def metrics(self) -> dict[str, float]:
        """The `canary` telemetry event's metrics."""
        return {
            "agreement": round(self.agreement, 4),
            "samples": float(self.samples),
            "confidence_delta": round(self.confidence_delta, 4),
            "previous": float(self.previous),
            "dropped": float(self.dropped),
        }


def canary_path(home: Path) -> Path:
    return Path(home) / "run" / "canary.json"


def read_canary(home: Path, version: int | None) -> CanarySummary | None:
    data = read_json(canary_path(home)) or {}
    if version is None or data.get("version") != version:
        return None
    try:
        return CanarySummary(**data)
    except TypeError:
        return None


def canary_verdict(
    summary: CanarySummary | None, expected: float | None, rules: CanaryRules
) -> tuple[bool, str]:
    """(failed, reason): the statistical rule of the module doc."""
    if summary is None or summary.samples < rules.min_samples:
        return False, ""
    p0 = min(0.999, max(0.0, (expected if expected is not None else rules.default_agreement)))
    p0 = max(0.0, p0 - rules.margin)
    n, p = summary.samples, summary.agreement
    if p0 <= 0:
        return False, ""
    z = (p - p0) / math.sqrt(p0 * (1 - p0) / n)
    if z >= -rules.z:
        return False, ""
    golden = "" if expected is None else f", golden set predicted {expected:.3f}"
    return True, (
        f"live agreement with version {summary.previous} {p:.3f} over {n} inputs{golden}"
        f" (z = {z:.1f} < -{rules.z:g} against {p0:.3f})"
    )


class LiveCanary:
    """The previous version beside the new one on a sample of live inputs (module doc)."""

    def __init__(
        self,
        home: Path,
        version: int,
        previous: int,
        previous_model: bytes,
        rules: CanaryRules | None = None,
        flush_every: float = 2.0,
        rng: random.Random | None = None,
    ) -> None:
        self.home = Path(home)
        self.rules = rules or CanaryRules()
        self.version = version
        self.summary = CanarySummary(version=version, previous=previous)
        self._model_bytes = previous_model
        self._queue: queue.Queue = queue.Queue(maxsize=self.rules.queue_size)
        self._rng = rng or random.Random()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._flush_every = flush_every
        self._over_budget = False
        """Set by the worker while it has used its CPU share: `offer` then drops at once."""
        self.cpu_s = 0.0
        """CPU seconds the worker spent judging (its own thread's time): the canary's cost."""
        self._thread = threading.Thread(target=self._work, name="litefleet-canary", daemon=True)
        self._thread.start()

    def offer(self, x: np.ndarray, y: np.ndarray) -> None:
        """Hand one prediction (inputs, the new version's outputs) to the canary; never
        blocks (a full queue drops the sample)."""
        if self._rng.random() >= self.rules.sample_rate:
            return
        if self._over_budget or self._queue.full():  # skip before copying anything
            with self._lock:
                self.summary.dropped += 1
            return
        try:
            self._queue.put_nowait((np.array(x, np.float32, copy=True), np.array(y, copy=True)))
        except queue.Full:
            with self._lock:
                self.summary.dropped += 1

    def drain(self, timeout: float) -> bool:
        """Wait until every sample already queued is judged (or dropped by the budget);
        False when `timeout` passed first. For a caller that wants the verdict on what it
        offered (an app about to exit, a test on a busy machine): the worker runs at nice 19
        and may be far behind."""
        deadline = time.monotonic() + timeout
        done = self._queue.all_tasks_done
        with done:
            while self._queue.unfinished_tasks:
                left = deadline - time.monotonic()
                if left <= 0 or not self._thread.is_alive():  # closed: nothing will judge
                    return False
                done.wait(min(left, 0.5))
        return True

    def close(self, timeout: float = 5.0) -> None:
        """Stop the worker and write the summary."""
        self._stop.set()
        with contextlib.suppress(queue.Full):
            self._queue.put_nowait(None)
        self._thread.join(timeout)
        self.flush()

    def flush(self) -> None:
        with self._lock:
            data = asdict(self.summary)
        with contextlib.suppress(OSError):
            atomic_write_json(canary_path(self.home), data)

    def _work(self) -> None:
        with contextlib.suppress(OSError, AttributeError):  # Linux: this thread only
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 19)  # never the app's CPU
        model = LoadedModel(self._model_bytes)
        started_cpu, started = time.thread_time(), time.monotonic()
        next_flush = started + self._flush_every
        while not self._stop.is_set():
            try:
                item = self._queue.get(timeout=0.5)
            except queue.Empty:
                item = ()
                self._over_budget = self._over_share(started_cpu, started)
            if item is None:
                self._queue.task_done()
                break
            if item:
                try:
                    self._take(model, item, started_cpu, started)
                finally:
                    self._queue.task_done()
            if time.monotonic() >= next_flush:
                next_flush = time.monotonic() + self._flush_every
                self.flush()

    def _take(self, model: LoadedModel, item: tuple, started_cpu: float, started: float) -> None:
        """Judge one queued sample, or drop it while the worker is over its CPU share."""
        over = self._over_share(started_cpu, started)
        self._over_budget = over
        if over:
            with self._lock:
                self.summary.dropped += 1  # over budget: skip, never slow the app
            return
        before = time.thread_time()
        self._judge(model, *item)
        self.cpu_s += time.thread_time() - before

    def _over_share(self, started_cpu: float, started: float) -> bool:
        used = time.thread_time() - started_cpu
        window = max(self.rules.cpu_window_s, time.monotonic() - started)
        return used > self.rules.cpu_share * window

    def _judge(self, model: LoadedModel, x: np.ndarray, y_new: np.ndarray) -> None:
        try:
            y_old = np.asarray(model.predict(x))
        except Exception:  # the previous version cannot judge this input: not a sample
            with self._lock:
                self.summary.dropped += 1
            return
        new = y_new.reshape(-1, y_new.shape[-1]) if y_new.ndim > 1 else y_new[None]
        old = y_old.reshape(-1, y_old.shape[-1]) if y_old.ndim > 1 else y_old[None]
        if new.shape != old.shape:
            return
        agreed, conf_new, conf_old = _compare(new, old, self.rules.atol)
        with self._lock:
            s = self.summary
            s.samples += len(new)
            s.agreed += agreed
            s.confidence_new += conf_new
            s.confidence_old += conf_old


def _compare(new: np.ndarray, old: np.ndarray, atol: float) -> tuple[int, float, float]:
    """(rows that agree, summed top confidence of new, of old) for a batch of outputs."""
    if new.shape[-1] > 1:
        agreed = int((new.argmax(axis=1) == old.argmax(axis=1)).sum())
        return agreed, float(_top_prob(new).sum()), float(_top_prob(old).sum())
    scale = max(1e-6, float(np.ptp(old)) if old.size > 1 else float(np.abs(old).max()) or 1.0)
    agreed = int((np.abs(new - old) <= atol * scale).all(axis=1).sum())
    return agreed, 0.0, 0.0


def _top_prob(y: np.ndarray) -> np.ndarray:
    """Top-class probability (softmax unless the rows already sum to 1)."""
    y = y.astype(np.float64)
    if np.all(y >= 0) and np.allclose(y.sum(axis=1), 1.0, atol=1e-3):
        return y.max(axis=1)
    e = np.exp(y - y.max(axis=1, keepdims=True))
    return (e / e.sum(axis=1, keepdims=True)).max(axis=1)
