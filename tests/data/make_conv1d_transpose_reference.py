"""Write tests/data/conv1d_transpose_reference.npz: Conv1DTranspose outputs and gradients from Keras 3 (run
with the oracle python, /work/oracle/bin/python; tests/test_sequence_layers.py reads it).

For each case i (its constructor arguments in the JSON string `cases`), float32:
  x_<i>, kernel_<i> (k, filters, in), bias_<i> (absent under use_bias=False), dy_<i> a cotangent,
  y_<i>        keras.layers.Conv1DTranspose(**case) of x with those weights (Keras 3, TensorFlow backend)
  dx_<i>, dkernel_<i>, dbias_<i>   the gradients of sum(y * dy) (tf.GradientTape)
"""
import json
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ["KERAS_BACKEND"] = "tensorflow"
import numpy as np
import tensorflow as tf
import keras

CASES = [
    ({"filters": 3, "kernel_size": 3}, (2, 5, 2)),
    ({"filters": 4, "kernel_size": 4, "strides": 2, "padding": "same", "output_padding": 1,
      "activation": "relu"}, (2, 5, 3)),
    ({"filters": 2, "kernel_size": 3, "strides": 3, "output_padding": 2}, (1, 4, 2)),
    ({"filters": 3, "kernel_size": 3, "dilation_rate": 2, "padding": "same"}, (2, 6, 2)),
    ({"filters": 2, "kernel_size": 2, "dilation_rate": 3, "use_bias": False, "activation": "tanh"}, (2, 4, 3)),
    ({"filters": 2, "kernel_size": 5, "strides": 2}, (3, 1, 2)),
]
rng = np.random.default_rng(12)
out = {"cases": np.array(json.dumps([case for case, _ in CASES]))}
for i, (case, shape) in enumerate(CASES):
    layer = keras.layers.Conv1DTranspose(**case)
    x = rng.standard_normal(shape).astype(np.float32)
    layer.build(shape)
    weights = [rng.standard_normal(w.shape).astype(np.float32) for w in layer.get_weights()]
    layer.set_weights(weights)
    xt = tf.constant(x)
    with tf.GradientTape() as tape:
        tape.watch(xt)
        y = layer(xt)
        dy = rng.standard_normal(y.shape).astype(np.float32)
        loss = tf.reduce_sum(y * dy)
    grads = tape.gradient(loss, [xt] + layer.trainable_weights)
    out[f"x_{i}"], out[f"y_{i}"], out[f"dy_{i}"] = x, np.asarray(y), dy
    out[f"kernel_{i}"], out[f"dx_{i}"], out[f"dkernel_{i}"] = weights[0], np.asarray(grads[0]), np.asarray(grads[1])
    if len(weights) > 1:
        out[f"bias_{i}"], out[f"dbias_{i}"] = weights[1], np.asarray(grads[2])
np.savez(os.path.join(os.path.dirname(os.path.abspath(__file__)), "conv1d_transpose_reference.npz"), **out)
