"""Pooling kernels against numpy references, finite differences, and their tie / NaN / error rules."""
import itertools

import numpy as np
import pytest
from numpy.lib.stride_tricks import sliding_window_view

from kernel_reference import layouts, numeric_grad
from minigraph.kernels import get_num_threads, pool, set_num_threads

RNG = np.random.default_rng(1)
SHAPES = [(n, h, w, c) for n, (h, w), c in itertools.product((1, 5), ((7, 9), (5, 5)), (1, 3))]
# (pool_size, strides): strides None = pool_size; overlapping (stride < pool), uneven, stride > pool
CONFIGS = [(2, None), (3, None), (3, 1), (3, 2), (2, 1), (3, (1, 2)), ((2, 3), (1, 2)), (2, 3), (5, 2)]
PADDINGS = ["valid", "same"]


def pair(v):
    return (v, v) if isinstance(v, int) else tuple(v)


def same_pads(n, k, s):
    """TF 'same': out = ceil(n / s), total padding max((out - 1) * s + k - n, 0), the odd pixel after."""
    total = max((-(-n // s) - 1) * s + k - n, 0)
    return total // 2, total - total // 2


def ref_max_pool(x, pool_size, strides, padding):
    """Max and first argmax (as h * W + w) of every window of the -inf padded input."""
    (n, h, w, c), (kh, kw) = x.shape, pair(pool_size)
    sh, sw = pair(pool_size if strides is None else strides)
    (top, bottom), (left, right) = ((same_pads(h, kh, sh), same_pads(w, kw, sw)) if padding == "same"
                                    else ((0, 0), (0, 0)))
    padded = np.pad(x, ((0, 0), (top, bottom), (left, right), (0, 0)), constant_values=-np.inf)
    win = sliding_window_view(padded, (kh, kw), axis=(1, 2))[:, ::sh, ::sw]  # (n, oh, ow, c, kh, kw)
    win = win.reshape(win.shape[:4] + (kh * kw,))
    k = win.argmax(-1)  # numpy: the first maximum, and the first NaN if there is one
    rows = np.arange(win.shape[1])[:, None, None] * sh - top + k // kw
    cols = np.arange(win.shape[2])[:, None] * sw - left + k % kw
    return win.max(-1), rows * w + cols


def ref_route(dy, argmax, input_shape):
    """Scatter-add dy (n, ..., c) at argmax into an (n, h, w, c) zero image."""
    n, h, w, c = input_shape
    dx = np.zeros((n, h * w, c))
    np.add.at(dx, (np.arange(n).reshape((n,) + (1,) * (dy.ndim - 1)), argmax, np.arange(c)), dy)
    return dx.reshape(input_shape)


def valid_config(shape, pool_size, padding):
    kh, kw = pair(pool_size)
    return padding == "same" or (kh <= shape[1] and kw <= shape[2])


# ------------------------------------------------------------------------------------------ max pool

@pytest.mark.parametrize("padding", PADDINGS)
@pytest.mark.parametrize("pool_size,strides", CONFIGS)
@pytest.mark.parametrize("shape", SHAPES)
def test_max_pool_matches_reference(shape, pool_size, strides, padding):
    if not valid_config(shape, pool_size, padding):
        pytest.skip("window larger than the image under 'valid'")
    x = RNG.standard_normal(shape)
    y, argmax = pool.max_pool2d_forward(x, pool_size, strides, padding)
    ref_y, ref_argmax = ref_max_pool(x, pool_size, strides, padding)
    assert argmax.dtype == np.int64 and y.dtype == np.float64
    np.testing.assert_array_equal(y, ref_y)
    np.testing.assert_array_equal(argmax, ref_argmax)
    dy = RNG.standard_normal(y.shape)
    np.testing.assert_allclose(pool.max_pool2d_backward(dy, argmax, shape), ref_route(dy, argmax, shape),
                               rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("padding", PADDINGS)
@pytest.mark.parametrize("pool_size,strides", CONFIGS)
def test_max_pool_gradient_finite_differences(pool_size, strides, padding):
    x = RNG.standard_normal((2, 7, 9, 2))  # random floats: no ties, so the max is differentiable
    y, argmax = pool.max_pool2d_forward(x, pool_size, strides, padding)
    r = RNG.standard_normal(y.shape)
    numeric = numeric_grad(lambda v: pool.max_pool2d_forward(v, pool_size, strides, padding)[0], x, r)
    np.testing.assert_allclose(pool.max_pool2d_backward(r, argmax, x.shape), numeric, atol=1e-8)


def test_max_pool_window_larger_than_image_under_same():
    x = RNG.standard_normal((2, 3, 4, 2))
    y, argmax = pool.max_pool2d_forward(x, 5, 1, "same")
    ref_y, ref_argmax = ref_max_pool(x, 5, 1, "same")
    np.testing.assert_array_equal(y, ref_y)
    np.testing.assert_array_equal(argmax, ref_argmax)


def test_max_pool_ties_first_maximum_in_row_major_order_wins():
    x = np.zeros((1, 2, 4, 2))
    x[0, :, :2, 0] = [[1, 3], [3, 2]]  # window 1 of channel 0: two 3s, the one at (0, 1) comes first
    x[0, :, 2:, 0] = 7                 # window 2 of channel 0: all equal -> its top-left cell
    x[0, :, :, 1] = [[0, 5, 5, 0], [5, 5, 0, 0]]
    y, argmax = pool.max_pool2d_forward(x, 2)
    np.testing.assert_array_equal(y[0, 0], [[3, 5], [7, 5]])
    np.testing.assert_array_equal(argmax[0, 0], [[1, 1], [2, 2]])
    # many ties and overlapping windows: still numpy's first argmax of each row-major window
    x = RNG.integers(0, 3, (3, 7, 9, 4)).astype(np.float64)
    for padding in PADDINGS:
        np.testing.assert_array_equal(pool.max_pool2d_forward(x, 3, 1, padding)[1],
                                      ref_max_pool(x, 3, 1, padding)[1])


def test_max_pool_nan_propagates_and_first_nan_wins():
    x = np.array([1.0, np.nan, 5.0, np.nan]).reshape(1, 2, 2, 1)
    y, argmax = pool.max_pool2d_forward(x, 2)
    assert np.isnan(y[0, 0, 0, 0]) and argmax[0, 0, 0, 0] == 1
    x = RNG.standard_normal((2, 7, 9, 3))
    x[RNG.random(x.shape) < 0.1] = np.nan
    for padding in PADDINGS:
        y, argmax = pool.max_pool2d_forward(x, 3, (1, 2), padding)
        ref_y, ref_argmax = ref_max_pool(x, 3, (1, 2), padding)
        np.testing.assert_array_equal(y, ref_y)  # NaN == NaN for assert_array_equal
        np.testing.assert_array_equal(argmax, ref_argmax)


def test_max_pool_minus_infinity_window():
    x = np.full((1, 4, 4, 1), -np.inf)
    y, argmax = pool.max_pool2d_forward(x, 2, padding="same")
    assert np.all(y == -np.inf)
    np.testing.assert_array_equal(argmax[0, :, :, 0], [[0, 2], [8, 10]])  # top-left of each window
    assert pool.max_pool2d_backward(np.ones_like(y), argmax, x.shape).sum() == 4


# --------------------------------------------------------------------------------------- global pools

@pytest.mark.parametrize("shape", SHAPES)
def test_global_pools_match_reference(shape):
    x = RNG.standard_normal(shape)
    n, h, w, c = shape
    y, argmax = pool.global_max_pool2d_forward(x)
    np.testing.assert_array_equal(y, x.max(axis=(1, 2)))
    np.testing.assert_array_equal(argmax, x.reshape(n, h * w, c).argmax(axis=1))
    dy = RNG.standard_normal((n, c))
    np.testing.assert_array_equal(pool.global_max_pool2d_backward(dy, argmax, shape), ref_route(dy, argmax, shape))
    np.testing.assert_allclose(pool.global_avg_pool2d_forward(x), x.mean(axis=(1, 2)), rtol=1e-12)
    np.testing.assert_allclose(pool.global_avg_pool2d_backward(dy, shape),
                               np.broadcast_to(dy[:, None, None, :] / (h * w), shape), rtol=1e-12)


def test_global_max_pool_ties_and_nan():
    x = np.zeros((2, 3, 3, 2))
    x[0, 1, 2, 0] = x[0, 2, 0, 0] = 4  # tie: (1, 2) comes first
    x[1, 0, 1, 1] = x[1, 2, 2, 1] = np.nan
    y, argmax = pool.global_max_pool2d_forward(x)
    np.testing.assert_array_equal(y, [[4, 0], [0, np.nan]])
    np.testing.assert_array_equal(argmax, [[5, 0], [0, 1]])


def test_global_pool_gradients_finite_differences():
    x = RNG.standard_normal((2, 5, 7, 3))
    r = RNG.standard_normal((2, 3))
    _, argmax = pool.global_max_pool2d_forward(x)
    np.testing.assert_allclose(pool.global_max_pool2d_backward(r, argmax, x.shape),
                               numeric_grad(lambda v: pool.global_max_pool2d_forward(v)[0], x, r), atol=1e-8)
    np.testing.assert_allclose(pool.global_avg_pool2d_backward(r, x.shape),
                               numeric_grad(pool.global_avg_pool2d_forward, x, r), atol=1e-8)


# ------------------------------------------------------------------------ dtypes, layouts, threads

def test_float32_matches_float64_and_integers_become_float32():
    x = RNG.standard_normal((5, 7, 9, 3))
    for fwd in (lambda v: pool.max_pool2d_forward(v, 3, 2, "same"), pool.global_max_pool2d_forward):
        y64, a64 = fwd(x)
        y32, a32 = fwd(x.astype(np.float32))
        assert y32.dtype == np.float32
        np.testing.assert_array_equal(y32, y64.astype(np.float32))
        np.testing.assert_array_equal(a32, a64)
    avg32 = pool.global_avg_pool2d_forward(x.astype(np.float32))
    assert avg32.dtype == np.float32
    np.testing.assert_allclose(avg32, pool.global_avg_pool2d_forward(x), rtol=1e-5)
    y32, a32 = pool.max_pool2d_forward(x.astype(np.float32), 3, 2, "same")
    assert pool.max_pool2d_backward(y32, a32, x.shape).dtype == np.float32
    xi = RNG.integers(-5, 5, (2, 4, 4, 3))
    yi, _ = pool.max_pool2d_forward(xi, 2)
    assert yi.dtype == np.float32
    np.testing.assert_array_equal(yi, ref_max_pool(xi.astype(np.float64), 2, None, "valid")[0])
    assert pool.global_avg_pool2d_backward(np.ones((2, 3), np.int32), xi.shape).dtype == np.float32


@pytest.mark.parametrize("layout", ["stepped", "swapped", "reversed", "fortran"])
def test_any_memory_layout(layout):
    x = RNG.standard_normal((3, 7, 9, 4))
    y, argmax = pool.max_pool2d_forward(x, 3, (1, 2), "same")
    dy = RNG.standard_normal(y.shape)
    dx = pool.max_pool2d_backward(dy, argmax, x.shape)
    y2, argmax2 = pool.max_pool2d_forward(layouts(x)[layout], 3, (1, 2), "same")
    np.testing.assert_array_equal(y2, y)
    np.testing.assert_array_equal(argmax2, argmax)
    dx2 = pool.max_pool2d_backward(layouts(dy)[layout], layouts(argmax)[layout], x.shape)
    np.testing.assert_array_equal(dx2, dx)
    np.testing.assert_array_equal(pool.global_avg_pool2d_forward(layouts(x)[layout]),
                                  pool.global_avg_pool2d_forward(x))
    dyg = RNG.standard_normal((3, 4))
    np.testing.assert_array_equal(pool.global_avg_pool2d_backward(layouts(dyg)[layout], x.shape),
                                  pool.global_avg_pool2d_backward(dyg, x.shape))


def test_same_result_with_one_thread():
    x = RNG.standard_normal((6, 9, 7, 5))
    y, argmax = pool.max_pool2d_forward(x, 3, 1, "same")
    dx = pool.max_pool2d_backward(y, argmax, x.shape)
    threads = get_num_threads()
    set_num_threads(1)
    try:
        y1, argmax1 = pool.max_pool2d_forward(x, 3, 1, "same")
        dx1 = pool.max_pool2d_backward(y, argmax, x.shape)
    finally:
        set_num_threads(threads)
    np.testing.assert_array_equal(y1, y)
    np.testing.assert_array_equal(argmax1, argmax)
    np.testing.assert_array_equal(dx1, dx)


def test_empty_batch_and_channels():
    for shape in [(0, 5, 5, 3), (2, 5, 5, 0)]:
        y, argmax = pool.max_pool2d_forward(np.zeros(shape), 2, padding="same")
        assert y.shape == (shape[0], 3, 3, shape[3]) and argmax.shape == y.shape
        assert pool.max_pool2d_backward(y, argmax, shape).shape == shape
        assert pool.global_avg_pool2d_forward(np.zeros(shape)).shape == (shape[0], shape[3])


# ------------------------------------------------------------------------------------------ avg pool

def ref_avg_pool(x, pool_size, strides, padding):
    """Loops: each window's mean over its cells inside the image (TF / Keras: padding is not counted)."""
    (n, h, w, c), (kh, kw) = x.shape, pair(pool_size)
    sh, sw = pair(pool_size if strides is None else strides)
    (top, _), (left, _) = ((same_pads(h, kh, sh), same_pads(w, kw, sw)) if padding == "same" else ((0, 0), (0, 0)))
    oh, ow = ((-(-h // sh), -(-w // sw)) if padding == "same" else ((h - kh) // sh + 1, (w - kw) // sw + 1))
    y = np.zeros((n, oh, ow, c))
    for i, j in itertools.product(range(oh), range(ow)):
        rows = slice(max(i * sh - top, 0), min(i * sh - top + kh, h))
        cols = slice(max(j * sw - left, 0), min(j * sw - left + kw, w))
        y[:, i, j] = x[:, rows, cols].mean(axis=(1, 2))
    return y


def ref_avg_pool_backward(dy, input_shape, pool_size, strides, padding):
    """The adjoint of ref_avg_pool, built column by column from its response to unit inputs."""
    n, h, w, c = input_shape
    dx = np.zeros(input_shape)
    for p in range(h * w):
        e = np.zeros((1, h, w, 1))
        e.flat[p] = 1
        dx[:, p // w, p % w] = (ref_avg_pool(e, pool_size, strides, padding)[..., 0][..., None] * dy).sum(axis=(1, 2))
    return dx


@pytest.mark.parametrize("padding", PADDINGS)
@pytest.mark.parametrize("pool_size,strides", CONFIGS)
@pytest.mark.parametrize("shape", SHAPES)
def test_avg_pool_matches_reference(shape, pool_size, strides, padding):
    if not valid_config(shape, pool_size, padding):
        pytest.skip("window larger than the image under 'valid'")
    x = RNG.standard_normal(shape)
    y = pool.avg_pool2d_forward(x, pool_size, strides, padding)
    assert y.dtype == np.float64
    np.testing.assert_allclose(y, ref_avg_pool(x, pool_size, strides, padding), rtol=1e-12, atol=1e-12)
    dy = RNG.standard_normal(y.shape)
    np.testing.assert_allclose(pool.avg_pool2d_backward(dy, shape, pool_size, strides, padding),
                               ref_avg_pool_backward(dy, shape, pool_size, strides, padding), rtol=1e-12, atol=1e-12)
    y32 = pool.avg_pool2d_forward(x.astype(np.float32), pool_size, strides, padding)
    assert y32.dtype == np.float32
    np.testing.assert_allclose(y32, y, rtol=1e-5, atol=1e-6)
    dx32 = pool.avg_pool2d_backward(dy.astype(np.float32), shape, pool_size, strides, padding)
    assert dx32.dtype == np.float32
    np.testing.assert_allclose(dx32, pool.avg_pool2d_backward(dy, shape, pool_size, strides, padding),
                               rtol=1e-5, atol=1e-6)


def test_avg_pool_same_padding_does_not_count_the_padding():
    """A 3x3 'same' pool of ones is ones everywhere (corners average 4 cells, edges 6), as in TF."""
    y = pool.avg_pool2d_forward(np.ones((1, 4, 5, 2)), 3, 1, "same")
    np.testing.assert_array_equal(y, np.ones((1, 4, 5, 2)))
    x = np.arange(16.0).reshape(1, 4, 4, 1)
    y = pool.avg_pool2d_forward(x, 2, 2, "same")  # no padding needed: plain 2x2 means
    np.testing.assert_array_equal(y[0, :, :, 0], [[2.5, 4.5], [10.5, 12.5]])
    y = pool.avg_pool2d_forward(x[:, :3, :3], 2, 2, "same")  # the last row / column windows hold 2 and 1 cells
    np.testing.assert_array_equal(y[0, :, :, 0], [[2.5, 4.0], [8.5, 10.0]])


@pytest.mark.parametrize("padding", PADDINGS)
@pytest.mark.parametrize("pool_size,strides", [(3, 2), (2, 1), ((2, 3), (1, 2))])
def test_avg_pool_gradient_finite_differences(pool_size, strides, padding):
    x = RNG.standard_normal((2, 5, 6, 2))
    y = pool.avg_pool2d_forward(x, pool_size, strides, padding)
    dy = RNG.standard_normal(y.shape)
    np.testing.assert_allclose(pool.avg_pool2d_backward(dy, x.shape, pool_size, strides, padding),
                               numeric_grad(lambda v: pool.avg_pool2d_forward(v, pool_size, strides, padding), x, dy),
                               rtol=1e-7, atol=1e-9)


def test_avg_pool_same_bits_on_one_and_two_threads():
    x = RNG.standard_normal((8, 30, 30, 16)).astype(np.float32)
    dy = RNG.standard_normal((8, 15, 15, 16)).astype(np.float32)
    old = get_num_threads()
    results = []
    try:
        for threads in (1, 2):
            set_num_threads(threads)
            results.append((pool.avg_pool2d_forward(x, 3, 2, "same"), pool.avg_pool2d_backward(dy, x.shape, 3, 2, "same")))
    finally:
        set_num_threads(old)
    for a, b in zip(*results):
        np.testing.assert_array_equal(a, b)


def test_avg_pool_any_layout():
    x = RNG.standard_normal((2, 6, 5, 3))
    expected = pool.avg_pool2d_forward(x, 2, 1, "same")
    for name, view in layouts(x).items():
        np.testing.assert_array_equal(pool.avg_pool2d_forward(view, 2, 1, "same"), expected, err_msg=name)
        np.testing.assert_array_equal(pool.avg_pool2d_backward(view, x.shape, 1), view, err_msg=name)


# -------------------------------------------------------------------------------------- bad arguments

X = np.zeros((2, 5, 5, 3))
Y, ARGMAX = pool.max_pool2d_forward(X, 2)
BAD_CALLS = [
    (lambda: pool.max_pool2d_forward(np.zeros((5, 5, 3)), 2),
     r"max_pool2d_forward: x must be 4-D, got shape \(5, 5, 3\)"),
    (lambda: pool.max_pool2d_forward(X, 0), r"max_pool2d_forward: pool_size must be positive"),
    (lambda: pool.max_pool2d_forward(X, (2, -1)), r"max_pool2d_forward: pool_size must be positive"),
    (lambda: pool.max_pool2d_forward(X, 2, (1, 0)), r"max_pool2d_forward: strides must be positive"),
    (lambda: pool.max_pool2d_forward(X, (2, 2, 2)), r"max_pool2d_forward: pool_size must be an int or a pair"),
    (lambda: pool.max_pool2d_forward(X, (3, 6)),
     r"max_pool2d_forward: pool_size \(3, 6\) is larger than the image \(5, 5\) \(x shape \(2, 5, 5, 3\)\)"),
    (lambda: pool.max_pool2d_forward(X, 2, padding="full"),
     r"max_pool2d_forward: padding must be 'valid' or 'same'"),
    (lambda: pool.max_pool2d_forward(X.astype(complex), 2),
     r"max_pool2d_forward: x must be a real numeric array"),
    (lambda: pool.max_pool2d_backward(Y[:, :1], ARGMAX, X.shape),
     r"max_pool2d_backward: argmax shape \(2, 2, 2, 3\) does not match dy shape \(2, 1, 2, 3\)"),
    (lambda: pool.max_pool2d_backward(Y, ARGMAX.astype(float), X.shape),
     r"max_pool2d_backward: argmax must be an integer"),
    (lambda: pool.max_pool2d_backward(Y, ARGMAX - 1, X.shape),
     r"max_pool2d_backward: argmax holds 6 indices outside \[0, 25\) for input_shape \(2, 5, 5, 3\)"),
    (lambda: pool.max_pool2d_backward(Y, ARGMAX + 24, X.shape),
     r"max_pool2d_backward: argmax holds \d+ indices outside"),
    (lambda: pool.max_pool2d_backward(Y, ARGMAX.astype(np.uint64) + np.uint64(2**63), X.shape),
     r"max_pool2d_backward: argmax holds 24 indices outside"),
    (lambda: pool.max_pool2d_backward(Y, ARGMAX, (2, 5, 5, 4)),
     r"max_pool2d_backward: dy shape \(2, 2, 2, 3\) does not match input_shape \(2, 5, 5, 4\)"),
    (lambda: pool.max_pool2d_backward(Y, ARGMAX, (2, 5, 5)), r"max_pool2d_backward: input_shape must be 4"),
    (lambda: pool.max_pool2d_backward(Y, ARGMAX, None), r"max_pool2d_backward: input_shape must be 4"),
    (lambda: pool.avg_pool2d_forward(X, (3, 6)),
     r"avg_pool2d_forward: pool_size \(3, 6\) is larger than the image \(5, 5\) \(x shape \(2, 5, 5, 3\)\)"),
    (lambda: pool.avg_pool2d_forward(X[0], 2), r"avg_pool2d_forward: x must be 4-D, got shape \(5, 5, 3\)"),
    (lambda: pool.avg_pool2d_forward(X, 2, 0), r"avg_pool2d_forward: strides must be positive"),
    (lambda: pool.avg_pool2d_forward(X, 2, padding="full"), r"avg_pool2d_forward: padding must be 'valid' or 'same'"),
    (lambda: pool.avg_pool2d_backward(Y, X.shape, 3),
     r"avg_pool2d_backward: dy shape \(2, 2, 2, 3\) does not match the pooled shape \(2, 1, 1, 3\) of "
     r"input_shape \(2, 5, 5, 3\)"),
    (lambda: pool.avg_pool2d_backward(Y, (2, 5, 5, 4), 2),
     r"avg_pool2d_backward: dy shape \(2, 2, 2, 3\) does not match input_shape \(2, 5, 5, 4\)"),
    (lambda: pool.avg_pool2d_backward(Y, (2, 1, 5, 3), 2),
     r"avg_pool2d_backward: pool_size \(2, 2\) is larger than the image \(1, 5\) \(input_shape \(2, 1, 5, 3\)\)"),
    (lambda: pool.global_max_pool2d_forward(np.zeros((2, 0, 5, 3))),
     r"global_max_pool2d_forward: empty image, x shape \(2, 0, 5, 3\)"),
    (lambda: pool.global_avg_pool2d_forward(np.zeros((2, 5, 3))), r"global_avg_pool2d_forward: x must be 4-D"),
    (lambda: pool.global_max_pool2d_backward(Y, ARGMAX, X.shape),
     r"global_max_pool2d_backward: dy must be 2-D"),
    (lambda: pool.global_max_pool2d_backward(np.zeros((2, 3)), np.full((2, 3), 25), X.shape),
     r"global_max_pool2d_backward: argmax holds 6 indices outside \[0, 25\)"),
    (lambda: pool.global_avg_pool2d_backward(np.zeros((2, 3)), (3, 5, 5, 3)),
     r"global_avg_pool2d_backward: dy shape \(2, 3\) does not match input_shape \(3, 5, 5, 3\)"),
    (lambda: pool.global_avg_pool2d_backward(np.zeros((2, 3)), (2, 0, 5, 3)),
     r"global_avg_pool2d_backward: empty image"),
]


@pytest.mark.parametrize("call,message", BAD_CALLS)
def test_bad_arguments_raise_value_error(call, message):
    with pytest.raises(ValueError, match=message):
        call()
