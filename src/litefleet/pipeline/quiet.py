"""Keep TensorFlow's, absl's and LiteRT's log lines off the user's terminal.

TensorFlow reads `TF_CPP_MIN_LOG_LEVEL` once, when its C++ library loads: it must be set
before the first `import tensorflow` (level 3 also hides `E0000 … cuInit` on a machine
without a GPU). The LiteRT interpreter and the converter print from C++ straight to file
descriptor 2 ("Created TensorFlow Lite XNNPACK delegate for CPU."), which Python's
`sys.stderr` cannot catch: `held_native_output` points fds 1 and 2 at a temporary file
for the duration and hands back what was printed, for an error message.

`--verbose` sets `LITEFLEET_VERBOSE=1`, which turns all of this off.
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


def quiet_tensorflow(be_verbose: bool = False) -> None:
    """Set the log levels TensorFlow reads at import; call before anything imports it."""
    if be_verbose:
        os.environ[VERBOSE_ENV] = "1"
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "0")
        return
    os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
    os.environ.setdefault("GRPC_VERBOSITY", "ERROR")
    os.environ.setdefault("GLOG_minloglevel", "3")
    warnings.filterwarnings("ignore", category=DeprecationWarning)
    warnings.filterwarnings("ignore", category=UserWarning, module=r"(keras|tf_keras|ai_edge)")


def quiet_python_loggers() -> None:
    """After TensorFlow's import: absl and the `tensorflow` logger speak only on errors."""
    if verbose():
        return
    import logging

    with contextlib.suppress(ImportError):
        import absl.logging

        absl.logging.set_verbosity(absl.logging.ERROR)
    logging.getLogger("tensorflow").setLevel(logging.ERROR)


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
