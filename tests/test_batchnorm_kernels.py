"""Batch-normalisation kernels against numpy references, finite differences, real Keras numbers
(tests/data/bn_reference.npz, made by tests/data/make_bn_reference.py), thread counts and bad input."""
import os

import numpy as np
import pytest

from kernel_reference import layouts, numeric_grad
from minigraph import kernels
from minigraph.kernels import batchnorm as bn

RNG = np.random.default_rng(13)
# rank 1 to 4, one channel, few, many; rows fewer than a block, several blocks, a partial last block
SHAPES = [(7, 1), (5, 3), (2, 3, 4, 5), (4, 6, 6, 32), (3, 100), (2, 9, 9, 130), (40000, 3), (1, 8)]
DATA = os.path.join(os.path.dirname(__file__), "data", "bn_reference.npz")


# The relu parameter of the tests: False, True, or a number: a ReLU capped there (max_value; 1.0 caps many
# of the normalised values)
RELUS = [False, True, 1.0]


def relu_kw(relu):
    """The kernels' (relu, max_value) for a test's relu parameter."""
    return relu is not False, None if isinstance(relu, bool) else relu


def relu_ref(y, relu):
    on, cap = relu_kw(relu)
    if not on:
        return y
    return np.maximum(y, 0) if cap is None else np.minimum(np.maximum(y, 0), cap)


def relu_passes(pre, relu):
    """Where the ReLU passes its gradient: 0 < pre-activation (<= the cap)."""
    on, cap = relu_kw(relu)
    if not on:
        return 1
    return (pre > 0) & (pre <= (np.inf if cap is None else cap))


def reference_forward(x, gamma, beta, eps, relu):
    f = x.reshape(-1, x.shape[-1]).astype(np.float64)
    mean, var = f.mean(axis=0), f.var(axis=0)
    y = (f - mean) / np.sqrt(var + eps) * (1 if gamma is None else gamma) + (0 if beta is None else beta)
    return relu_ref(y, relu).reshape(x.shape), mean, var


def reference_backward(dy, x, gamma, beta, eps, relu):
    """The textbook loop-free form: dy' through the ReLU, x_hat, and the sums over rows."""
    c = x.shape[-1]
    f = x.reshape(-1, c).astype(np.float64)
    m = f.shape[0]
    inv_std = 1 / np.sqrt(f.var(axis=0) + eps)
    x_hat = (f - f.mean(axis=0)) * inv_std
    g = dy.reshape(-1, c).astype(np.float64)
    g = g * relu_passes(x_hat * (1 if gamma is None else gamma) + (0 if beta is None else beta), relu)
    dbeta, dgamma = g.sum(axis=0), (g * x_hat).sum(axis=0)
    dx = (1 if gamma is None else gamma) * inv_std / m * (m * g - dbeta - x_hat * dgamma)
    return dx.reshape(x.shape), dgamma, dbeta


def params(c, affine, dtype=np.float64):
    if not affine:
        return None, None
    return RNG.uniform(0.5, 1.5, c).astype(dtype), RNG.standard_normal(c).astype(dtype)


