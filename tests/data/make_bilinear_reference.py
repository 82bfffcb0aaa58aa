"""Write tests/data/bilinear_reference.npz: UpSampling2D(interpolation="bilinear") outputs and input gradients
from real Keras (run with the oracle python, /work/oracle/bin/python; tests/test_upsample_kernels.py reads it).

For each size s in SIZES, float32 x_<i> (2, 3, 5, 2) and a cotangent dy_<i>:
  y_tf_keras_<i>   tf_keras UpSampling2D(size, interpolation="bilinear")(x)
  y_keras3_<i>     the same with Keras 3
  dx_<i>           the gradient of sum(y * dy) with respect to x (tf_keras, tf.GradientTape)
"""
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
import numpy as np
import tensorflow as tf
import tf_keras
import keras

SIZES = [(2, 2), (3, 2), (1, 4)]
rng = np.random.default_rng(3)
out = {"sizes": np.array(SIZES)}
for i, size in enumerate(SIZES):
    x = rng.standard_normal((2, 3, 5, 2)).astype(np.float32)
    xt = tf.constant(x)
    layer = tf_keras.layers.UpSampling2D(size, interpolation="bilinear")
    with tf.GradientTape() as tape:
        tape.watch(xt)
        y = layer(xt)
    dy = rng.standard_normal(y.shape).astype(np.float32)
    with tf.GradientTape() as tape:
        tape.watch(xt)
        loss = tf.reduce_sum(layer(xt) * dy)
    out.update({f"x_{i}": x, f"dy_{i}": dy, f"y_tf_keras_{i}": y.numpy(),
                f"dx_{i}": tape.gradient(loss, xt).numpy(),
                f"y_keras3_{i}": np.asarray(keras.layers.UpSampling2D(size, interpolation="bilinear")(x))})
out["versions"] = np.array(f"tensorflow {tf.__version__}, tf_keras {tf_keras.__version__}, keras {keras.__version__}")
np.savez(os.path.join(os.path.dirname(os.path.abspath(__file__)), "bilinear_reference.npz"), **out)
