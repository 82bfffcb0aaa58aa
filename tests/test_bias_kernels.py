"""The bias / ReLU gradient epilogue against numpy references and finite differences."""
import numpy as np
import pytest

from kernel_reference import layouts, numeric_grad
from minigraph import kernels
from minigraph.kernels import bias

RNG = np.random.default_rng(5)
# one channel (flat blocks of 64 rows), few, exactly 64, more than 64 (column blocks), odd counts; rows that
# are not a multiple of any block; enough rows for several tasks and both threads
SHAPES = [(3, 5), (9, 64), (7, 3, 130), (5, 100, 3), (2, 9, 9, 1), (128, 6, 6, 16), (40, 26, 26, 16),
          (8, 24, 24, 32), (1, 1, 1, 1), (64000, 1)]


def reference(dy, out, relu):
    dx = dy * (out > 0) if relu else dy
    return dx, dx.sum(axis=tuple(range(dy.ndim - 1)))


@pytest.mark.parametrize("relu", [True, False])
@pytest.mark.parametrize("shape", SHAPES)
def test_matches_reference_float64(shape, relu):
    dy = RNG.standard_normal(shape)
    out = np.maximum(RNG.standard_normal(shape), 0)
    dx, db = bias.bias_relu_backward(dy, out, relu)
    ref_dx, ref_db = reference(dy, out, relu)
    assert dx.dtype == db.dtype == np.float64 and db.shape == (shape[-1],)
    np.testing.assert_array_equal(dx, ref_dx)
    np.testing.assert_allclose(db, ref_db, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("shape", SHAPES)
def test_float32_sums_as_accurately_as_numpy(shape):
    dy = RNG.standard_normal(shape).astype(np.float32)
    out = np.maximum(RNG.standard_normal(shape), 0).astype(np.float32)
    dx, db = bias.bias_relu_backward(dy, out, True)
    exact = (dy.astype(np.float64) * (out > 0)).sum(axis=tuple(range(dy.ndim - 1)))
    assert dx.dtype == db.dtype == np.float32
    np.testing.assert_array_equal(dx, dy * (out > 0))
    numpy_error = np.abs(reference(dy, out, True)[1] - exact).max()
    assert np.abs(db - exact).max() <= max(2 * numpy_error, 1e-6 * np.abs(dy).sum() / shape[-1])


def test_gradient_finite_differences():
    """dx and dbias are the gradients of sum(relu(z + b) * r) for the output relu(z + b)."""
    z = RNG.standard_normal((3, 4, 5, 6))
    b = RNG.standard_normal(6)
    r = RNG.standard_normal(z.shape)
    out = np.maximum(z + b, 0)
    dz, db = bias.bias_relu_backward(r, out, True)
    np.testing.assert_allclose(dz, numeric_grad(lambda v: np.maximum(v + b, 0), z, r), atol=1e-7)
    np.testing.assert_allclose(db, numeric_grad(lambda v: np.maximum(z + v, 0), b, r), atol=1e-7)


def test_without_relu_dx_is_dy_and_out_is_ignored():
    dy = RNG.standard_normal((4, 5, 3)).astype(np.float32)
    dx, db = bias.bias_relu_backward(dy)
    assert dx is dy
    np.testing.assert_allclose(db, dy.sum(axis=(0, 1)), rtol=1e-5)


def test_read_only_and_non_contiguous_inputs():
    dy = RNG.standard_normal((6, 7, 5))
    out = np.maximum(RNG.standard_normal((6, 7, 5)), 0)
    ref_dx, ref_db = reference(dy, out, True)
    for name, view in layouts(dy).items():
        view.flags.writeable = False
        dx, db = bias.bias_relu_backward(view, layouts(out)[name], True)
        np.testing.assert_array_equal(dx, ref_dx)
        np.testing.assert_allclose(db, ref_db, rtol=1e-12)
    broadcast = np.broadcast_to(np.arange(3.0), (4, 3))  # read-only, zero strides
    np.testing.assert_array_equal(bias.bias_relu_backward(broadcast)[1], [0, 4, 8])


def test_nan_gradient_stays_nan_like_tensorflow():
    dy = np.array([[np.nan, 1.0, np.inf], [2.0, np.nan, 3.0]])
    out = np.array([[1.0, 0.0, 0.0], [1.0, 0.0, np.nan]])
    dx, db = bias.bias_relu_backward(dy, out, True)
    # TensorFlow's ReluGrad is dy * (out > 0): nan * 0 and inf * 0 are NaN
    np.testing.assert_array_equal(dx, [[np.nan, 0.0, np.nan], [2.0, np.nan, 0.0]])
    np.testing.assert_array_equal(db, [np.nan, np.nan, np.nan])


def test_same_result_for_any_thread_count():
    dy = RNG.standard_normal((50, 26, 26, 16)).astype(np.float32)
    out = np.maximum(RNG.standard_normal(dy.shape), 0).astype(np.float32)
    old = kernels.get_num_threads()
    try:
        kernels.set_num_threads(1)
        one = bias.bias_relu_backward(dy, out, True)
        kernels.set_num_threads(2)
        two = bias.bias_relu_backward(dy, out, True)
    finally:
        kernels.set_num_threads(old)
    np.testing.assert_array_equal(one[0], two[0])
    np.testing.assert_array_equal(one[1], two[1])


def test_empty_rows_give_zero_bias_gradient():
    dx, db = bias.bias_relu_backward(np.zeros((0, 4, 4, 3), np.float32), np.zeros((0, 4, 4, 3)), True)
    assert dx.shape == (0, 4, 4, 3)
    np.testing.assert_array_equal(db, np.zeros(3, np.float32))


@pytest.mark.parametrize("dy, out, relu, message", [
    (np.zeros((2, 3)), np.zeros((2, 4)), True, r"out \(2, 4\) must have dy's shape \(2, 3\)"),
    (np.zeros((2, 3)), None, True, r"out \(\) must have dy's shape \(2, 3\)"),
    (np.zeros((2, 0)), None, False, r"non-empty last axis, got shape \(2, 0\)"),
    (np.float64(1.0), None, False, r"non-empty last axis, got shape \(\)"),
    (np.array([["a"]]), None, False, r"dy must be a real numeric array"),
])
def test_bad_arguments_raise(dy, out, relu, message):
    with pytest.raises(ValueError, match=message):
        bias.bias_relu_backward(dy, out, relu)