@pytest.mark.parametrize("relu", RELUS)
@pytest.mark.parametrize("affine", [True, False])
@pytest.mark.parametrize("shape", SHAPES)
def test_train_forward_backward_float64(shape, affine, relu):
    x = RNG.standard_normal(shape) * 3 + 2
    gamma, beta = params(shape[-1], affine)
    y, mean, var, inv_std = bn.batch_norm_train_forward(x, gamma, beta, 1e-3, *relu_kw(relu))
    ref_y, ref_mean, ref_var = reference_forward(x, gamma, beta, 1e-3, relu)
    assert y.dtype == mean.dtype == np.float64 and y.shape == shape and mean.shape == (shape[-1],)
    np.testing.assert_allclose(mean, ref_mean, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(var, ref_var, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(inv_std, 1 / np.sqrt(ref_var + 1e-3), rtol=1e-12)
    np.testing.assert_allclose(y, ref_y, rtol=1e-11, atol=1e-11)
    dy = RNG.standard_normal(shape)
    dx, dgamma, dbeta = bn.batch_norm_train_backward(dy, x, mean, inv_std, gamma, beta, *relu_kw(relu))
    ref_dx, ref_dgamma, ref_dbeta = reference_backward(dy, x, gamma, beta, 1e-3, relu)
    np.testing.assert_allclose(dx, ref_dx, rtol=1e-9, atol=1e-11)
    np.testing.assert_allclose(dgamma, ref_dgamma, rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(dbeta, ref_dbeta, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("relu", RELUS)
@pytest.mark.parametrize("shape", SHAPES)
def test_train_float32_against_float64(shape, relu):
    x = (RNG.standard_normal(shape) * 3 + 2).astype(np.float32)
    gamma, beta = params(shape[-1], True, np.float32)
    y, mean, var, inv_std = bn.batch_norm_train_forward(x, gamma, beta, 1e-3, *relu_kw(relu))
    ref_y, ref_mean, ref_var = reference_forward(x, gamma, beta, 1e-3, relu)
    assert y.dtype == mean.dtype == var.dtype == inv_std.dtype == np.float32
    np.testing.assert_allclose(mean, ref_mean, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(var, ref_var, rtol=1e-6)
    np.testing.assert_allclose(y, ref_y, rtol=1e-5, atol=1e-5)
    dy = RNG.standard_normal(shape).astype(np.float32)
    dx, dgamma, dbeta = bn.batch_norm_train_backward(dy, x, mean, inv_std, gamma, beta, *relu_kw(relu))
    ref_dx, ref_dgamma, ref_dbeta = reference_backward(dy, x, gamma, beta, 1e-3, relu)
    assert dx.dtype == dgamma.dtype == dbeta.dtype == np.float32
    scale = np.abs(ref_dx).max()
    np.testing.assert_allclose(dx, ref_dx, rtol=1e-4, atol=1e-5 * scale)
    np.testing.assert_allclose(dgamma, ref_dgamma, rtol=1e-5, atol=1e-4)
    np.testing.assert_allclose(dbeta, ref_dbeta, rtol=1e-5, atol=1e-4)


def test_float32_statistics_of_data_far_from_zero():
    """A mean 10**4 times the spread: the shifted float64 sums keep the variance (plain float32 sums of
    squares would lose every digit)."""
    x = (1e4 + RNG.standard_normal((20000, 4))).astype(np.float32)
    _, mean, var, _ = bn.batch_norm_train_forward(x)
    f = x.astype(np.float64)
    np.testing.assert_allclose(mean, f.mean(axis=0), rtol=1e-7)
    np.testing.assert_allclose(var, f.var(axis=0), rtol=1e-5)


@pytest.mark.parametrize("relu", RELUS)
@pytest.mark.parametrize("affine", [True, False])
def test_train_gradients_finite_differences(affine, relu):
    shape = (3, 4, 2, 3)
    x = RNG.standard_normal(shape)
    gamma, beta = params(3, True)
    if not affine:
        gamma = beta = None
    dy = RNG.standard_normal(shape)
    _, mean, _, inv_std = bn.batch_norm_train_forward(x, gamma, beta, 1e-3, *relu_kw(relu))
    dx, dgamma, dbeta = bn.batch_norm_train_backward(dy, x, mean, inv_std, gamma, beta, *relu_kw(relu))
    f = lambda v: bn.batch_norm_train_forward(v, gamma, beta, 1e-3, *relu_kw(relu))[0]
    np.testing.assert_allclose(dx, numeric_grad(f, x, dy), rtol=1e-5, atol=1e-7)
    if affine:
        fg = lambda g: bn.batch_norm_train_forward(x, g, beta, 1e-3, *relu_kw(relu))[0]
        fb = lambda b: bn.batch_norm_train_forward(x, gamma, b, 1e-3, *relu_kw(relu))[0]
        np.testing.assert_allclose(dgamma, numeric_grad(fg, gamma, dy), rtol=1e-6, atol=1e-8)
        np.testing.assert_allclose(dbeta, numeric_grad(fb, beta, dy), rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_same_bits_on_one_and_two_threads(dtype):
    x = (RNG.standard_normal((16, 20, 20, 24)) * 2 + 1).astype(dtype)
    dy = RNG.standard_normal(x.shape).astype(dtype)
    gamma, beta = params(24, True, dtype)
    old = kernels.get_num_threads()
    results = []
    try:
        for threads in (1, 2):
            kernels.set_num_threads(threads)
            y, mean, var, inv_std = bn.batch_norm_train_forward(x, gamma, beta, 1e-3, True)
            grads = bn.batch_norm_train_backward(dy, x, mean, inv_std, gamma, beta, True)
            inf = bn.batch_norm_inference_forward(x, mean, var, gamma, beta, 1e-3, True)
            results.append((y, mean, var, inv_std, inf) + grads)
    finally:
        kernels.set_num_threads(old)
    for a, b in zip(*results):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("relu", RELUS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", SHAPES[:6])
def test_inference_forward_backward(shape, dtype, relu):
    c = shape[-1]
    x = RNG.standard_normal(shape).astype(dtype)
    mm, mv = RNG.standard_normal(c).astype(dtype), RNG.uniform(0.1, 2, c).astype(dtype)
    gamma, beta = params(c, True, dtype)
    y = bn.batch_norm_inference_forward(x, mm, mv, gamma, beta, 1e-3, *relu_kw(relu))
    z = (x.astype(np.float64) - mm) / np.sqrt(mv.astype(np.float64) + 1e-3) * gamma + beta
    tol = 1e-12 if dtype == np.float64 else 1e-5
    assert y.dtype == dtype
    np.testing.assert_allclose(y, relu_ref(z, relu), rtol=tol, atol=tol)
    dy = RNG.standard_normal(shape).astype(dtype)
    dx = bn.batch_norm_inference_backward(dy, x, mm, mv, gamma, beta, 1e-3, *relu_kw(relu))
    ref = dy * gamma / np.sqrt(mv.astype(np.float64) + 1e-3) * relu_passes(z, relu)
    np.testing.assert_allclose(dx, ref, rtol=tol, atol=tol)
    scale, shift = bn.batch_norm_fold(mm, mv, gamma, beta, 1e-3)
    np.testing.assert_allclose(scale, gamma / np.sqrt(mv.astype(np.float64) + 1e-3), rtol=tol)
    np.testing.assert_allclose(shift, beta - mm * (gamma / np.sqrt(mv.astype(np.float64) + 1e-3)),
                               rtol=tol, atol=tol)


def test_inference_gradient_finite_differences():
    x = RNG.standard_normal((2, 3, 3, 4))
    mm, mv = RNG.standard_normal(4), RNG.uniform(0.1, 2, 4)
    gamma, beta = params(4, True)
    dy = RNG.standard_normal(x.shape)
    f = lambda v: bn.batch_norm_inference_forward(v, mm, mv, gamma, beta, 1e-3, True)
    np.testing.assert_allclose(bn.batch_norm_inference_backward(dy, x, mm, mv, gamma, beta, 1e-3, True),
                               numeric_grad(f, x, dy), rtol=1e-6, atol=1e-8)


def test_scale_and_center_off_is_gamma_one_beta_zero():
    x = RNG.standard_normal((5, 4, 3))
    ones, zeros = np.ones(3), np.zeros(3)
    for a, b in zip(bn.batch_norm_train_forward(x), bn.batch_norm_train_forward(x, ones, zeros)):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(bn.batch_norm_fold(zeros, ones), bn.batch_norm_fold(zeros, ones, ones, zeros))


def test_any_layout_and_integer_input():
    x = RNG.standard_normal((3, 4, 5, 6))
    expected = bn.batch_norm_train_forward(x)[0]
    for name, view in layouts(x).items():
        np.testing.assert_array_equal(bn.batch_norm_train_forward(view)[0], expected, err_msg=name)
    y, mean, _, _ = bn.batch_norm_train_forward(np.arange(12).reshape(4, 3))
    assert y.dtype == np.float32
    np.testing.assert_allclose(mean, [4.5, 5.5, 6.5])


def test_nan_propagates_through_relu():
    x = RNG.standard_normal((6, 2))
    x[2, 0] = np.nan
    y = bn.batch_norm_train_forward(x, relu=True)[0]
    assert np.isnan(y[:, 0]).all() and np.isfinite(y[:, 1]).all()


# --------------------------------------------------------------------------------------- real Keras

@pytest.fixture(scope="module")
def keras_ref():
    return np.load(DATA)


def test_training_step_matches_tf_keras(keras_ref):
    d = keras_ref
    y, mean, var, inv_std = bn.batch_norm_train_forward(d["x"], d["gamma"], d["beta"], float(d["epsilon"]))
    np.testing.assert_allclose(y, d["y"], rtol=1e-5, atol=1e-5)
    dx, dgamma, dbeta = bn.batch_norm_train_backward(d["dy"], d["x"], mean, inv_std, d["gamma"], d["beta"])
    np.testing.assert_allclose(dx, d["dx"], rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(dgamma, d["dgamma"], rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(dbeta, d["dbeta"], rtol=1e-5, atol=1e-5)


def test_moving_average_update_rules_of_keras(keras_ref):
    """The layer's update (API.md): moving = moving * momentum + batch * (1 - momentum), from moving_mean 0 and
    moving_variance 1.  Keras 3 and tf_keras with fused=False take the biased batch variance; tf_keras's
    default fused path takes the unbiased one, variance * M / (M - 1)."""
    d = keras_ref
    momentum = float(d["momentum"])
    _, mean, var, _ = bn.batch_norm_train_forward(d["x"], d["gamma"], d["beta"], float(d["epsilon"]))
    m = d["x"].size // d["x"].shape[-1]
    update = lambda moving, batch: moving * momentum + batch * (1 - momentum)
    for key in ("mm_tf_keras", "mm_keras3"):
        np.testing.assert_allclose(update(0, mean), d[key], rtol=1e-5, atol=1e-6)
    for key in ("mv_tf_keras_unfused", "mv_keras3"):
        np.testing.assert_allclose(update(1, var), d[key], rtol=1e-6)
    np.testing.assert_allclose(update(1, var * m / (m - 1)), d["mv_tf_keras_fused"], rtol=1e-6)
    assert np.abs(update(1, var) - d["mv_tf_keras_fused"]).max() > 1e-3  # the two rules do differ here


def test_inference_matches_tf_keras(keras_ref):
    d = keras_ref
    y = bn.batch_norm_inference_forward(d["x"], d["mm0"], d["mv0"], d["gamma"], d["beta"], float(d["epsilon"]))
    np.testing.assert_allclose(y, d["y_inference"], rtol=1e-5, atol=1e-5)


# ---------------------------------------------------------------------------------------- bad input

def test_bad_arguments_name_the_function_and_shapes():
    x = np.zeros((4, 3))
    with pytest.raises(ValueError, match=r"batch_norm_train_forward: gamma must have shape \(3,\).*\(4,\)"):
        bn.batch_norm_train_forward(x, gamma=np.ones(4))
    with pytest.raises(ValueError, match=r"batch_norm_train_forward: beta must have shape \(3,\)"):
        bn.batch_norm_train_forward(x, beta=np.ones((3, 1)))
    with pytest.raises(ValueError, match=r"batch_norm_train_forward: x must hold at least one row.*\(0, 3\)"):
        bn.batch_norm_train_forward(np.zeros((0, 3)))
    with pytest.raises(ValueError, match=r"batch_norm_train_forward: x must have at least 1 axis.*\(\)"):
        bn.batch_norm_train_forward(np.float32(1))
    with pytest.raises(ValueError, match=r"batch_norm_train_forward: x must have .* non-empty last .*\(4, 0\)"):
        bn.batch_norm_train_forward(np.zeros((4, 0)))
    with pytest.raises(ValueError, match=r"batch_norm_train_forward: epsilon must be >= 0"):
        bn.batch_norm_train_forward(x, epsilon=-1)
    with pytest.raises(ValueError, match=r"batch_norm_train_forward: x must be a real numeric array"):
        bn.batch_norm_train_forward(np.array([["a"]]))
    with pytest.raises(ValueError, match=r"batch_norm_train_backward: dy shape \(4, 3\) does not match x shape \(3, 4\)"):
        bn.batch_norm_train_backward(x, np.zeros((3, 4)), np.zeros(3), np.ones(3))
    with pytest.raises(ValueError, match=r"batch_norm_train_backward: mean must have shape \(3,\)"):
        bn.batch_norm_train_backward(x, x, np.zeros(2), np.ones(3))
    with pytest.raises(ValueError, match=r"batch_norm_train_backward: mean and inv_std .* required"):
        bn.batch_norm_train_backward(x, x, None, np.ones(3))
    with pytest.raises(ValueError, match=r"batch_norm_inference_forward: moving_mean must have shape \(3,\)"):
        bn.batch_norm_inference_forward(x, np.zeros(2), np.ones(3))
    with pytest.raises(ValueError, match=r"batch_norm_inference_forward: moving_variance must have shape"):
        bn.batch_norm_inference_forward(x, np.zeros(3), np.ones(2))
    with pytest.raises(ValueError, match=r"batch_norm_fold: moving_mean must be 1-D"):
        bn.batch_norm_fold(np.zeros((3, 1)), np.ones(3))
    with pytest.raises(ValueError, match=r"batch_norm_inference_backward: dy shape"):
        bn.batch_norm_inference_backward(x, np.zeros((4, 2)), np.zeros(3), np.ones(3))


def test_max_value_needs_relu_and_a_number_at_least_zero():
    x = RNG.standard_normal((4, 3))
    with pytest.raises(ValueError, match="batch_norm_train_forward: max_value=6 caps the ReLU: it needs relu=True"):
        bn.batch_norm_train_forward(x, max_value=6)
    for bad in (-1, "six", float("nan")):
        with pytest.raises(ValueError, match="batch_norm_inference_forward: max_value must be (a number|>= 0)"):
            bn.batch_norm_inference_forward(x, np.zeros(3), np.ones(3), relu=True, max_value=bad)
