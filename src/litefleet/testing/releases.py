"""Index entries for tests that build a `ReleaseIndex` by hand (selection, profile, hostile
paths): the release-format-2 fields with placeholder hashes."""

from __future__ import annotations

import hashlib

from litefleet.release import (
    GOLDEN_INPUTS,
    GOLDEN_REFERENCE,
    FileRef,
    GateSpec,
    release_file_path,
)


def release_fields(model: str, version: int, min_accuracy: float | None = 0.5) -> dict:
    """`golden_inputs`, `golden_reference` and `gate` keyword arguments of a `Release`."""

    def ref(name: str) -> FileRef:
        path = release_file_path(model, version, name)
        return FileRef(path=path, bytes=1, sha256=hashlib.sha256(path.encode()).hexdigest())

    return {
        "golden_inputs": ref(GOLDEN_INPUTS),
        "golden_reference": ref(GOLDEN_REFERENCE),
        "gate": GateSpec(min_accuracy=min_accuracy),
    }
