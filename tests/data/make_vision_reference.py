"""Reference numbers for the normalization and vision layers, written by tf_keras 2.21 (run by hand with the
oracle: `python tests/data/make_vision_reference.py tests/data`; needs tensorflow and tf_keras).

For each case NAME: `NAME/x` the input, `NAME/w<j>` the layer's weights (random, set before calling), `NAME/y`
the output of `layer(x, training=...)`, and for BatchNormalization `NAME/after<j>` the weights after that
call (the moving averages). `cases` is a JSON list of {name, class_name, config, training, input_shape}.
bn_cnn_adam1: bn_cnn.h5 after one Adam(0.01) train_on_batch on its first 8 samples (`w<i>` in Keras's
model.get_weights() order, `loss`).
"""
import json
import os
import sys

import numpy as np
import tensorflow as tf
import tf_keras as keras

CASES = [
    ("bn_train", "BatchNormalization", {"momentum": 0.9}, True, (6, 5, 5, 3)),
    ("bn_infer", "BatchNormalization", {}, False, (6, 5, 5, 3)),
    ("bn_dense_train", "BatchNormalization", {"momentum": 0.8, "epsilon": 1e-2}, True, (7, 4)),
    ("bn_axis1_train", "BatchNormalization", {"axis": 1, "momentum": 0.5}, True, (4, 3, 5, 5)),
    ("bn_multi_axis_train", "BatchNormalization", {"axis": [1, 3], "momentum": 0.5}, True, (4, 3, 5, 2)),
    ("bn_rank3_train", "BatchNormalization", {"momentum": 0.5, "center": False}, True, (4, 6, 3)),
    ("bn_noscale_train", "BatchNormalization", {"momentum": 0.5, "scale": False}, True, (4, 5, 5, 3)),
    ("ln", "LayerNormalization", {}, False, (4, 5, 6)),
    ("ln_axes", "LayerNormalization", {"axis": [1, 2], "epsilon": 1e-5}, False, (4, 5, 6)),
    ("gn", "GroupNormalization", {"groups": 2}, False, (3, 4, 4, 6)),
    ("unit", "UnitNormalization", {"axis": [1, 2]}, False, (3, 4, 5)),
    ("dw_valid", "DepthwiseConv2D", {"kernel_size": 3}, False, (2, 7, 6, 3)),
    ("dw_same_s2_m2", "DepthwiseConv2D", {"kernel_size": 3, "strides": 2, "padding": "same",
                                           "depth_multiplier": 2}, False, (2, 7, 6, 3)),
    ("dw_dilated", "DepthwiseConv2D", {"kernel_size": (3, 2), "dilation_rate": 2, "padding": "same",
                                       "use_bias": False}, False, (2, 8, 7, 2)),
    ("sep", "SeparableConv2D", {"filters": 4, "kernel_size": 3, "padding": "same", "depth_multiplier": 2,
                                "activation": "relu"}, False, (2, 6, 6, 3)),
    ("sep_s2", "SeparableConv2D", {"filters": 3, "kernel_size": 2, "strides": 2}, False, (2, 7, 7, 2)),
    ("conv_dilated_same", "Conv2D", {"filters": 4, "kernel_size": 3, "dilation_rate": 2, "padding": "same"}, False,
     (2, 7, 8, 3)),
    ("conv_dilated_valid", "Conv2D", {"filters": 2, "kernel_size": (2, 3), "dilation_rate": (3, 1)}, False,
     (2, 7, 8, 3)),
    ("conv_groups", "Conv2D", {"filters": 6, "kernel_size": 3, "groups": 2, "strides": 2, "padding": "same",
                               "activation": "relu"}, False, (2, 7, 8, 4)),
    ("conv1d_dilated_causal", "Conv1D", {"filters": 3, "kernel_size": 3, "dilation_rate": 2, "padding": "causal"},
     False, (2, 9, 2)),
    ("conv1d_groups", "Conv1D", {"filters": 4, "kernel_size": 2, "groups": 2}, False, (2, 6, 6)),
    ("avg_valid", "AveragePooling2D", {"pool_size": 3, "strides": 2}, False, (2, 7, 8, 3)),
    ("avg_same", "AveragePooling2D", {"pool_size": 3, "strides": 2, "padding": "same"}, False, (2, 7, 8, 3)),
    ("avg1d_same", "AveragePooling1D", {"pool_size": 3, "strides": 2, "padding": "same"}, False, (2, 9, 3)),
    ("zpad", "ZeroPadding2D", {"padding": ((1, 2), (3, 0))}, False, (2, 3, 4, 2)),
    ("crop", "Cropping2D", {"cropping": ((1, 0), (2, 1))}, False, (2, 5, 6, 2)),
    ("up_bilinear", "UpSampling2D", {"size": (2, 3), "interpolation": "bilinear"}, False, (2, 3, 4, 2)),
    ("relu_cap", "ReLU", {"max_value": 1.5, "negative_slope": 0.1, "threshold": 0.2}, False, (3, 8)),
    ("relu_thr", "ReLU", {"threshold": 0.5}, False, (3, 8)),
    ("leaky", "LeakyReLU", {"alpha": 0.2}, False, (3, 8)),
    ("prelu", "PReLU", {"shared_axes": [1, 2]}, False, (2, 3, 4, 5)),
    ("elu", "ELU", {"alpha": 0.7}, False, (3, 8)),
    ("softmax_axis1", "Softmax", {"axis": 1}, False, (3, 4, 5)),
    ("rescaling", "Rescaling", {"scale": 1 / 127.5, "offset": -1}, False, (2, 3, 3, 1)),
    ("resize_down", "Resizing", {"height": 3, "width": 5}, False, (2, 7, 9, 2)),
    ("resize_up_nearest", "Resizing", {"height": 7, "width": 5, "interpolation": "nearest"}, False, (2, 3, 4, 2)),
    ("resize_down_nearest", "Resizing", {"height": 3, "width": 2, "interpolation": "nearest"}, False, (2, 7, 5, 2)),
    ("resize_crop", "Resizing", {"height": 4, "width": 4, "crop_to_aspect_ratio": True}, False, (2, 6, 9, 2)),
    ("center_crop", "CenterCrop", {"height": 3, "width": 4}, False, (2, 6, 7, 2)),
    ("center_crop_up", "CenterCrop", {"height": 6, "width": 4}, False, (2, 4, 5, 2)),
    ("normalization", "Normalization", {"mean": [0.5, -1.0, 2.0], "variance": [4.0, 0.25, 1.0]}, False, (3, 4, 3)),
    ("normalization_invert", "Normalization", {"mean": 1.0, "variance": 9.0, "invert": True}, False, (3, 4)),
]
ACTIVATIONS = ["relu6", "swish", "silu", "gelu", "hard_sigmoid", "elu", "selu", "softplus", "softsign",
               "exponential", "leaky_relu"]


