"""Binary delta patches between two versions of a model file (bsdiff4).

A patch is only worth publishing when it is smaller than the file it rebuilds: a last-layer
fine-tune changes a few kilobytes of a model, a full retrain changes almost every weight.
The device applies a patch to the file it already runs and must then get exactly the bytes
the signed `.tflite` target names (length + sha256); on any mismatch it downloads the full
file. Patches are signed targets too, so a tampered patch is refused before it is applied.
Neutral: the registry makes patches, the device applies them, through this one module.
"""

from __future__ import annotations

import bsdiff4


def make_patch(old: bytes, new: bytes) -> bytes:
    """A bsdiff4 patch that turns `old` into `new`."""
    return bsdiff4.diff(old, new)


def apply_patch(old: bytes, patch: bytes) -> bytes:
    """Rebuild the new file from `old` and a patch (verify the result against metadata)."""
    return bsdiff4.patch(old, patch)


def worthwhile_patch(old: bytes, new: bytes, max_ratio: float = 1.0) -> bytes | None:
    """The patch from `old` to `new`, or None when it is not smaller than `max_ratio` x new."""
    patch = make_patch(old, new)
    return patch if len(patch) < max_ratio * len(new) else None
