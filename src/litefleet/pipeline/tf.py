"""The one way the pipeline imports TensorFlow: Keras 2 (`tf_keras`), quiet logs.

tfmot supports only Keras 2 models, so `TF_USE_LEGACY_KERAS=1` must be set before the
first `import tensorflow`; every pipeline module imports `tf`, `keras` and `tfmot()` from
here. tfmot (2.7 s of import) is imported by `tfmot()` when a build prunes or quantizes, and
Keras 3 (the `keras` package, for users' Keras 3 models) by `keras3()` only when such a
model is loaded: a build that stops at bad input, or converts a finished model, pays neither.
"""

import functools
import os

from litefleet.pipeline.quiet import (
    held_native_output,
    quiet_python_loggers,
    quiet_tensorflow,
    verbose,
)

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
quiet_tensorflow(verbose())

# TF 2.21 logs through absl before its log level is read ("oneDNN custom operations",
# "Could not find cuda drivers"): only holding back fd 2 during the import hides them.
with held_native_output():
    import tensorflow as tf
    import tf_keras as keras

quiet_python_loggers()
tf.get_logger().setLevel("ERROR")


@functools.cache
def tfmot():
    """The TensorFlow Model Optimization Toolkit (pruning, QAT), imported on first use."""
    with held_native_output():
        import tensorflow_model_optimization

    return tensorflow_model_optimization


def keras3():
    """The Keras 3 package (TensorFlow backend), beside tf_keras in the same process."""
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    with held_native_output():
        import keras as keras_3

    return keras_3


__all__ = ["keras", "keras3", "tf", "tfmot"]