def main(out_dir):
    rng = np.random.default_rng(13)
    data, cases = {}, []
    for name, cls, config, training, shape in CASES:
        layer = getattr(keras.layers, cls)(**config)
        x = (rng.standard_normal(shape) * 2 + 0.5).astype("float32")
        layer.build(shape)
        weights = [(rng.standard_normal(w.shape) * 0.5 + (1.5 if "variance" in w.name else 0)).astype("float32")
                   for w in layer.weights]
        if weights:
            layer.set_weights(weights)
        y = layer(x, training=training)
        data[f"{name}/x"] = x
        data[f"{name}/y"] = np.asarray(y)
        for j, w in enumerate(weights):
            data[f"{name}/w{j}"] = w
        for j, w in enumerate(layer.get_weights()):
            data[f"{name}/after{j}"] = w
        cases.append({"name": name, "class_name": cls, "config": config, "training": training,
                      "input_shape": list(shape)})
    x = np.linspace(-6, 6, 49).astype("float32")
    data["activations/x"] = x
    for act in ACTIVATIONS:
        data[f"activations/{act}"] = keras.activations.get(act)(tf.constant(x)).numpy()
    # adapt: Normalization's statistics
    adapt_x = (rng.standard_normal((20, 3, 4)) * 3 + 1).astype("float32")
    norm = keras.layers.Normalization(axis=-1)
    norm.adapt(adapt_x)
    data["adapt/x"] = adapt_x
    data["adapt/y"] = norm(adapt_x).numpy()
    for j, w in enumerate(norm.get_weights()):
        data[f"adapt/w{j}"] = w
    # one Adam step of bn_cnn.h5
    model = keras.models.load_model(os.path.join(out_dir, "bn_cnn.h5"), compile=False)
    ref = np.load(os.path.join(out_dir, "bn_cnn.npz"))
    model.compile(optimizer=keras.optimizers.Adam(0.01), loss="categorical_crossentropy")
    data["bn_cnn_adam1/loss"] = np.float32(model.train_on_batch(ref["x0"][:8], ref["y0"][:8]))
    for i, w in enumerate(model.get_weights()):
        data[f"bn_cnn_adam1/w{i}"] = w
    data["cases"] = json.dumps(cases)
    data["meta"] = json.dumps({"keras": keras.__version__})
    np.savez_compressed(os.path.join(out_dir, "vision_reference.npz"), **data)


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else os.path.dirname(__file__))
