"""Golden files: the samples a device's health gate runs a release on, bounded in bytes.

Read by the device (gate), written by publish and the build; numpy only. Two files per
release (see `litefleet.release`):

- `golden-inputs.npz`: `in0`, `in1`, ... one array per model input (batch first), float32,
  or uint8 plus a scalar `in<i>_divisor` when `float32(q) / float32(divisor)` gives back
  the float32 inputs bit for bit (images scaled the usual way, `pixels / 255`: 4x
  smaller); `y` (int labels) only when labels exist. Reused across releases while the
  bytes stay the same.
- `golden-reference.npz`: `out0`, `out1`, ... this release's float reference outputs.

Writes are deterministic (fixed zip timestamps, sorted keys): the same arrays give the same
bytes, so an unchanged golden set has the same sha256 and publish reuses the earlier target.

    inputs, labels, reference = load_golden_files(inputs_path, reference_path)
"""

from __future__ import annotations

import io
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from litefleet.errors import UserError

UINT8_DIVISORS = (255.0, 256.0, 16.0, 128.0, 127.5, 1.0)
"""Divisors tried for storing float inputs as uint8 (kept only when the round trip is exact)."""


@dataclass(frozen=True)
class GoldenSet:
    """Golden samples in memory: inputs per model input, labels or None, outputs per output."""

    inputs: list[np.ndarray]
    labels: np.ndarray | None
    reference: list[np.ndarray]

    def __len__(self) -> int:
        return len(self.inputs[0]) if self.inputs else 0

    def take(self, idx: np.ndarray) -> GoldenSet:
        return GoldenSet(
            [a[idx] for a in self.inputs],
            None if self.labels is None else self.labels[idx],
            [a[idx] for a in self.reference],
        )


# --------------------------------------------------------------------------- reading


def load_golden_files(
    inputs_path: Path, reference_path: Path | None
) -> tuple[list[np.ndarray], np.ndarray | None, list[np.ndarray]]:
    """The gate's golden set: (inputs in input order as float32, labels or None, reference
    outputs in output order). Raises `UserError` naming an unreadable file."""
    inputs, labels, ref_in = _read(inputs_path)
    reference = ref_in
    if reference_path is not None:
        _, _, reference = _read(reference_path)
    return inputs, labels, reference


def load_golden_file(path: Path) -> GoldenSet:
    """A build folder's one-file `golden.npz` (new keys `in*`/`y`/`out*`, or the first
    format's `x`/`y`/`reference`)."""
    inputs, labels, reference = _read(path)
    return GoldenSet(inputs, labels, reference)


def golden_from_bytes(data: bytes) -> GoldenSet:
    inputs, labels, reference = _read(io.BytesIO(data))
    return GoldenSet(inputs, labels, reference)


