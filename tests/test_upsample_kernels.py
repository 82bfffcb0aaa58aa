"""Nearest-neighbour and bilinear upsampling kernels against numpy references, finite differences and (bilinear)
real Keras numbers (tests/data/bilinear_reference.npz, made by tests/data/make_bilinear_reference.py)."""
import itertools
import os

import numpy as np
import pytest

from kernel_reference import layouts, numeric_grad
from minigraph import kernels
from minigraph.kernels import upsample

RNG = np.random.default_rng(2)
SHAPES = [(n, h, w, c) for n, (h, w), c in itertools.product((1, 5), ((7, 9), (5, 5)), (1, 3))]
SIZES = [1, 2, (2, 3), (3, 1)]


def pair(v):
    return (v, v) if isinstance(v, int) else tuple(v)


def ref_upsample(x, size):
    sh, sw = pair(size)
    return x.repeat(sh, axis=1).repeat(sw, axis=2)


def ref_upsample_backward(dy, size):
    (n, oh, ow, c), (sh, sw) = dy.shape, pair(size)
    return dy.reshape(n, oh // sh, sh, ow // sw, sw, c).sum(axis=(2, 4))


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("shape", SHAPES)
def test_upsampling_matches_reference(shape, size):
    x = RNG.standard_normal(shape)
    y = upsample.upsampling2d_forward(x, size)
    np.testing.assert_array_equal(y, ref_upsample(x, size))
    dy = RNG.standard_normal(y.shape)
    np.testing.assert_allclose(upsample.upsampling2d_backward(dy, size), ref_upsample_backward(dy, size),
                               rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("size", SIZES)
def test_upsampling_gradient_finite_differences(size):
    x = RNG.standard_normal((2, 5, 7, 2))
    r = RNG.standard_normal(ref_upsample(x, size).shape)
    np.testing.assert_allclose(upsample.upsampling2d_backward(r, size),
                               numeric_grad(lambda v: upsample.upsampling2d_forward(v, size), x, r), atol=1e-8)


def test_float32_matches_float64_and_integers_become_float32():
    x = RNG.standard_normal((5, 7, 9, 3))
    y32 = upsample.upsampling2d_forward(x.astype(np.float32), (2, 3))
    assert y32.dtype == np.float32
    np.testing.assert_array_equal(y32, upsample.upsampling2d_forward(x, (2, 3)).astype(np.float32))
    dx32 = upsample.upsampling2d_backward(y32, (2, 3))
    assert dx32.dtype == np.float32
    np.testing.assert_allclose(dx32, 6 * x, rtol=1e-5)
    xi = RNG.integers(-5, 5, (2, 3, 4, 2))
    yi = upsample.upsampling2d_forward(xi, 2)
    assert yi.dtype == np.float32
    np.testing.assert_array_equal(yi, ref_upsample(xi, 2))
    assert upsample.upsampling2d_backward(np.ones((1, 4, 4, 1), np.int64), 2).dtype == np.float32


@pytest.mark.parametrize("layout", ["stepped", "swapped", "reversed", "fortran"])
def test_any_memory_layout(layout):
    x = RNG.standard_normal((3, 5, 7, 4))
    dy = RNG.standard_normal((3, 10, 21, 4))
    np.testing.assert_array_equal(upsample.upsampling2d_forward(layouts(x)[layout], (2, 3)),
                                  ref_upsample(x, (2, 3)))
    np.testing.assert_array_equal(upsample.upsampling2d_backward(layouts(dy)[layout], (2, 3)),
                                  upsample.upsampling2d_backward(dy, (2, 3)))


def test_empty_inputs():
    assert upsample.upsampling2d_forward(np.zeros((0, 3, 3, 2)), 2).shape == (0, 6, 6, 2)
    assert upsample.upsampling2d_forward(np.zeros((2, 3, 0, 2)), 2).shape == (2, 6, 0, 2)
    assert upsample.upsampling2d_backward(np.zeros((2, 6, 6, 0)), 3).shape == (2, 2, 2, 0)


# ------------------------------------------------------------------------------------------ bilinear

def ref_bilinear(x, size):
    """Loops over output pixels: half-pixel centres, src = (o + 0.5) / s - 0.5, the two nearest input pixels
    clamped to the image, weights 1 - t and t."""
    (n, h, w, c), (sh, sw) = x.shape, pair(size)
    y = np.zeros((n, h * sh, w * sw, c))

    def taps(o, s, size_in):
        src = (o + 0.5) / s - 0.5
        low = int(np.floor(src))
        t = src - low
        return min(max(low, 0), size_in - 1), min(max(low + 1, 0), size_in - 1), t

    for i, j in itertools.product(range(h * sh), range(w * sw)):
        y0, y1, ty = taps(i, sh, h)
        x0, x1, tx = taps(j, sw, w)
        y[:, i, j] = ((1 - ty) * ((1 - tx) * x[:, y0, x0] + tx * x[:, y0, x1])
                      + ty * ((1 - tx) * x[:, y1, x0] + tx * x[:, y1, x1]))
    return y


BILINEAR_SIZES = [1, 2, (2, 3), (3, 1), 4]


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("size", BILINEAR_SIZES)
@pytest.mark.parametrize("shape", SHAPES + [(2, 1, 1, 3), (1, 1, 6, 2)])
def test_bilinear_matches_reference(shape, size, dtype):
    x = RNG.standard_normal(shape).astype(dtype)
    y = upsample.upsampling2d_bilinear_forward(x, size)
    tol = 1e-12 if dtype == np.float64 else 1e-5
    assert y.dtype == dtype
    np.testing.assert_allclose(y, ref_bilinear(x, size), rtol=tol, atol=tol)
    dy = RNG.standard_normal(y.shape).astype(dtype)
    dx = upsample.upsampling2d_bilinear_backward(dy, size)
    # the adjoint of the reference: its matrix (output pixel, input pixel) from one image per input pixel
    n, h, w, c = shape
    matrix = ref_bilinear(np.eye(h * w).reshape(1, h, w, h * w), size).reshape(-1, h * w)
    ref_dx = np.einsum("ok,noc->nkc", matrix, dy.reshape(n, -1, c)).reshape(dx.shape)
    np.testing.assert_allclose(dx, ref_dx, rtol=tol, atol=tol * 10)


def test_bilinear_gradient_finite_differences():
    x = RNG.standard_normal((2, 3, 4, 2))
    dy = RNG.standard_normal((2, 6, 12, 2))
    np.testing.assert_allclose(upsample.upsampling2d_bilinear_backward(dy, (2, 3)),
                               numeric_grad(lambda v: upsample.upsampling2d_bilinear_forward(v, (2, 3)), x, dy),
                               rtol=1e-7, atol=1e-9)


def test_bilinear_matches_keras():
    d = np.load(os.path.join(os.path.dirname(__file__), "data", "bilinear_reference.npz"))
    for i, size in enumerate(d["sizes"]):
        size = tuple(int(v) for v in size)
        y = upsample.upsampling2d_bilinear_forward(d[f"x_{i}"], size)
        np.testing.assert_allclose(y, d[f"y_tf_keras_{i}"], rtol=1e-6, atol=1e-6)
        np.testing.assert_allclose(y, d[f"y_keras3_{i}"], rtol=1e-6, atol=1e-6)
        np.testing.assert_allclose(upsample.upsampling2d_bilinear_backward(d[f"dy_{i}"], size), d[f"dx_{i}"],
                                   rtol=1e-5, atol=1e-5)


def test_bilinear_same_bits_on_one_and_two_threads():
    x = RNG.standard_normal((8, 20, 20, 16)).astype(np.float32)
    dy = RNG.standard_normal((8, 40, 60, 16)).astype(np.float32)
    old = kernels.get_num_threads()
    results = []
    try:
        for threads in (1, 2):
            kernels.set_num_threads(threads)
            results.append((upsample.upsampling2d_bilinear_forward(x, (2, 3)),
                            upsample.upsampling2d_bilinear_backward(dy, (2, 3))))
    finally:
        kernels.set_num_threads(old)
    for a, b in zip(*results):
        np.testing.assert_array_equal(a, b)


def test_bilinear_empty_and_any_layout():
    assert upsample.upsampling2d_bilinear_forward(np.zeros((0, 3, 3, 2)), 2).shape == (0, 6, 6, 2)
    assert upsample.upsampling2d_bilinear_backward(np.zeros((2, 6, 6, 0)), 3).shape == (2, 2, 2, 0)
    x = RNG.standard_normal((2, 4, 3, 3))
    for name, view in layouts(x).items():
        np.testing.assert_array_equal(upsample.upsampling2d_bilinear_forward(view, 2),
                                      upsample.upsampling2d_bilinear_forward(x, 2), err_msg=name)


@pytest.mark.parametrize("call,message", [
    (lambda: upsample.upsampling2d_bilinear_forward(np.zeros((3, 3, 2)), 2),
     r"upsampling2d_bilinear_forward: x must be 4-D, got shape \(3, 3, 2\)"),
    (lambda: upsample.upsampling2d_bilinear_forward(np.zeros((1, 3, 3, 2)), 0),
     r"upsampling2d_bilinear_forward: size must be positive"),
    (lambda: upsample.upsampling2d_bilinear_backward(np.zeros((1, 6, 7, 2)), 2),
     r"upsampling2d_bilinear_backward: dy shape \(1, 6, 7, 2\) is not a whole number of size \(2, 2\) blocks"),
])
def test_bilinear_bad_arguments(call, message):
    with pytest.raises(ValueError, match=message):
        call()


@pytest.mark.parametrize("call,message", [
    (lambda: upsample.upsampling2d_forward(np.zeros((3, 3, 2)), 2),
     r"upsampling2d_forward: x must be 4-D, got shape \(3, 3, 2\)"),
    (lambda: upsample.upsampling2d_forward(np.zeros((1, 3, 3, 2)), 0),
     r"upsampling2d_forward: size must be positive"),
    (lambda: upsample.upsampling2d_forward(np.zeros((1, 3, 3, 2)), (2, -2)),
     r"upsampling2d_forward: size must be"),
    (lambda: upsample.upsampling2d_forward(np.zeros((1, 3, 3, 2)), "x"),
     r"upsampling2d_forward: size must be an int"),
    (lambda: upsample.upsampling2d_forward(np.array([["a"]]), 2),
     r"upsampling2d_forward: x must be a real numeric"),
    (lambda: upsample.upsampling2d_backward(np.zeros((1, 6, 7, 2)), 2),
     r"upsampling2d_backward: dy shape \(1, 6, 7, 2\) is not a whole number of size \(2, 2\) blocks"),
    (lambda: upsample.upsampling2d_backward(np.zeros((6, 6, 2)), 2), r"upsampling2d_backward: dy must be 4-D"),
    (lambda: upsample.upsampling2d_backward(np.zeros((1, 6, 6, 2)), (0, 1)),
     r"upsampling2d_backward: size must be"),
])
def test_bad_arguments_raise_value_error(call, message):
    with pytest.raises(ValueError, match=message):
        call()
