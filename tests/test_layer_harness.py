"""Every built-in layer through the one layer harness (tests/layer_harness.py)."""
import numpy as np
import pytest

from minigraph import layers
from layer_harness import check_layer

CASES = [
    (layers.Dense, {"units": 3, "activation": "relu"}, (2, 4), (None, 3), 2),
    (layers.Dense, {"units": 2}, (2, 3, 4), (None, 3, 2), 2),
    (layers.Conv1D, {"filters": 3, "kernel_size": 2}, (2, 5, 4), (None, 4, 3), 2),
    (layers.Conv1D, {"filters": 2, "kernel_size": 3, "padding": "causal"}, (2, 5, 4), (None, 5, 2), 2),
    (layers.Conv1D, {"filters": 2, "kernel_size": 3, "padding": "same", "strides": 2}, (2, 5, 4), (None, 3, 2), 2),
    (layers.Conv2D, {"filters": 3, "kernel_size": 3, "padding": "same"}, (2, 5, 5, 2), (None, 5, 5, 3), 2),
    (layers.Conv2DTranspose, {"filters": 2, "kernel_size": 3, "strides": 2}, (2, 3, 3, 2), (None, 7, 7, 2), 2),
    (layers.MaxPooling1D, {"pool_size": 2}, (2, 6, 3), (None, 3, 3), 0),
    (layers.MaxPooling2D, {}, (2, 4, 4, 3), (None, 2, 2, 3), 0),
    (layers.GlobalMaxPooling1D, {}, (2, 6, 3), (None, 3), 0),
    (layers.GlobalAveragePooling1D, {"keepdims": True}, (2, 6, 3), (None, 1, 3), 0),
    (layers.GlobalMaxPooling2D, {}, (2, 4, 4, 3), (None, 3), 0),
    (layers.GlobalAveragePooling2D, {}, (2, 4, 4, 3), (None, 3), 0),
    (layers.UpSampling2D, {"size": 2}, (2, 2, 3, 1), (None, 4, 6, 1), 0),
    (layers.Flatten, {}, (2, 3, 4), (None, 12), 0),
    (layers.Reshape, {"target_shape": (4, 3)}, (2, 12), (None, 4, 3), 0),
    (layers.Activation, {"activation": "tanh"}, (2, 3), (None, 3), 0),
    (layers.Dropout, {"rate": 0.5}, (2, 3), (None, 3), 0),
]


@pytest.mark.parametrize("cls, kwargs, input_shape, output_shape, n_weights", CASES,
                         ids=[f"{c[0].__name__}-{i}" for i, c in enumerate(CASES)])
def test_layer_harness(cls, kwargs, input_shape, output_shape, n_weights, tmp_path):
    check_layer(cls, kwargs, input_shape, expected_output_shape=output_shape, expected_trainable=n_weights,
                expected_non_trainable=0, trains=n_weights > 0, tmp_path=tmp_path)


@pytest.mark.parametrize("cls", [layers.Add, layers.Subtract, layers.Multiply, layers.Average, layers.Maximum,
                                 layers.Minimum, layers.Concatenate])
def test_merge_layers_through_the_harness(cls, tmp_path):
    check_layer(cls, {}, [(2, 3), (2, 3)], expected_output_shape=(None, 6) if cls is layers.Concatenate
                else (None, 3), expected_trainable=0, trains=False, tmp_path=tmp_path)


def _conv1d_reference(x, kernel, bias, stride, padding):
    k = kernel.shape[0]
    if padding == "causal":
        x = np.pad(x, ((0, 0), (k - 1, 0), (0, 0)))
    elif padding == "same":
        out_len = -(-x.shape[1] // stride)
        total = max((out_len - 1) * stride + k - x.shape[1], 0)
        x = np.pad(x, ((0, 0), (total // 2, total - total // 2), (0, 0)))
    steps = (x.shape[1] - k) // stride + 1
    return np.stack([np.einsum("nkc,kco->no", x[:, t * stride:t * stride + k], kernel)
                     for t in range(steps)], axis=1) + bias


@pytest.mark.parametrize("padding, stride", [("valid", 1), ("same", 2), ("causal", 1), ("valid", 2)])
def test_conv1d_matches_a_numpy_reference(padding, stride):
    rng = np.random.default_rng(1)
    x = rng.standard_normal((3, 7, 4)).astype("float32")
    layer = layers.Conv1D(5, 3, strides=stride, padding=padding)
    out = layer(x)
    kernel, bias = layer.get_weights()
    np.testing.assert_allclose(out, _conv1d_reference(x, kernel, bias, stride, padding), rtol=1e-5, atol=1e-5)


def test_conv1d_refuses_a_causal_2d_convolution_and_bad_ranks():
    with pytest.raises(ValueError, match="padding must be one of 'valid', 'same'"):
        layers.Conv2D(2, 3, padding="causal")
    with pytest.raises(ValueError, match="rank 3"):
        layers.Conv1D(2, 3)(np.zeros((2, 4, 4, 1), "float32"))