def _read(source) -> tuple[list[np.ndarray], np.ndarray | None, list[np.ndarray]]:
    try:
        with np.load(source, allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as exc:
        raise UserError(f"golden set {_name(source)} is unreadable: {exc}") from None
    return _decode(arrays, _name(source))


def _decode(
    arrays: Mapping[str, np.ndarray], where: str
) -> tuple[list[np.ndarray], np.ndarray | None, list[np.ndarray]]:
    if "x" in arrays:  # the first format: one input, one output
        inputs = [np.asarray(arrays["x"], dtype=np.float32)]
        outputs = [arrays["reference"].astype(np.float32)] if "reference" in arrays else []
    else:
        inputs = [_input(arrays, i) for i in range(_count(arrays, "in"))]
        outputs = [arrays[f"out{i}"].astype(np.float32) for i in range(_count(arrays, "out"))]
    labels = arrays["y"].astype(np.int64).reshape(-1) if "y" in arrays else None
    n = {len(a) for a in inputs + outputs} | ({len(labels)} if labels is not None else set())
    if len(n) > 1:
        raise UserError(f"golden set {where}: arrays hold different sample counts {sorted(n)}")
    if not inputs and not outputs:
        raise UserError(f"golden set {where} holds no inputs (in0, ...) or outputs (out0, ...)")
    return inputs, labels, outputs


def _count(arrays: Mapping[str, np.ndarray], prefix: str) -> int:
    n = 0
    while f"{prefix}{n}" in arrays:
        n += 1
    return n


def _input(arrays: Mapping[str, np.ndarray], i: int) -> np.ndarray:
    a = arrays[f"in{i}"]
    divisor = arrays.get(f"in{i}_divisor")
    if divisor is not None:
        return a.astype(np.float32) / np.float32(divisor)
    return a.astype(np.float32, copy=False)


def _name(source) -> str:
    return str(source) if isinstance(source, str | Path) else "(bytes)"


# --------------------------------------------------------------------------- writing


def inputs_bytes(golden: GoldenSet) -> bytes:
    """`golden-inputs.npz` of `golden` (uint8 where exact), deterministic."""
    arrays: dict[str, np.ndarray] = {}
    for i, a in enumerate(golden.inputs):
        q, divisor = _as_uint8(a)
        if q is not None:
            arrays[f"in{i}"] = q
            arrays[f"in{i}_divisor"] = np.float32(divisor)
        else:
            arrays[f"in{i}"] = np.ascontiguousarray(a, dtype=np.float32)
    if golden.labels is not None:
        arrays["y"] = golden.labels.astype(np.int64)
    return npz_bytes(arrays)


def reference_bytes(golden: GoldenSet) -> bytes:
    """`golden-reference.npz` of `golden`, deterministic."""
    return npz_bytes({f"out{i}": a.astype(np.float32) for i, a in enumerate(golden.reference)})


def golden_file_bytes(golden: GoldenSet) -> bytes:
    """A build folder's one-file `golden.npz` (inputs stored as float32)."""
    arrays = {f"in{i}": a.astype(np.float32) for i, a in enumerate(golden.inputs)}
    arrays |= {f"out{i}": a.astype(np.float32) for i, a in enumerate(golden.reference)}
    if golden.labels is not None:
        arrays["y"] = golden.labels.astype(np.int64)
    return npz_bytes(arrays)


def npz_bytes(arrays: Mapping[str, np.ndarray]) -> bytes:
    """An `.npz` (deflate, level 1) whose bytes depend only on the arrays: fixed timestamps, sorted
    names (`np.savez_compressed` stamps the current time into the zip)."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name in sorted(arrays):
            info = zipfile.ZipInfo(f"{name}.npy", date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            one = io.BytesIO()
            np.lib.format.write_array(one, np.asanyarray(arrays[name]), allow_pickle=False)
            # level 1: image bytes barely compress further, and publish may try 3 sizes
            zf.writestr(info, one.getvalue(), compresslevel=1)
    return buf.getvalue()


def _as_uint8(a: np.ndarray) -> tuple[np.ndarray | None, float]:
    if a.dtype != np.float32 or not a.size or not np.isfinite(a).all():
        return None, 0.0
    lo, hi = float(a.min()), float(a.max())
    for divisor in UINT8_DIVISORS:
        if lo < 0 or hi * divisor > 255.5:
            continue
        q8 = np.rint(a * np.float32(divisor)).astype(np.uint8)
        if np.array_equal(q8.astype(np.float32) / np.float32(divisor), a):
            return q8, divisor
    return None, 0.0


# --------------------------------------------------------------------------- budget


def stratified_order(labels: np.ndarray | None, n: int) -> np.ndarray:
    """Sample order whose every prefix keeps the label mix: round-robin over the labels
    (in their first-seen order). Without labels, the samples as they are."""
    if labels is None:
        return np.arange(n)
    groups: dict[int, list[int]] = {}
    for i, y in enumerate(labels.tolist()):
        groups.setdefault(int(y), []).append(i)
    order: list[int] = []
    queues = list(groups.values())
    depth = max((len(q) for q in queues), default=0)
    for k in range(depth):
        order.extend(q[k] for q in queues if k < len(q))
    return np.asarray(order, dtype=np.int64)


@dataclass(frozen=True)
class Trimmed:
    golden: GoldenSet
    inputs: bytes
    reference: bytes
    dropped: int


def fit_budget(golden: GoldenSet, budget: int) -> Trimmed:
    """A stratified prefix of `golden` (the largest, give or take a sample) whose two files
    fit `budget` bytes together. Raises `UserError` when not even one sample fits."""
    n = len(golden)
    order = stratified_order(golden.labels, n)

    def files(k: int) -> tuple[GoldenSet, bytes, bytes]:
        g = golden.take(np.sort(order[:k]))
        return g, inputs_bytes(g), reference_bytes(g)

    k, per_sample = n, 0
    while k > 0:
        g, ib, rb = files(k)
        size = len(ib) + len(rb)
        per_sample = size // k
        if size <= budget:
            return Trimmed(g, ib, rb, n - k)
        # bytes grow about linearly with samples: jump near the answer (2-3 rounds), each
        # round strictly smaller so it ends; deflate makes a full search expensive
        k = min(k - 1, int(k * budget / size))
    raise UserError(
        f"golden budget of {budget} bytes holds not even one sample"
        f" (~{per_sample} bytes each): raise --golden-budget"
    )
