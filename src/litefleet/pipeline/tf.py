"""The one way the pipeline imports TensorFlow: Keras 2 (`tf_keras`), quiet logs.

tfmot supports only Keras 2 models, so `TF_USE_LEGACY_KERAS=1` must be set before the
first `import tensorflow`; every pipeline module imports `tf`, `keras` and `tfmot` from here.
"""

import os
import warnings

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
warnings.filterwarnings("ignore", category=DeprecationWarning)

import tensorflow as tf  # noqa: E402
import tensorflow_model_optimization as tfmot  # noqa: E402
import tf_keras as keras  # noqa: E402

tf.get_logger().setLevel("ERROR")

__all__ = ["keras", "tf", "tfmot"]
