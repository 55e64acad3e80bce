"""Hold back what native code prints straight to file descriptors 1 and 2.

LiteRT prints "INFO: Created TensorFlow Lite XNNPACK delegate for CPU." from C++ when an
interpreter is created, whatever `TF_CPP_MIN_LOG_LEVEL` says; TensorFlow and its converter do
the same during import and conversion. Python's `sys.stderr` cannot catch these lines, so the
descriptors themselves point at a temporary file for the duration; what was printed is handed
back (for an error message). Imports nothing heavy: the build side and the device side both
use it. `LITEFLEET_VERBOSE=1` (`--verbose`) lets everything through.

    with held_native_output() as captured:
        interpreter = Interpreter(model_path=path)
    # captured["text"] holds the held-back lines
"""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile
import warnings
from collections.abc import Iterator

VERBOSE_ENV = "LITEFLEET_VERBOSE"


def verbose() -> bool:
    return os.environ.get(VERBOSE_ENV, "") not in ("", "0")


@contextlib.contextmanager
def held_native_output() -> Iterator[dict[str, str]]:
    """Hold back what native code prints to fds 1 and 2; `captured["text"]` has it after."""
    captured: dict[str, str] = {}
    if verbose():
        yield captured
        return
    sys.stdout.flush()
    sys.stderr.flush()
    saved = (os.dup(1), os.dup(2))
    with tempfile.TemporaryFile(mode="w+b") as sink:
        os.dup2(sink.fileno(), 1)
        os.dup2(sink.fileno(), 2)
        try:
            with warnings.catch_warnings(), contextlib.redirect_stdout(sys.stderr):
                warnings.simplefilter("ignore")
                yield captured
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            os.close(saved[0])
            os.close(saved[1])
            sink.seek(0)
            captured["text"] = sink.read().decode(errors="replace")
