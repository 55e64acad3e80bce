"""`ModelRuntime(home).predict(x)`: the app's entry point, with hot swap.

Every call reads one immutable *generation* (version, file bytes, drift monitor) and runs
it start to finish in this thread's own interpreter, so a request is never mixed between
two models. A call notices a newly activated model by a `stat` of the `active` pointer
(its inode changes on every `os.replace`); the first call to see it loads the new
generation, older calls finish on the old one, and no call fails because of the switch.

Feedback (drift, confidence, errors) goes to `HOME/run/feedback.json` every few seconds
for the agent's smart policy and probation; inference never waits for the agent. `close()`,
leaving a `with` block and interpreter exit flush what is left, so a short-lived app that
makes ten predictions and quits still tells the agent about them.

    with ModelRuntime(home) as rt:
        y = rt.predict(x)              # the first output
        outputs = rt.run(x)            # every output by name; x may be a list or dict of inputs
"""

from __future__ import annotations

import atexit
import contextlib
import itertools
import os
import threading
import time
import weakref
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from litefleet.card import class_name, read_card, to_input
from litefleet.device.canary import LiveCanary
from litefleet.device.store import Manifest, ModelStore
from litefleet.drift import DriftMonitor
from litefleet.errors import UserError
from litefleet.fsutil import atomic_write_json, read_json
from litefleet.litert import Inputs, LoadedModel
from litefleet.release import CARD_FILE, ModelCard

_ids = itertools.count(1)


@dataclass(frozen=True)
class Generation:
    id: int
    version: int
    path: Path
    content: bytes
    manifest: Manifest
    monitor: DriftMonitor
    stamp: tuple[int, int]
    card: ModelCard | None = None
    """The version's `card.json` (class names, preprocessing), None when it has none."""


@dataclass(frozen=True)
class Classified:
    """One sample's answer in the app's terms: the class name, not an index."""

    label: str
    index: int
    score: float
    version: int
    """The model version that answered."""


def feedback_path(home: Path) -> Path:
    return Path(home) / "run" / "feedback.json"


