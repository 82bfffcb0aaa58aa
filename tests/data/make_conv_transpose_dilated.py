"""Conv2DTranspose with dilation_rate, written by Keras 3 (run by hand with the oracle: `python
tests/data/make_conv_transpose_dilated.py tests/data`; needs keras 3 with its TensorFlow backend).

For each case NAME: `NAME/x` the input, `NAME/kernel` and `NAME/bias` (random, set before calling; no bias when
use_bias is False), `NAME/y` Keras's output. `cases` is a JSON list of {name, config, input_shape}.
"""
import json
import os
import sys

import keras
import numpy as np

CASES = [
    ("dilated_valid", {"filters": 4, "kernel_size": 3, "dilation_rate": 2}, (2, 5, 6, 3)),
    ("dilated_same_uneven", {"filters": 3, "kernel_size": (3, 2), "dilation_rate": (2, 3), "padding": "same"},
     (2, 5, 6, 3)),
    ("dilated_relu_no_bias", {"filters": 2, "kernel_size": (2, 3), "dilation_rate": (3, 1), "activation": "relu",
                              "use_bias": False}, (1, 4, 5, 2)),
    ("dilated_same_output_padding", {"filters": 2, "kernel_size": 3, "dilation_rate": 2, "padding": "same",
                                     "output_padding": 0}, (2, 4, 3, 2)),
]


def main(out_dir):
    rng = np.random.default_rng(13)
    data, cases = {}, []
    for name, config, shape in CASES:
        layer = keras.layers.Conv2DTranspose(**config)
        x = rng.normal(size=shape).astype(np.float32)
        layer.build(shape)
        weights = [rng.normal(scale=0.5, size=w.shape).astype(np.float32) for w in layer.weights]
        layer.set_weights(weights)
        data[f"{name}/x"] = x
        data[f"{name}/kernel"] = weights[0]
        if len(weights) > 1:
            data[f"{name}/bias"] = weights[1]
        data[f"{name}/y"] = keras.ops.convert_to_numpy(layer(x))
        cases.append({"name": name, "config": config, "input_shape": shape})
    data["cases"] = json.dumps(cases)
    data["meta"] = json.dumps({"keras": keras.__version__, "backend": keras.backend.backend()})
    np.savez_compressed(os.path.join(out_dir, "conv_transpose_dilated.npz"), **data)


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else os.path.dirname(__file__))
