"""matmul / dense kernels against numpy and finite differences."""
import itertools

import numpy as np
import pytest

from kernel_reference import layouts, numeric_grad
from minigraph.kernels import dense

RNG = np.random.default_rng(3)
SHAPES = [(5, 4, 3), (1, 7, 1), (1, 9, 6), (6, 9, 1), (16, 33, 9)]  # (m, k, n); m or n = 1 take gemv


def rand(*shape, dtype=np.float64):
    return RNG.standard_normal(shape).astype(dtype)


def op(a, trans):
    return a.T if trans else a


@pytest.mark.parametrize("trans_a,trans_b", list(itertools.product((False, True), repeat=2)))
@pytest.mark.parametrize("m,k,n", SHAPES)
def test_matmul_matches_numpy(m, k, n, trans_a, trans_b):
    a = rand(k, m) if trans_a else rand(m, k)
    b = rand(n, k) if trans_b else rand(k, n)
    c = dense.matmul(a, b, trans_a, trans_b)
    assert c.dtype == np.float64 and c.flags.c_contiguous
    np.testing.assert_allclose(c, op(a, trans_a) @ op(b, trans_b), rtol=1e-12, atol=1e-12)
    for layout in ["stepped", "swapped", "reversed", "fortran"]:  # "swapped" and "fortran" take the no-copy path
        np.testing.assert_allclose(dense.matmul(layouts(a)[layout], layouts(b)[layout], trans_a, trans_b), c,
                                   rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("m,k,n", SHAPES)
def test_dense_forward_and_backward_match_numpy(m, k, n):
    x, kernel, bias, dy = rand(m, k), rand(k, n), rand(n), rand(m, n)
    np.testing.assert_allclose(dense.dense_forward(x, kernel, bias), x @ kernel + bias, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(dense.dense_forward(x, kernel), x @ kernel, rtol=1e-12, atol=1e-12)
    dx, dkernel, dbias = dense.dense_backward(x, kernel, dy)
    np.testing.assert_allclose(dx, dy @ kernel.T, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(dkernel, x.T @ dy, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(dbias, dy.sum(axis=0), rtol=1e-12, atol=1e-12)
    no_dx, dkernel2, _ = dense.dense_backward(layouts(x)["fortran"], kernel, layouts(dy)["stepped"], need_dx=False)
    assert no_dx is None
    np.testing.assert_allclose(dkernel2, dkernel, rtol=1e-12, atol=1e-12)


def test_dense_gradients_finite_differences():
    x, kernel, bias = rand(4, 6), rand(6, 3), rand(3)
    r = rand(4, 3)
    dx, dkernel, dbias = dense.dense_backward(x, kernel, r)
    for grad, f, arg in [(dx, lambda v: dense.dense_forward(v, kernel, bias), x),
                         (dkernel, lambda v: dense.dense_forward(x, v, bias), kernel),
                         (dbias, lambda v: dense.dense_forward(x, kernel, v), bias)]:
        np.testing.assert_allclose(grad, numeric_grad(f, arg, r), atol=1e-8)


def test_dtypes():
    x, kernel, bias = rand(8, 5), rand(5, 4), rand(4)
    y64 = dense.dense_forward(x, kernel, bias)
    y32 = dense.dense_forward(x.astype(np.float32), kernel, bias)  # kernel and bias follow x: float32
    assert y32.dtype == np.float32
    np.testing.assert_allclose(y32, y64, rtol=1e-5, atol=1e-5)
    assert dense.dense_forward(x, kernel.astype(np.float32)).dtype == np.float64
    assert dense.matmul(np.arange(6).reshape(2, 3), np.ones((3, 2), np.int8)).dtype == np.float32
    np.testing.assert_array_equal(dense.matmul(np.arange(6).reshape(2, 3), np.ones((3, 2))), [[3, 3], [12, 12]])
    dy = rand(8, 4)
    grads32, grads64 = dense.dense_backward(x.astype(np.float32), kernel, dy), dense.dense_backward(x, kernel, dy)
    for g32, g64 in zip(grads32, grads64):
        assert g32.dtype == np.float32
        np.testing.assert_allclose(g32, g64, rtol=1e-5, atol=1e-5)


def test_empty_dimensions():
    np.testing.assert_array_equal(dense.matmul(np.zeros((3, 0)), np.zeros((0, 2))), np.zeros((3, 2)))
    np.testing.assert_array_equal(dense.dense_forward(np.zeros((3, 0)), np.zeros((0, 2)), [1, 2]), [[1, 2]] * 3)
    assert dense.matmul(np.zeros((0, 4)), np.zeros((4, 2))).shape == (0, 2)
    dx, dkernel, dbias = dense.dense_backward(np.zeros((0, 4)), np.ones((4, 2)), np.zeros((0, 2)))
    assert dx.shape == (0, 4)
    np.testing.assert_array_equal(dkernel, np.zeros((4, 2)))
    np.testing.assert_array_equal(dbias, [0, 0])


@pytest.mark.parametrize("call,message", [
    (lambda: dense.matmul(np.zeros(3), np.zeros((3, 2))), r"matmul: a must be 2-D, got shape \(3,\)"),
    (lambda: dense.matmul(np.zeros((2, 3)), np.zeros((2, 3, 1))),
     r"matmul: b must be 2-D, got shape \(2, 3, 1\)"),
    (lambda: dense.matmul(np.zeros((2, 3)), np.zeros((4, 2))),
     r"matmul: inner dimensions differ: a \(2, 3\) @ b \(4, 2\)"),
    (lambda: dense.matmul(np.zeros((2, 3)), np.zeros((3, 2)), trans_a=True),
     r"matmul: inner dimensions differ: a \(2, 3\) transposed @ b \(3, 2\)"),
    (lambda: dense.matmul(np.zeros((2, 3), complex), np.zeros((3, 2))),
     r"matmul: a must be a real numeric array"),
    (lambda: dense.dense_forward(np.zeros((5, 3)), np.zeros((4, 2))),
     r"dense_forward: inner dimensions differ: x \(5, 3\) @ kernel \(4, 2\)"),
    (lambda: dense.dense_forward(np.zeros((5, 3)), np.zeros((3, 2)), np.zeros(3)),
     r"dense_forward: bias shape \(3,\) does not match kernel shape \(3, 2\)"),
    (lambda: dense.dense_forward(np.zeros((5, 3)), np.zeros((3, 2)), np.zeros((1, 2))),
     r"dense_forward: bias must be 1-D"),
    (lambda: dense.dense_forward(np.zeros((2, 5, 3)), np.zeros((3, 2))), r"dense_forward: x must be 2-D"),
    (lambda: dense.dense_backward(np.zeros((5, 3)), np.zeros((3, 2)), np.zeros((5, 3))),
     r"dense_backward: expected x \(n, in\), kernel \(in, out\), dy \(n, out\), "
     r"got x \(5, 3\), kernel \(3, 2\), dy \(5, 3\)"),
    (lambda: dense.dense_backward(np.zeros((5, 3)), np.zeros((4, 2)), np.zeros((5, 2))),
     r"dense_backward: expected"),
    (lambda: dense.dense_backward(np.zeros((5, 3)), np.zeros((3, 2)), np.zeros(2)),
     r"dense_backward: dy must be 2-D"),
])
def test_bad_arguments_raise_value_error(call, message):
    with pytest.raises(ValueError, match=message):
        call()


# ----------------------------------------------------------------- float32 products on the direct conv tiles

# (rows, in, out) above the direct path's work threshold: out a multiple of 16 (16-lane tiles on AVX-512
# CPUs), of 8 only, narrow outputs (out < 8, in % 8 == 0), and out = 10 (BLAS: the tiles do not cover it);
# row counts that leave partial tiles
DIRECT_SHAPES = [(128, 784, 64), (128, 64, 64), (100, 64, 24), (37, 96, 48), (300, 64, 3), (128, 64, 10),
                 (13, 700, 16)]


@pytest.mark.parametrize("rows,cin,cout", DIRECT_SHAPES)
def test_float32_products_match_float64_blas(rows, cin, cout):
    x, kernel, bias, dy = rand(rows, cin), rand(cin, cout), rand(cout), rand(rows, cout)
    x32, k32, b32, dy32 = (a.astype(np.float32) for a in (x, kernel, bias, dy))
    x, kernel, bias, dy = (a.astype(np.float64) for a in (x32, k32, b32, dy32))  # the same rounded values

    def close(got, want):
        assert got.dtype == np.float32 and got.shape == want.shape
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5 * np.abs(want).max())

    close(dense.dense_forward(x32, k32, b32), x @ kernel + bias)
    close(dense.dense_forward(x32, k32, b32, activation="relu"), np.maximum(x @ kernel + bias, 0))
    dx, dkernel, dbias = dense.dense_backward(x32, k32, dy32)
    close(dx, dy @ kernel.T)
    close(dkernel, x.T @ dy)
    close(dbias, dy.sum(axis=0))
    close(dense.matmul(dy32, k32, trans_b=True), dy @ kernel.T)
    close(dense.matmul(x32, dy32, trans_a=True), x.T @ dy)
    # the BLAS path gives the same values to float32 rounding
    old = dense._set_direct(False)
    try:
        close(dense.dense_forward(x32, k32, b32, activation="relu"), np.maximum(x @ kernel + bias, 0))
        close(dense.dense_backward(x32, k32, dy32)[1], x.T @ dy)
    finally:
        dense._set_direct(old)


@pytest.mark.parametrize("rows,cin,cout", [(300, 200, 40), (40, 200, 300), (1, 50, 40), (30, 0, 20)])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_blas_bias_and_relu_run_per_slab(rows, cin, cout, dtype):
    """On the BLAS path the bias and the ReLU run on each thread's slab of the output (rows when the output
    is tall, columns when wide): every slab gets its own bias columns, NaN passes the ReLU, and in float32
    1 and 2 threads give the same bits (OpenBLAS's float64 kernels round a narrower slab differently)."""
    from minigraph import kernels
    x, kernel, bias = rand(rows, cin, dtype=dtype), rand(cin, cout, dtype=dtype), rand(cout, dtype=dtype)
    if rows > 1 and cin:
        x[1, 0] = np.nan
    want = x.astype(np.float64) @ kernel + bias
    old, threads = dense._set_direct(False), kernels.get_num_threads()
    try:
        results = []
        for n in (1, 2):
            kernels.set_num_threads(n)
            results.append([dense.dense_forward(x, kernel, bias, activation=act) for act in (None, "relu")])
    finally:
        dense._set_direct(old)
        kernels.set_num_threads(threads)
    if dtype == np.float32:
        for one, two in zip(*results):
            np.testing.assert_array_equal(one, two)
    tol = 1e-4 if dtype == np.float32 else 1e-10
    np.testing.assert_allclose(results[0][0], want, rtol=tol, atol=tol)
    np.testing.assert_allclose(results[0][1], np.where(np.isnan(want), np.nan, np.maximum(want, 0)), rtol=tol,
                               atol=tol)
    assert (np.isnan(results[0][1][1]).all() if rows > 1 and cin else not np.isnan(results[0][1]).any())


def test_float32_products_from_any_layout():
    """Fortran-ordered operands are read as transposes without a copy: every combination still lands on
    the right direct product (or on BLAS where the direct kernels take no bias)."""
    x, kernel, dy = rand(96, 80, dtype=np.float32), rand(80, 32, dtype=np.float32), rand(96, 32, dtype=np.float32)
    want_y, want_dk = x.astype(np.float64) @ kernel, x.T.astype(np.float64) @ dy
    for name in ["stepped", "swapped", "reversed", "fortran"]:
        y = dense.dense_forward(layouts(x)[name], layouts(kernel)[name], np.zeros(32, np.float32))
        np.testing.assert_allclose(y, want_y, rtol=1e-5, atol=1e-4)
        dk = dense.matmul(layouts(x)[name], layouts(dy)[name], trans_a=True)
        np.testing.assert_allclose(dk, want_dk, rtol=1e-5, atol=1e-4)


@pytest.mark.parametrize("name", ["stepped", "swapped", "reversed", "fortran"])
def test_fused_relu_from_any_layout_without_bias(name):
    """A Fortran-ordered x is read as a transpose: the product must still take the ReLU (it once skipped it)."""
    x, kernel = rand(64, 64, dtype=np.float32), rand(64, 32, dtype=np.float32)
    want = np.maximum(x.astype(np.float64) @ kernel, 0)
    y = dense.dense_forward(layouts(x)[name], layouts(kernel)[name], None, "relu")
    assert y.min() == 0
    np.testing.assert_allclose(y, want, rtol=1e-5, atol=1e-4)


def test_direct_products_are_bit_identical_for_any_thread_count():
    from minigraph import kernels
    x, kernel, dy = rand(128, 784, dtype=np.float32), rand(784, 64, dtype=np.float32), rand(128, 64, dtype=np.float32)
    threads = kernels.get_num_threads()
    try:
        kernels.set_num_threads(1)
        one = [dense.dense_forward(x, kernel), *dense.dense_backward(x, kernel, dy)]
        kernels.set_num_threads(max(threads, 2))
        two = [dense.dense_forward(x, kernel), *dense.dense_backward(x, kernel, dy)]
    finally:
        kernels.set_num_threads(threads)
    for a, b in zip(one, two):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("trans_a,trans_b", [(False, False), (True, False), (False, True), (True, True)])
@pytest.mark.parametrize("m,k,n", [(300, 200, 40), (40, 200, 300), (257, 129, 65)])
def test_blas_products_split_over_the_team_equal_one_threads(trans_a, trans_b, m, k, n):
    """Large products run as one single-threaded BLAS call per thread on slabs of C's rows or columns (the
    longer side), with OpenBLAS's own pool at one thread: the same result on any thread count."""
    from minigraph import kernels
    from minigraph.kernels import _blas_library
    assert _blas_library.get_num_threads() == 1
    a = rand(*((k, m) if trans_a else (m, k)), dtype=np.float64)
    b = rand(*((n, k) if trans_b else (k, n)), dtype=np.float64)
    threads = kernels.get_num_threads()
    try:
        kernels.set_num_threads(1)
        one = dense.matmul(a, b, trans_a, trans_b)
        kernels.set_num_threads(3)  # more threads than cores, an odd count: slabs of unequal length
        three = dense.matmul(a, b, trans_a, trans_b)
    finally:
        kernels.set_num_threads(threads)
    want = (a.T if trans_a else a) @ (b.T if trans_b else b)
    np.testing.assert_allclose(one, want, rtol=1e-12)
    np.testing.assert_allclose(three, want, rtol=1e-12)


def test_fused_relu_keeps_nan_and_bad_activation_raises():
    x = np.ones((64, 64), np.float32)
    x[3, 5] = np.nan
    y = dense.dense_forward(x, -np.ones((64, 32), np.float32), activation="relu")  # finite outputs are < 0
    np.testing.assert_array_equal(np.isnan(y), np.broadcast_to(np.arange(64)[:, None] == 3, y.shape))
    np.testing.assert_array_equal(y[np.arange(64) != 3], 0)
    with pytest.raises(ValueError, match=r"dense_forward: activation must be None, 'linear' or 'relu', got 'tanh'"):
        dense.dense_forward(x, np.ones((64, 32)), activation="tanh")


def _layer_by_layer(x, layers):
    for kernel, bias, relu in layers:
        x = dense.dense_forward(x, kernel, bias, "relu" if relu else None)
    return x


@pytest.mark.parametrize("rows", [0, 1, 7, 24, 100])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_dense_chain_is_dense_forward_layer_by_layer_bit_for_bit(rows, dtype):
    # 784-64-64-10 (the seed's MLP): rows >= 24 take the direct tiles for the first products, fewer BLAS
    rng = np.random.default_rng(rows)
    x = rng.standard_normal((rows, 784)).astype(dtype)
    layers = [(rng.standard_normal((784, 64)).astype(dtype), rng.standard_normal(64).astype(dtype), True),
              (rng.standard_normal((64, 64)).astype(dtype), None, True),
              (rng.standard_normal((64, 10)).astype(dtype), rng.standard_normal(10).astype(dtype), False)]
    got = dense.dense_chain_forward(x, layers)
    assert got.dtype == dtype and got.shape == (rows, 10)
    np.testing.assert_array_equal(got, _layer_by_layer(x, layers))
    h = np.maximum(x @ layers[0][0] + layers[0][1], 0)
    h = np.maximum(h @ layers[1][0], 0)
    np.testing.assert_allclose(got, h @ layers[2][0] + layers[2][1], rtol=1e-4 if dtype == np.float32 else 1e-10,
                               atol=1e-3 if dtype == np.float32 else 1e-9)


def test_dense_chain_converts_as_dense_forward_does():
    # integer input becomes float32, a float64 kernel follows the input's float32, a strided view is copied
    rng = np.random.default_rng(1)
    x = rng.integers(-3, 4, (3, 16)).astype(np.int32)
    wide = rng.standard_normal((16, 24))
    layers = [(wide[:, ::2], rng.standard_normal(12), True),
              (rng.standard_normal((12, 5)).astype(np.float32), None, False)]
    got = dense.dense_chain_forward(x, layers)
    assert got.dtype == np.float32
    np.testing.assert_array_equal(got, _layer_by_layer(x, layers))


def test_dense_chain_relu_keeps_nan():
    bias = np.array([np.nan, 1.0, -1.0], np.float32)
    out = dense.dense_chain_forward(np.zeros((1, 2), np.float32), [(np.ones((2, 3), np.float32), bias, True)])
    assert np.isnan(out[0, 0]) and out[0, 1] == 1.0 and out[0, 2] == 0.0
    np.testing.assert_array_equal(dense.dense_chain_forward(-np.ones((1, 2), np.float32),
                                                            [(np.eye(2, dtype=np.float32), None, True)]), [[0, 0]])


@pytest.mark.parametrize("layers, message", [
    ([], "layers is empty"),
    ([(np.ones((3, 4), np.float32), None, True)],
     r"inner dimensions differ at layer 0: its input \(2, 5\) @ kernel \(3, 4\)"),
    ([(np.ones((5, 4), np.float32), None, True), (np.ones((3, 2), np.float32), None, False)],
     r"inner dimensions differ at layer 1: its input \(2, 4\) @ kernel \(3, 2\)"),
    ([(np.ones((5, 4), np.float32), np.ones(3, np.float32), True)], r"bias shape \(3,\) of layer 0 does not match"),
    ([(np.ones((5, 4), np.float32), None)], r"layer 0 must be a \(kernel, bias, relu\) triple"),
    ([(np.ones(5, np.float32), None, True)], "kernel must be 2-D"),
])
def test_dense_chain_bad_arguments_raise_value_error(layers, message):
    with pytest.raises(ValueError, match=r"dense_chain_forward: " + message):
        dense.dense_chain_forward(np.ones((2, 5), np.float32), layers)
    with pytest.raises(ValueError, match="dense_chain_forward: x must be 2-D"):
        dense.dense_chain_forward(np.ones(5, np.float32), [(np.ones((5, 4), np.float32), None, True)])