class ModelRuntime:
    """The active model of a device home, for the app: `predict`, hot swap, feedback.

    Args:
        home: the agent's home folder (after `litefleet agent init` and a first check).
        num_threads: LiteRT threads per interpreter (one interpreter per calling thread).
        feedback_every: seconds between feedback writes while predicting.

    Raises:
        UserError: no model is active in `home` yet.

    Example:
        >>> with ModelRuntime("/var/lib/litefleet") as rt:
        ...     y, version = rt.predict_with_version(x)
    """

    def __init__(self, home: Path, num_threads: int = 1, feedback_every: float = 2.0) -> None:
        self.home = Path(home)
        self.store = ModelStore(self.home, recover=False)
        self.num_threads = num_threads
        self.feedback_every = feedback_every
        self._pointer = str(self.store.pointer_path)
        self._swap = threading.Lock()
        self._flush = threading.Lock()
        self._local = threading.local()
        self._gen: Generation | None = None
        self._next_flush = time.monotonic() + feedback_every
        self.swaps = 0
        self._unflushed = False
        self.canary: LiveCanary | None = None
        """The previous version beside a version on probation (`device/canary.py`)."""
        self._refresh()
        if self._gen is None:
            raise UserError(f"no active model in {self.home}: run `litefleet agent check` first")
        # a weak reference: the exit hook must not keep a dropped runtime alive
        ref = weakref.ref(self)
        self._atexit = lambda: (rt := ref()) is not None and rt.close()
        atexit.register(self._atexit)

    def refresh(self) -> int | None:
        """Load the newly activated model now (a predict does it by itself); returns the
        version loaded."""
        self._refresh()
        return self.version

    def close(self) -> None:
        """Write the feedback not yet written. Safe to call twice; predict still works."""
        if self._unflushed:
            with self._flush, contextlib.suppress(OSError):
                self.flush_feedback()
        self._stop_canary()
        atexit.unregister(self._atexit)

    def __enter__(self) -> ModelRuntime:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def version(self) -> int | None:
        return self._gen.version if self._gen else None

    @property
    def manifest(self) -> Manifest | None:
        return self._gen.manifest if self._gen else None

    @property
    def card(self) -> ModelCard | None:
        """The active version's card (class names, the build's preprocessing), if any."""
        return self._gen.card if self._gen else None

    @property
    def classes(self) -> list[str]:
        """Class names in output order (empty when the release recorded none)."""
        card = self.card
        return list(card.class_names) if card else []

    def preprocess_image(self, image: Path) -> np.ndarray:
        """A raw image file as the model's input, as the build prepared its images (size,
        colour, scale from the card); needs Pillow, else the error says what to pass."""
        self._refresh()
        card = self.card
        if card is None:
            raise UserError(
                f"version {self.version} has no card.json: decode the image yourself and call "
                "predict with the array"
            )
        return to_input(card, Path(image))

    def classify(self, x: Inputs) -> Classified:
        """One sample (an array the model takes) -> the top class of the class output."""
        outputs, version = self.run_with_version(x)
        card = self._gen.card if self._gen else None
        scores = np.asarray(next(iter(outputs.values()))).reshape(-1)
        index = int(scores.argmax())
        return Classified(class_name(card, index), index, float(scores[index]), version)

    def classify_image(self, image: Path) -> Classified:
        """A raw image file -> its class name, applying the recorded preprocessing."""
        return self.classify(self.preprocess_image(image))

    def predict(self, x: Inputs) -> np.ndarray:
        """The first output only (the single-output convenience); see `run`."""
        y, _ = self.predict_with_version(x)
        return y

    def predict_with_version(self, x: Inputs) -> tuple[np.ndarray, int]:
        """The first output and the version that answered."""
        outputs, version = self.run_with_version(x)
        return next(iter(outputs.values())), version

    def run(self, inputs: Inputs) -> dict[str, np.ndarray]:
        """Every output by tensor name, for one sample or a batch.

        `inputs` is one array (single-input model), a list in the model's input order or a
        dict by input name, each with or without the batch axis; the outputs keep the batch
        axis exactly when the inputs had it. Quantized variants take and return floats."""
        outputs, _ = self.run_with_version(inputs)
        return outputs

    def run_with_version(self, inputs: Inputs) -> tuple[dict[str, np.ndarray], int]:
        """`run`, and the version that answered (the whole call used that one)."""
        self._refresh()
        gen = self._gen
        assert gen is not None
        model = self._model(gen)
        try:
            arrays, batched = model.arrange(inputs)
            samples = zip(*arrays, strict=True) if batched else [arrays]
            rows = []
            for sample in samples:
                start = time.perf_counter()
                row = model.run_sample(sample)
                took = time.perf_counter() - start
                # every input, pooled, within the monitor's share of the inference time
                gen.monitor.observe(
                    sample[0] if len(sample) == 1 else list(sample), row[0], inference_s=took
                )
                rows.append(row)
        except Exception:
            gen.monitor.error()
            self._unflushed = True
            raise
        canary = self.canary
        if canary is not None and canary.version == gen.version and len(arrays) == 1:
            # a queue put: the previous version runs in its own thread (first output)
            first = np.stack([r[0] for r in rows]) if batched else rows[0][0]
            canary.offer(arrays[0], first)
        self._unflushed = True
        self._maybe_flush(gen)
        names = model.output_names
        if not batched:
            return dict(zip(names, rows[0], strict=True)), gen.version
        return {n: np.stack([r[k] for r in rows]) for k, n in enumerate(names)}, gen.version

    # ------------------------------------------------------------------ hot swap

    def _stamp(self) -> tuple[int, int] | None:
        try:
            st = os.stat(self._pointer)
        except FileNotFoundError:
            return None
        return st.st_ino, st.st_mtime_ns

    def _refresh(self) -> None:
        stamp = self._stamp()
        gen = self._gen
        if stamp is None or (gen is not None and gen.stamp == stamp):
            return
        with self._swap:
            gen = self._gen
            if gen is not None and gen.stamp == stamp:
                return
            new = self._load(stamp)
            if new is not None:
                changed = self._gen is None or self._gen.version != new.version
                self._gen = new
                self.swaps += 1
                if changed:
                    self._start_canary(new.version)

    def _load(self, stamp: tuple[int, int]) -> Generation | None:
        pointer = self.store.read_pointer()
        if pointer is None:
            return None
        version, path = pointer
        if self._gen is not None and self._gen.version == version:
            # same version re-pointed (e.g. recovery rewrote the file): keep the generation
            return Generation(**{**self._gen.__dict__, "stamp": stamp})
        try:
            content = path.read_bytes()
            manifest = self.store.manifest(version)
            model = LoadedModel(content, self.num_threads)
        except (OSError, UserError):
            # never fail a request over a bad switch: keep serving the current model
            return None
        try:
            card = read_card(path.parent / CARD_FILE)
        except (OSError, UserError):
            card = None  # an unreadable card costs the names, never the model
        gen = Generation(
            id=next(_ids),
            version=version,
            path=path,
            content=content,
            manifest=manifest,
            monitor=DriftMonitor(self.store.drift_stats(version)),
            stamp=stamp,
            card=card,
        )
        self._local_models()[gen.id] = model
        return gen

    def _local_models(self) -> dict[int, LoadedModel]:
        models = getattr(self._local, "models", None)
        if models is None:
            models = self._local.models = {}
        return models

    def _model(self, gen: Generation) -> LoadedModel:
        models = self._local_models()
        model = models.get(gen.id)
        if model is None:
            for old in [k for k in models if k != gen.id]:
                del models[old]
            model = models[gen.id] = LoadedModel(gen.content, self.num_threads)
        return model

    # ------------------------------------------------------------------ live canary

    def _start_canary(self, version: int) -> None:
        """Run the previous version beside `version` while it is on probation."""
        self._stop_canary()
        p = self.store.state().probation
        if p is None or p.version != version or p.previous is None:
            return
        try:
            previous = self.store.model_path(p.previous).read_bytes()
        except (OSError, UserError):
            return  # the previous version is gone: no canary, probation judges the rest
        self.canary = LiveCanary(self.home, version, p.previous, previous)

    def _stop_canary(self) -> None:
        canary, self.canary = self.canary, None
        if canary is not None:
            canary.close()

    def _canary_still_wanted(self) -> None:
        canary = self.canary
        if canary is None:
            return
        with contextlib.suppress(OSError, ValueError):
            p = self.store.state().probation
            if p is None or p.version != canary.version:
                # probation ended: the app pays for nothing more (closed off its thread)
                self.canary = None
                threading.Thread(target=canary.close, daemon=True).start()

    # ------------------------------------------------------------------ feedback

    def _maybe_flush(self, gen: Generation) -> None:
        if time.monotonic() < self._next_flush or not self._flush.acquire(blocking=False):
            return
        try:
            self._next_flush = time.monotonic() + self.feedback_every
            self.flush_feedback(gen)
            self._canary_still_wanted()
        finally:
            self._flush.release()

    def flush_feedback(self, gen: Generation | None = None) -> None:
        gen = gen or self._gen
        if gen is None:
            return
        self._unflushed = False
        fb = gen.monitor.snapshot()
        atomic_write_json(
            feedback_path(self.home),
            {
                "version": gen.version,
                "drift": fb.drift,
                "error_rate": fb.error_rate,
                "confidence": fb.confidence,
                "predictions": fb.predictions,
                "time": time.time(),
            },
        )


def read_feedback(home: Path, version: int | None):
    """The runtime's last feedback for `version` (empty feedback for another version)."""
    from litefleet.drift import Feedback

    data = read_json(feedback_path(home)) or {}
    if data.get("version") != version:
        return Feedback()
    return Feedback(
        drift=float(data.get("drift", 0.0)),
        error_rate=float(data.get("error_rate", 0.0)),
        confidence=float(data.get("confidence", 1.0)),
        predictions=int(data.get("predictions", 0)),
    )
