"""Regenerate `litefleet/testing/tiny_models.py`: tiny real `.tflite` models, embedded.

Run by hand (it needs TensorFlow): `python tests/make_tiny_models.py`. The tests, the
reliability suite and the selftest then need no TensorFlow: the models ship inside the
package, the one tiny-model source of the project.

A nearest-centroid classifier over 8 features and 3 classes (v1..v5), plus the bad ones the
suites need: permuted classes
(accuracy regression), 9 inputs (wrong signature), NaN weights (NaN output) and a
`while` loop of 8x8 matmuls (a real latency regression with the right answers).
"""

import base64
import os
import sys
import zlib
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np
import tensorflow as tf

sys.path.insert(0, str(Path(__file__).parents[1] / "src"))
from litefleet.testing.tiny_data import FEATURES, centroids, dataset

OUT = Path(__file__).parents[1] / "src" / "litefleet" / "testing" / "tiny_models.py"
SLOW_STEPS = 4000


def convert(c: np.ndarray, precision: str = "float32", n_in: int = FEATURES, slow=False) -> bytes:
    w = np.zeros((n_in, c.shape[0]), np.float32)
    w[:FEATURES] = c.T
    b = (-0.5 * (c**2).sum(axis=1)).astype(np.float32)
    w_t, b_t = tf.constant(w), tf.constant(b)
    m = tf.constant(np.random.default_rng(7).normal(0, 0.1, (n_in, n_in)).astype(np.float32))

    @tf.function(input_signature=[tf.TensorSpec([1, n_in], tf.float32)])
    def f(x):
        h = tf.matmul(x, w_t) + b_t
        if slow:

            def body(i, acc):
                return i + 1, tf.tanh(tf.matmul(acc, m) + x)

            _, acc = tf.while_loop(lambda i, a: i < SLOW_STEPS, body, [tf.constant(0), x])
            h = h + 1e-6 * tf.reduce_sum(acc)
        return tf.nn.softmax(h)

    conv = tf.lite.TFLiteConverter.from_concrete_functions([f.get_concrete_function()], f)
    if precision == "int8":
        x, _ = dataset()
        conv.optimizations = [tf.lite.Optimize.DEFAULT]
        conv.representative_dataset = lambda: ([r[None]] for r in x[:200])
        conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        conv.inference_input_type = tf.int8
        conv.inference_output_type = tf.int8
    return conv.convert()


def main() -> None:
    models: dict[str, bytes] = {}
    for seed in (1, 2, 3, 4, 5):
        for precision in ("float32", "int8"):
            models[f"v{seed}-{precision}"] = convert(centroids(seed), precision)
    for precision in ("float32", "int8"):  # classes permuted: accuracy near zero
        models[f"bad-{precision}"] = convert(centroids(0)[[1, 2, 0]], precision)
    models["wide-float32"] = convert(centroids(1), n_in=FEATURES + 1)
    nan = centroids(1).copy()
    nan[:, 0] = np.nan
    models["nan-float32"] = convert(nan)
    models["slow-float32"] = convert(centroids(1), slow=True)
    lines = [
        '"""Tiny real `.tflite` models (zlib + base64), by tests/make_tiny_models.py.',
        "",
        "Generated: do not edit. `model(name)` returns the bytes of e.g. `v1-float32`.",
        '"""',
        "",
        "import base64",
        "import zlib",
        "",
        "_MODELS = {",
    ]
    for name, data in models.items():
        enc = base64.b64encode(zlib.compress(data, 9)).decode()
        chunks = [enc[i : i + 88] for i in range(0, len(enc), 88)]
        lines.append(f'    "{name}": (')
        lines += [f'        "{c}"' for c in chunks]
        lines.append("    ),")
    lines += [
        "}",
        "",
        "",
        "def model(name: str) -> bytes:",
        "    return zlib.decompress(base64.b64decode(_MODELS[name]))",
        "",
        "",
        "def names() -> list[str]:",
        "    return sorted(_MODELS)",
        "",
    ]
    OUT.write_text("\n".join(lines))
    print(OUT, {k: len(v) for k, v in models.items()})


if __name__ == "__main__":
    main()
