"""Keep TensorFlow's, absl's and LiteRT's log lines off the user's terminal.

TensorFlow reads `TF_CPP_MIN_LOG_LEVEL` once, when its C++ library loads: it must be set
before the first `import tensorflow` (level 3 also hides `E0000 … cuInit` on a machine
without a GPU). The LiteRT interpreter and the converter print from C++ straight to file
descriptor 2 ("Created TensorFlow Lite XNNPACK delegate for CPU."), which Python's
`sys.stderr` cannot catch: `litefleet.native_output.held_native_output` (neutral: the
device side may use it too) holds them back.

`--verbose` sets `LITEFLEET_VERBOSE=1`, which turns all of this off.
"""

from __future__ import annotations

import contextlib
import os
import warnings

from litefleet.native_output import VERBOSE_ENV, held_native_output, verbose

__all__ = ["held_native_output", "quiet_python_loggers", "quiet_tensorflow", "verbose"]


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
