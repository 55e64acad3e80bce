"""Check a build folder before anything is signed: the report, the hashes, real TFLite files.

Everything `litefleet publish` signs comes from here, so a folder that fails any check is
refused as a whole (a `UserError` naming the problem) before the repository is touched.
"""

from __future__ import annotations

import hashlib
import importlib.util
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path

from pydantic import ValidationError

from litefleet.errors import UserError
from litefleet.golden import GoldenSet, golden_from_bytes
from litefleet.release import BUILD_REPORT, NAME_PATTERN, BuildReport, CandidateReport

NAME_RE = re.compile(NAME_PATTERN)
"""Model, variant and channel names: safe as a path segment and as a telemetry field."""

TFLITE_IDENTIFIER = b"TFL3"


@dataclass(frozen=True)
class Build:
    """A validated build folder: its report and the bytes of every file to publish."""

    report: BuildReport
    files: dict[str, bytes]
    """Variant name -> `.tflite` bytes."""
    golden: GoldenSet
    """The build's golden samples (publish trims them to the golden budget)."""


def check_name(kind: str, value: str) -> str:
    if not NAME_RE.match(value):
        raise UserError(f"invalid {kind} name {value!r}: use letters, digits, '.', '_', '-'")
    return value


def load_build(
    folder: Path, load_interpreter: bool = True, check_timeout_s: float | None = None
) -> Build:
    """Parse `report.json` and check every file it names; refuse the folder on any doubt."""
    folder = Path(folder)
    if not folder.is_dir():
        raise UserError(f"build folder {folder} does not exist")
    report_file = folder / BUILD_REPORT
    if not report_file.is_file():
        raise UserError(f"{folder} has no {BUILD_REPORT}: not a build folder")
    try:
        report = BuildReport.model_validate_json(report_file.read_bytes())
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        msg = f"{report_file} is not a valid build report: {where}: {first['msg']}"
        raise UserError(msg) from exc
    if not report.candidates:
        raise UserError(f"{report_file} lists no model files")
    files: dict[str, bytes] = {}
    for cand in report.candidates:
        check_name("variant", cand.name)
        if cand.name in files:
            raise UserError(f"variant {cand.name!r} appears twice in {report_file}")
        files[cand.name] = _check_tflite(folder, cand, load_interpreter, check_timeout_s)
    golden = read_golden(report.golden, _read_inside(folder, report.golden), report)
    return Build(report=report, files=files, golden=golden)


def _read_inside(folder: Path, name: str) -> bytes:
    path = (folder / name).resolve()
    if not path.is_relative_to(folder.resolve()):
        raise UserError(f"{name!r} points outside the build folder")
    if not path.is_file():
        raise UserError(f"{name} is missing from {folder}")
    return path.read_bytes()


def _check_tflite(
    folder: Path, cand: CandidateReport, load_interpreter: bool, timeout_s: float | None
) -> bytes:
    data = _read_inside(folder, cand.file)
    if data[4:8] != TFLITE_IDENTIFIER:
        raise UserError(f"{cand.file} is not a TFLite model (no {TFLITE_IDENTIFIER!r} identifier)")
    digest = hashlib.sha256(data).hexdigest()
    if digest != cand.sha256:
        raise UserError(f"{cand.file}: sha256 {digest[:12]}… does not match the report")
    if len(data) != cand.raw_bytes:
        raise UserError(f"{cand.file}: {len(data)} bytes, the report says {cand.raw_bytes}")
    if load_interpreter:
        _check_loads(cand.file, data, timeout_s)
    return data


def _check_loads(name: str, data: bytes, timeout_s: float | None = None) -> None:
    """Load, allocate and run the exact bytes to be signed once, in a child process with
    limits (`litefleet.sandbox`): a corrupt, crashing, looping or memory-eating file is
    refused here with the reason (signal, timeout, LiteRT's error), not on a device."""
    if importlib.util.find_spec("ai_edge_litert") is None:  # a server without LiteRT
        return
    from litefleet.modelcheck import PUBLISH_LIMITS, check_model_isolated
    from litefleet.sandbox import Limits

    limits = PUBLISH_LIMITS
    if timeout_s is not None:
        limits = Limits(wall_s=timeout_s, cpu_s=timeout_s, memory_mb=limits.memory_mb)

    with tempfile.TemporaryDirectory(prefix="litefleet-check-") as tmp:
        path = Path(tmp) / "model.tflite"
        path.write_bytes(data)
        outcome = check_model_isolated(path, limits)
    if not outcome.ok:
        reason = " ".join(outcome.reason.split())  # one line, whatever LiteRT printed
        raise UserError(f"{name} refused: does not load and run in LiteRT: {reason}")


def read_golden(name: str, data: bytes, report: BuildReport) -> GoldenSet:
    """The build's golden set, checked against the model it is for: one input array per
    model input with the input's shape, one reference output per model output, labels
    (when present) one per sample. Old folders (`x`, `y`, `reference`) still read."""
    golden = golden_from_bytes(data)  # UserError naming the file when unreadable
    sig = report.candidates[0].signature
    if not len(golden):
        raise UserError(f"{name} holds no samples")
    if len(golden.inputs) != len(sig.inputs):
        raise UserError(
            f"{name} holds {len(golden.inputs)} input arrays, the model takes {len(sig.inputs)}"
        )
    for i, (a, t) in enumerate(zip(golden.inputs, sig.inputs, strict=True)):
        if list(a.shape[1:]) != list(t.shape[1:]):
            raise UserError(
                f"{name}: input {i} samples have shape {list(a.shape[1:])},"
                f" the model's input {t.name!r} takes {t.shape[1:]}"
            )
    if len(golden.reference) != len(sig.outputs):
        raise UserError(
            f"{name} holds {len(golden.reference)} reference outputs (out0, ...),"
            f" the model has {len(sig.outputs)}"
        )
    return golden
