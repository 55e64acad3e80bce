"""Write tiny real `.tflite` models for the device tests (run in a subprocess: uses TF).

A nearest-centroid classifier over 8 features and 3 classes, written as weights (no
training, so it is fast and deterministic): logits = x @ C.T - |C|^2 / 2, softmax.
`python make_models.py OUT` writes OUT/<name>-<precision>.tflite and OUT/data.npz.
"""

import os
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np
import tensorflow as tf

FEATURES, CLASSES = 8, 3


def centroids(seed: int) -> np.ndarray:
    base = np.random.default_rng(0).normal(0, 2.0, (CLASSES, FEATURES))
    return base + np.random.default_rng(seed).normal(0, 0.05, base.shape)


def convert(w: np.ndarray, b: np.ndarray, precision: str, calib: np.ndarray, n_in: int) -> bytes:
    w_t = tf.constant(w.astype(np.float32))
    b_t = tf.constant(b.astype(np.float32))

    @tf.function(input_signature=[tf.TensorSpec([1, n_in], tf.float32)])
    def f(x):
        h = tf.matmul(x, w_t) + b_t
        return tf.nn.softmax(h)

    conv = tf.lite.TFLiteConverter.from_concrete_functions([f.get_concrete_function()], f)
    if precision == "int8":
        conv.optimizations = [tf.lite.Optimize.DEFAULT]

        def rep():
            for row in calib[:200]:
                yield [row[None].astype(np.float32)]

        conv.representative_dataset = rep
        conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        conv.inference_input_type = tf.int8
        conv.inference_output_type = tf.int8
    return conv.convert()


def main(out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(1)
    c0 = centroids(0)
    y = rng.integers(0, CLASSES, 600)
    x = (c0[y] + rng.normal(0, 1.0, (600, FEATURES))).astype(np.float32)
    np.savez(out / "data.npz", x=x, y=y, centroids=c0)
    specs = {f"v{s}": centroids(s) for s in (1, 2, 3, 4, 5)}
    specs["bad"] = centroids(0)[[1, 2, 0]]  # classes permuted: accuracy near zero
    for name, c in specs.items():
        w, b = c.T, -0.5 * (c**2).sum(axis=1)
        for precision in ("float32", "int8"):
            (out / f"{name}-{precision}.tflite").write_bytes(convert(w, b, precision, x, FEATURES))
    wide = np.vstack([c0.T, np.zeros((1, CLASSES))])  # 9 inputs: the wrong signature
    (out / "wide-float32.tflite").write_bytes(
        convert(wide, -0.5 * (c0**2).sum(axis=1), "float32", x, FEATURES + 1)
    )


if __name__ == "__main__":
    main(Path(sys.argv[1]))
