"""Property-based fuzzing of the kernels and the layers on top of them (hypothesis).

Random shapes, strides, paddings, pool and kernel sizes - degenerate ones included (1x1 images, a kernel or
window exactly the size of its input, batch 1, one channel, strides larger than the image) - against the
plain numpy references of the kernel tests, and hostile arguments that must raise ValueError, never anything
else. Run once more in the bounds-checked debug build by .ci/run.
"""
import numpy as np
import pytest
from hypothesis import HealthCheck, assume, event, example, given, settings
from hypothesis import strategies as st

from minigraph import layers
from minigraph.kernels import conv, dense, pool, shapes, upsample
from minigraph.layers.base import KerasTensor
# the numpy references live beside the kernel tests: reused, not copied
from test_conv_kernels import assert_close, ref_conv, ref_transpose, transpose_case_invalid
from test_pool_kernels import ref_max_pool, ref_route
from test_upsample_kernels import ref_upsample, ref_upsample_backward

# deadline=None: the first example pays for imports, and a loaded CI machine is slow; no example database
# (nothing written into the source tree)
FUZZ = settings(max_examples=100, deadline=None, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
FEW = settings(FUZZ, max_examples=50)

DTYPES = st.sampled_from([np.float32, np.float64])
PADDINGS = st.sampled_from(["valid", "same"])
SIZES = st.integers(1, 7)
# strides: mostly small, sometimes far larger than any image here
STRIDES = st.one_of(st.integers(1, 3), st.integers(4, 1000))


def as_arg(p, as_int):
    """A pair, passed as an int when both entries agree and as_int says so (both forms are accepted)."""
    return p[0] if as_int and p[0] == p[1] else p


def rng_for(seed):
    return np.random.default_rng(seed)


def adjoint_close(lhs, rhs):
    """<A x, y> == <x, A^T y> up to float64 rounding (relative to the terms' size)."""
    scale = max(1.0, abs(lhs), abs(rhs))
    assert abs(lhs - rhs) <= 1e-9 * scale, (lhs, rhs)


# ------------------------------------------------------------------------------------------------ conv2d
@st.composite
def conv_cases(draw):
    h, w = draw(SIZES), draw(SIZES)
    return dict(n=draw(st.integers(1, 3)), h=h, w=w, cin=draw(st.integers(1, 3)), cout=draw(st.integers(1, 3)),
                k=(draw(st.integers(1, h + 2)), draw(st.integers(1, w + 2))), s=(draw(STRIDES), draw(STRIDES)),
                padding=draw(PADDINGS), int_args=draw(st.booleans()), dtype=draw(DTYPES),
                seed=draw(st.integers(0, 2**32 - 1)))


def conv_case(n, h, w, cin, cout, k, s, padding, int_args=False, dtype=np.float64, seed=0):
    return dict(n=n, h=h, w=w, cin=cin, cout=cout, k=k, s=s, padding=padding, int_args=int_args, dtype=dtype,
                seed=seed)


@settings(FUZZ)
@given(conv_cases())
@example(conv_case(1, 1, 1, 1, 1, (1, 1), (1, 1), "valid"))            # 1x1 image, 1x1 kernel
@example(conv_case(1, 1, 1, 1, 1, (3, 3), (1, 1), "same"))             # 1x1 image, kernel larger, 'same'
@example(conv_case(2, 5, 4, 1, 2, (5, 4), (1, 1), "valid"))            # kernel exactly the input
@example(conv_case(1, 5, 4, 3, 1, (5, 4), (7, 9), "same", True))       # ... and strides beyond the image
@example(conv_case(1, 6, 7, 1, 1, (2, 3), (1000, 1000), "valid", True))
@example(conv_case(1, 3, 3, 2, 2, (4, 3), (1, 1), "valid"))            # kernel taller than the input
def test_conv2d_forward_and_gradients(case):
    c = case
    rng = rng_for(c["seed"])
    x = rng.standard_normal((c["n"], c["h"], c["w"], c["cin"]))
    kernel = rng.standard_normal(c["k"] + (c["cin"], c["cout"]))
    bias = rng.standard_normal(c["cout"])
    strides = as_arg(c["s"], c["int_args"])
    kw = dict(strides=strides, padding=c["padding"])
    if c["padding"] == "valid" and (c["k"][0] > c["h"] or c["k"][1] > c["w"]):
        event("refused: kernel larger than the input")
        with pytest.raises(ValueError, match="conv2d_forward: kernel .* is larger than the input"):
            conv.conv2d_forward(x, kernel, **kw)
        with pytest.raises(ValueError, match="conv2d_backward_input: kernel .* is larger than the input"):
            conv.conv2d_backward_input(np.zeros((c["n"], 1, 1, c["cout"])), kernel, (c["h"], c["w"]), **kw)
        with pytest.raises(ValueError, match="conv2d_backward_kernel: kernel .* is larger than the input"):
            conv.conv2d_backward_kernel(x, np.zeros((c["n"], 1, 1, c["cout"])), c["k"], **kw)
        return
    ref = ref_conv(x, kernel, c["s"], c["padding"])
    dtype = c["dtype"]
    assert_close(conv.conv2d_forward(x.astype(dtype), kernel.astype(dtype), bias.astype(dtype), **kw),
                 ref + bias, dtype)
    # the two gradients are the adjoints of the (linear) forward map: <conv(x, k), dy> = <x, dx> = <k, dk>
    y = conv.conv2d_forward(x, kernel, **kw)
    dy = rng.standard_normal(y.shape)
    dx = conv.conv2d_backward_input(dy, kernel, (c["h"], c["w"]), **kw)
    dk = conv.conv2d_backward_kernel(x, dy, c["k"], **kw)
    assert dx.shape == x.shape and dk.shape == kernel.shape
    adjoint_close(np.vdot(y, dy), np.vdot(x, dx))
    adjoint_close(np.vdot(y, dy), np.vdot(kernel, dk))
    # float32 gradients agree with float64
    dx32 = conv.conv2d_backward_input(dy.astype(np.float32), kernel.astype(np.float32), (c["h"], c["w"]), **kw)
    assert_close(dx32, dx, np.float32)
    dk32 = conv.conv2d_backward_kernel(x.astype(np.float32), dy.astype(np.float32), c["k"], **kw)
    assert_close(dk32, dk, np.float32)


# --------------------------------------------------------------------------------------- conv2d_transpose
@st.composite
def transpose_cases(draw):
    s = (draw(st.integers(1, 4)), draw(st.integers(1, 4)))
    op = draw(st.one_of(st.none(), st.tuples(st.integers(0, 4), st.integers(0, 4))))
    return dict(n=draw(st.integers(1, 3)), h=draw(SIZES), w=draw(SIZES), cin=draw(st.integers(1, 3)),
                cout=draw(st.integers(1, 3)), k=(draw(st.integers(1, 6)), draw(st.integers(1, 6))), s=s,
                padding=draw(PADDINGS), op=op, dtype=draw(DTYPES), seed=draw(st.integers(0, 2**32 - 1)))


def transpose_case(n, h, w, cin, cout, k, s, padding, op=None, dtype=np.float64, seed=0):
    return dict(n=n, h=h, w=w, cin=cin, cout=cout, k=k, s=s, padding=padding, op=op, dtype=dtype, seed=seed)


@settings(FUZZ)
@given(transpose_cases())
@example(transpose_case(1, 1, 1, 1, 1, (1, 1), (1, 1), "valid"))
@example(transpose_case(1, 1, 1, 1, 1, (1, 1), (4, 4), "same", (3, 3)))
@example(transpose_case(2, 1, 1, 1, 3, (5, 5), (1, 1), "same"))
@example(transpose_case(1, 3, 2, 2, 1, (2, 2), (2, 2), "same", (0, 1)))   # even kernel, no output padding
@example(transpose_case(1, 3, 2, 2, 1, (2, 2), (2, 2), "valid", (2, 0)))  # output padding == stride
def test_conv2d_transpose_forward_and_gradients(case):
    c = case
    rng = rng_for(c["seed"])
    x = rng.standard_normal((c["n"], c["h"], c["w"], c["cin"]))
    kernel = rng.standard_normal(c["k"] + (c["cout"], c["cin"]))
    bias = rng.standard_normal(c["cout"])
    kw = dict(strides=c["s"], padding=c["padding"], output_padding=c["op"])
    if c["op"] is not None and any(p >= s for p, s in zip(c["op"], c["s"])):
        event("refused: output_padding >= strides")
        with pytest.raises(ValueError, match="conv2d_transpose_forward: output_padding .* must be smaller"):
            conv.conv2d_transpose_forward(x, kernel, **kw)
        return
    if transpose_case_invalid(c["k"], c["s"], c["padding"], c["op"]):
        event("refused: output size not mapped back")
        with pytest.raises(ValueError, match="conv2d_transpose_forward: output size"):
            conv.conv2d_transpose_forward(x, kernel, **kw)
        return
    ref = ref_transpose(x, kernel, c["s"], c["padding"], c["op"])
    dtype = c["dtype"]
    assert_close(conv.conv2d_transpose_forward(x.astype(dtype), kernel.astype(dtype), bias.astype(dtype), **kw),
                 ref + bias, dtype)
    y = conv.conv2d_transpose_forward(x, kernel, **kw)
    dy = rng.standard_normal(y.shape)
    dx = conv.conv2d_transpose_backward_input(dy, kernel, **kw)
    dk = conv.conv2d_transpose_backward_kernel(x, dy, c["k"], **kw)
    assert dx.shape == x.shape and dk.shape == kernel.shape
    adjoint_close(np.vdot(y, dy), np.vdot(x, dx))
    adjoint_close(np.vdot(y, dy), np.vdot(kernel, dk))


# -------------------------------------------------------------------------------------------- max pooling
@st.composite
def pool_cases(draw):
    h, w = draw(SIZES), draw(SIZES)
    strides = draw(st.one_of(st.none(), st.tuples(STRIDES, STRIDES)))
    return dict(shape=(draw(st.integers(1, 3)), h, w, draw(st.integers(1, 4))),
                pool=(draw(st.integers(1, h + 2)), draw(st.integers(1, w + 2))), strides=strides,
                padding=draw(PADDINGS), int_args=draw(st.booleans()), dtype=draw(DTYPES),
                ties=draw(st.booleans()), seed=draw(st.integers(0, 2**32 - 1)))


def pool_case(shape, pool_size, strides, padding, int_args=False, ties=False):
    return dict(shape=shape, pool=pool_size, strides=strides, padding=padding, int_args=int_args,
                dtype=np.float64, ties=ties, seed=0)


@settings(FUZZ)
@given(pool_cases())
@example(pool_case((1, 1, 1, 1), (1, 1), None, "valid"))
@example(pool_case((1, 1, 1, 1), (3, 3), (2, 2), "same"))
@example(pool_case((2, 4, 5, 1), (4, 5), None, "valid"))            # window exactly the image
@example(pool_case((1, 4, 5, 2), (4, 5), (1000, 7), "same"))
@example(pool_case((1, 3, 3, 1), (2, 4), None, "valid"))            # window wider than the image
@example(pool_case((3, 6, 6, 3), (3, 3), (1, 1), "same", ties=True))
def test_max_pool(case):
    c = case
    rng = rng_for(c["seed"])
    x = rng.standard_normal(c["shape"])
    if c["ties"]:
        x = np.round(x)  # many equal values: the first maximum in row-major window order must win
    x = x.astype(c["dtype"])
    pool_size = as_arg(c["pool"], c["int_args"])
    strides = None if c["strides"] is None else as_arg(c["strides"], c["int_args"])
    _, h, w, _ = c["shape"]
    if c["padding"] == "valid" and (c["pool"][0] > h or c["pool"][1] > w):
        event("refused: window larger than the image")
        with pytest.raises(ValueError, match="max_pool2d_forward: pool_size .* is larger than the image"):
            pool.max_pool2d_forward(x, pool_size, strides, c["padding"])
        return
    y, argmax = pool.max_pool2d_forward(x, pool_size, strides, c["padding"])
    ref_y, ref_argmax = ref_max_pool(x.astype(np.float64), pool_size, strides, c["padding"])
    assert y.dtype == c["dtype"] and argmax.dtype == np.int64
    np.testing.assert_array_equal(y, ref_y.astype(c["dtype"]))
    np.testing.assert_array_equal(argmax, ref_argmax)
    dy = rng.standard_normal(y.shape).astype(c["dtype"])
    dx = pool.max_pool2d_backward(dy, argmax, x.shape)
    assert dx.dtype == c["dtype"]
    np.testing.assert_allclose(dx, ref_route(dy.astype(np.float64), argmax, x.shape), rtol=1e-6, atol=1e-6)


@settings(FEW)
@given(st.tuples(st.integers(1, 3), SIZES, SIZES, st.integers(1, 4)), DTYPES, st.integers(0, 2**32 - 1))
@example((1, 1, 1, 1), np.float64, 0)
def test_global_pools(shape, dtype, seed):
    rng = rng_for(seed)
    x = rng.standard_normal(shape).astype(dtype)
    n, h, w, c = shape
    y, argmax = pool.global_max_pool2d_forward(x)
    np.testing.assert_array_equal(y, x.max(axis=(1, 2)))
    np.testing.assert_array_equal(argmax, x.reshape(n, h * w, c).argmax(axis=1))
    dy = rng.standard_normal((n, c)).astype(dtype)
    np.testing.assert_allclose(pool.global_max_pool2d_backward(dy, argmax, shape),
                               ref_route(dy.astype(np.float64), argmax, shape), rtol=1e-6)
    tol = 1e-5 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(pool.global_avg_pool2d_forward(x), x.astype(np.float64).mean(axis=(1, 2)), rtol=tol,
                               atol=tol)
    np.testing.assert_allclose(pool.global_avg_pool2d_backward(dy, shape),
                               np.broadcast_to(dy[:, None, None, :] / (h * w), shape), rtol=tol, atol=tol)


@settings(FEW)
@given(st.tuples(st.integers(1, 3), SIZES, SIZES, st.integers(1, 3)), st.tuples(st.integers(1, 4), st.integers(1, 4)),
       st.booleans(), DTYPES, st.integers(0, 2**32 - 1))
@example((1, 1, 1, 1), (1, 1), False, np.float64, 0)
@example((1, 1, 1, 1), (9, 1), False, np.float32, 0)
def test_upsampling(shape, size, int_args, dtype, seed):
    rng = rng_for(seed)
    x = rng.standard_normal(shape).astype(dtype)
    arg = as_arg(size, int_args)
    y = upsample.upsampling2d_forward(x, arg)
    assert y.dtype == dtype
    np.testing.assert_array_equal(y, ref_upsample(x, size))
    dy = rng.standard_normal(y.shape).astype(dtype)
    tol = 1e-5 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(upsample.upsampling2d_backward(dy, arg), ref_upsample_backward(dy, size), rtol=tol,
                               atol=tol)
    if size[0] > 1:  # a dy that is not a whole number of blocks
        with pytest.raises(ValueError, match="upsampling2d_backward: dy shape .* whole number"):
            upsample.upsampling2d_backward(dy[:, 1:], arg)


@settings(FEW)
@given(st.integers(0, 9), st.integers(0, 9), st.integers(0, 9), st.booleans(), st.booleans(), DTYPES,
       st.integers(0, 2**32 - 1))
@example(1, 1, 1, False, False, np.float64, 0)
def test_matmul_and_dense(m, k, n, trans_a, trans_b, dtype, seed):
    def assert_close(got, want, dtype):  # empty results too
        assert got.dtype == dtype and got.shape == want.shape
        tol = 1e-4 if dtype == np.float32 else 1e-10
        np.testing.assert_allclose(got, want, rtol=tol, atol=tol * max([1.0] + list(np.abs(want).reshape(-1))))

    rng = rng_for(seed)
    a = rng.standard_normal((k, m) if trans_a else (m, k)).astype(dtype)
    b = rng.standard_normal((n, k) if trans_b else (k, n)).astype(dtype)
    want = (a.T if trans_a else a).astype(np.float64) @ (b.T if trans_b else b).astype(np.float64)
    assert_close(dense.matmul(a, b, trans_a, trans_b), want, dtype)
    x, kernel, bias = a if not trans_a else a.T, b if not trans_b else b.T, rng.standard_normal(n).astype(dtype)
    assert_close(dense.dense_forward(x, kernel, bias), want + bias, dtype)
    dy = rng.standard_normal((m, n)).astype(dtype)
    dx, dkernel, dbias = dense.dense_backward(x, kernel, dy)
    x64, k64, dy64 = (v.astype(np.float64) for v in (x, kernel, dy))
    assert_close(dx, dy64 @ k64.T, dtype)
    assert_close(dkernel, x64.T @ dy64, dtype)
    assert_close(dbias, dy64.sum(axis=0), dtype)
    if k > 0:  # inner dimensions that differ
        with pytest.raises(ValueError, match="matmul: inner dimensions differ"):
            dense.matmul(a, b[..., 1:] if trans_b else b[1:], trans_a, trans_b)


# ------------------------------------------------------------------------------------------ NaN and inf
@settings(FEW)
@given(conv_cases(), st.sampled_from([np.nan, np.inf]))
def test_conv_kernels_propagate_nan_and_inf(case, bad):
    """One non-finite input pixel makes exactly the outputs whose window covers it non-finite; the rest stay
    finite (no crash, no NaN spreading into unrelated outputs)."""
    c = case
    if c["padding"] == "valid":
        assume(c["k"][0] <= c["h"] and c["k"][1] <= c["w"])
    rng = rng_for(c["seed"])
    x = rng.standard_normal((c["n"], c["h"], c["w"], c["cin"]))
    kernel = rng.standard_normal(c["k"] + (c["cin"], c["cout"]))
    kernel[kernel == 0] = 1.0
    img, i, j = (int(rng.integers(0, d)) for d in (c["n"], c["h"], c["w"]))
    x[img, i, j, int(rng.integers(0, c["cin"]))] = bad
    kw = dict(strides=c["s"], padding=c["padding"])
    y = conv.conv2d_forward(x.astype(c["dtype"]), kernel.astype(c["dtype"]), **kw)
    # which outputs see the bad pixel: the reference conv of its indicator with an all-ones kernel
    marker = np.zeros((c["n"], c["h"], c["w"], 1))
    marker[img, i, j] = 1
    touched = ref_conv(marker, np.ones(c["k"] + (1, 1)), c["s"], c["padding"])[..., 0] > 0
    nonfinite = ~np.isfinite(y)
    np.testing.assert_array_equal(nonfinite, np.broadcast_to(touched[..., None], y.shape))
    if np.isnan(bad):
        assert np.isnan(y[touched]).all()


def test_pool_and_upsampling_nan_and_inf():
    x = np.zeros((1, 4, 4, 2))
    x[0, 0, 0, 0], x[0, 3, 3, 1] = np.nan, np.inf
    y, argmax = pool.max_pool2d_forward(x, 2)
    assert np.isnan(y[0, 0, 0, 0]) and argmax[0, 0, 0, 0] == 0 and y[0, 1, 1, 1] == np.inf
    assert np.isfinite(np.delete(y.reshape(-1), [0, 7])).all()
    dx = pool.max_pool2d_backward(np.ones_like(y), argmax, x.shape)
    assert dx.sum() == 8 and dx[0, 0, 0, 0] == 1
    gmax, _ = pool.global_max_pool2d_forward(x)
    assert np.isnan(gmax[0, 0]) and gmax[0, 1] == np.inf
    gavg = pool.global_avg_pool2d_forward(x)
    assert np.isnan(gavg[0, 0]) and gavg[0, 1] == np.inf
    up = upsample.upsampling2d_forward(x, 2)
    assert np.isnan(up[0, :2, :2, 0]).all() and np.isnan(up).sum() == 4 and np.isinf(up).sum() == 4
    y = dense.dense_forward(np.array([[np.nan, 1.0], [1.0, 2.0]]), np.ones((2, 3)))
    assert np.isnan(y[0]).all() and np.isfinite(y[1]).all()


# ----------------------------------------------------------------------------------- hostile arguments
# A valid call with (usually) one argument replaced by something hostile: a wrong rank or size, an empty
# axis, a non-numeric dtype, a window or stride that is zero, negative, a float, a string, a bool or beyond
# any C integer. The kernels must raise ValueError - never another exception, never touch memory out of
# bounds (the debug build checks the memoryviews), and succeed on every valid call.
ANY_SHAPE = st.lists(st.integers(0, 4), min_size=0, max_size=5).map(tuple)
HOSTILE_DTYPES = st.sampled_from([np.int32, np.uint8, np.bool_, np.float16, np.complex64, np.object_, np.str_,
                                  "datetime64[s]"])
HOSTILE_WINDOW = st.one_of(st.integers(-2, 0), st.tuples(st.integers(-1, 3), st.integers(-1, 3)),
                           st.sampled_from([None, 2.5, "2", (1, 2, 3), (), (2,), [2, 2], True, (2, None),
                                            2**31, 2**40, 2**63, 2**70, -2**63]))
HOSTILE_PADDING = st.sampled_from(["SAME", "full", "causal", None, 3, "", b"same"])
ARGS = ["none", "x_shape", "x_dtype", "k_shape", "k_dtype", "bias", "strides", "padding", "op", "dy_shape", "hw"]


def array_of(shape, dtype=np.float64):
    return np.ones(shape, np.float64).astype(dtype)


def only_value_errors(call):
    """The call's result, or None when it raised ValueError (with a message); any other exception is a bug."""
    try:
        return call()
    except ValueError as err:
        assert str(err), "empty error message"
        return None


def nudge(shape, spec):
    """shape with axis spec[0] (modulo the rank) changed by spec[1], at least 0."""
    i, d = spec[0] % len(shape), spec[1]
    return shape[:i] + (max(shape[i] + d, 0),) + shape[i + 1:]


DY_NUDGE = st.tuples(st.integers(0, 3), st.sampled_from([-1, 1]))


def near(shape, draw):
    """shape with one axis off by one (or the whole shape replaced)."""
    return draw(st.one_of(ANY_SHAPE, st.integers(0, len(shape) - 1).flatmap(
        lambda i: st.sampled_from([-1, 1]).map(lambda d: shape[:i] + (max(shape[i] + d, 0),) + shape[i + 1:]))))


@st.composite
def hostile_conv_calls(draw):
    n, h, w, c, co = draw(st.integers(0, 2)), draw(st.integers(0, 6)), draw(st.integers(0, 6)), \
        draw(st.integers(0, 3)), draw(st.integers(0, 3))
    call = dict(x=(n, h, w, c), x_dtype=np.float64, k=(draw(st.integers(1, 7)), draw(st.integers(1, 7)), c, co),
                k_dtype=np.float64, bias=None, strides=(draw(st.integers(1, 4)), draw(st.integers(1, 4))),
                padding=draw(PADDINGS), op=None, dy=None, hw=None, corrupt=draw(st.sampled_from(ARGS)))
    bad = call["corrupt"]
    if bad in ("x_shape", "k_shape"):
        key = bad[0] if bad == "x_shape" else "k"
        call[key] = near(call[key], draw)
    elif bad in ("x_dtype", "k_dtype"):
        call[bad] = draw(HOSTILE_DTYPES)
    elif bad == "bias":
        call["bias"] = draw(ANY_SHAPE)
    elif bad == "strides":
        call["strides"] = draw(HOSTILE_WINDOW)
    elif bad == "padding":
        call["padding"] = draw(HOSTILE_PADDING)
    elif bad == "op":
        call["op"] = draw(st.one_of(HOSTILE_WINDOW, st.tuples(st.integers(0, 5), st.integers(0, 5))))
    elif bad == "hw":
        call["hw"] = draw(st.one_of(HOSTILE_WINDOW, st.tuples(st.integers(0, 9), st.integers(0, 9))))
    elif bad == "dy_shape":
        call["dy"] = draw(DY_NUDGE)
    return call


@settings(FUZZ, max_examples=400)
@given(hostile_conv_calls())
def test_conv_hostile_arguments(call):
    x, k = array_of(call["x"], call["x_dtype"]), array_of(call["k"], call["k_dtype"])
    bias = None if call["bias"] is None else np.zeros(call["bias"])
    kw = dict(strides=call["strides"], padding=call["padding"])
    # only meaningful for the uncorrupted call, whose x and kernel are 4-D
    valid_geometry = call["corrupt"] == "none" and (
        call["padding"] == "same" or (k.shape[0] <= x.shape[1] and k.shape[1] <= x.shape[2]))
    y = only_value_errors(lambda: conv.conv2d_forward(x, k, bias, **kw))
    event(f"corrupt {call['corrupt']}: forward {'ran' if y is not None else 'refused'}")
    if call["corrupt"] == "none":
        assert (y is not None) == valid_geometry
    if y is None:  # stand-in output shapes for the backward calls
        y = np.ones((x.shape[0] if x.ndim else 1, 2, 2, k.shape[-1] if k.ndim else 1))
    else:
        assert y.shape[0] == x.shape[0] and y.shape[3] == k.shape[3] and np.isfinite(y).all()
    dy = y if call["dy"] is None else np.ones(nudge(y.shape, call["dy"]))
    hw = (x.shape[1:3] if x.ndim == 4 else (3, 3)) if call["hw"] is None else call["hw"]
    khw = k.shape[:2] if call["hw"] is None else call["hw"]
    dx = only_value_errors(lambda: conv.conv2d_backward_input(dy, k, hw, **kw))
    dk = only_value_errors(lambda: conv.conv2d_backward_kernel(x, dy, khw, **kw))
    if valid_geometry:
        assert dx.shape == x.shape and dk.shape == k.shape
    # the transpose: kernel (kh, kw, cout, cin), x has cin channels
    kt = np.swapaxes(k, 2, 3) if k.ndim == 4 else k
    t = only_value_errors(lambda: conv.conv2d_transpose_forward(x, kt, bias, output_padding=call["op"], **kw))
    if call["corrupt"] == "none":
        assert t is not None and t.shape[3] == kt.shape[2]
    if t is None:
        t = np.ones((x.shape[0] if x.ndim else 1, 4, 4, kt.shape[2] if kt.ndim == 4 else 1))
    dt = t if call["dy"] is None else np.ones(nudge(t.shape, call["dy"]))
    tx = only_value_errors(lambda: conv.conv2d_transpose_backward_input(dt, kt, output_padding=call["op"], **kw))
    tk = only_value_errors(lambda: conv.conv2d_transpose_backward_kernel(x, dt, khw, output_padding=call["op"],
                                                                         **kw))
    if call["corrupt"] == "none" and min(x.shape[1:3]) > 0:  # empty images: test_transpose_of_an_empty_image
        assert tx.shape == x.shape and tk.shape == kt.shape


@st.composite
def hostile_pool_calls(draw):
    shape = (draw(st.integers(0, 2)), draw(st.integers(0, 6)), draw(st.integers(0, 6)), draw(st.integers(0, 3)))
    call = dict(x=shape, x_dtype=np.float64, pool=(draw(st.integers(1, 7)), draw(st.integers(1, 7))),
                strides=draw(st.one_of(st.none(), st.tuples(st.integers(1, 4), st.integers(1, 4)))),
                padding=draw(PADDINGS), size=(draw(st.integers(1, 3)), draw(st.integers(1, 3))),
                dy=None, input_shape=None, index=None,
                corrupt=draw(st.sampled_from(["none", "x_shape", "x_dtype", "pool", "strides", "padding", "size",
                                              "dy_shape", "input_shape", "argmax"])))
    bad = call["corrupt"]
    if bad == "x_shape":
        call["x"] = near(shape, draw)
    elif bad == "x_dtype":
        call["x_dtype"] = draw(HOSTILE_DTYPES)
    elif bad in ("pool", "strides", "size"):
        call[bad] = draw(HOSTILE_WINDOW)
    elif bad == "padding":
        call["padding"] = draw(HOSTILE_PADDING)
    elif bad == "dy_shape":
        call["dy"] = draw(DY_NUDGE)
    elif bad == "input_shape":
        call["input_shape"] = draw(st.one_of(ANY_SHAPE, st.just(None), st.just((1, 2**70, 2, 1)),
                                             st.just((1, -1, 2, 1)), st.just("abcd")))
    elif bad == "argmax":
        call["index"] = draw(st.one_of(st.integers(-2**63, 2**63 - 1), st.integers(-3, 50)))
    return call


@settings(FUZZ, max_examples=400)
@given(hostile_pool_calls())
def test_pool_and_upsample_hostile_arguments(call):
    x = array_of(call["x"], call["x_dtype"])
    valid = call["corrupt"] == "none" and (
        call["padding"] == "same" or (call["pool"][0] <= call["x"][1] and call["pool"][1] <= call["x"][2]))
    out = only_value_errors(lambda: pool.max_pool2d_forward(x, call["pool"], call["strides"], call["padding"]))
    event(f"corrupt {call['corrupt']}: forward {'ran' if out is not None else 'refused'}")
    if call["corrupt"] == "none":
        assert (out is not None) == valid
    y, argmax = out if out is not None else (np.ones((1, 2, 2, 1)), np.zeros((1, 2, 2, 1), np.int64))
    dy = y if call["dy"] is None else np.ones(nudge(y.shape, call["dy"]))
    input_shape = x.shape if call["input_shape"] is None else call["input_shape"]
    if call["index"] is not None and argmax.size:  # a forged argmax: refused unless inside [0, h * w)
        argmax = argmax.copy()
        argmax.reshape(-1)[0] = call["index"]
    dx = only_value_errors(lambda: pool.max_pool2d_backward(dy, argmax, input_shape))
    if valid:
        assert dx.shape == x.shape
    if call["corrupt"] == "argmax" and out is not None and argmax.size:
        assert (dx is None) == (not 0 <= call["index"] < x.shape[1] * x.shape[2])
    g = only_value_errors(lambda: pool.global_max_pool2d_forward(x))
    gy, gam = g if g is not None else (np.ones((1, 1)), np.zeros((1, 1), np.int64))
    gdy = gy if call["dy"] is None else np.ones(nudge(gy.shape, call["dy"]))
    if call["index"] is not None and gam.size:
        gam = gam.copy()
        gam.reshape(-1)[0] = call["index"]
    only_value_errors(lambda: pool.global_max_pool2d_backward(gdy, gam, input_shape))
    avg = only_value_errors(lambda: pool.global_avg_pool2d_forward(x))
    if call["corrupt"] == "none":
        assert (g is not None) == (avg is not None) == (call["x"][1] * call["x"][2] > 0)
    only_value_errors(lambda: pool.global_avg_pool2d_backward(gdy, input_shape))
    u = only_value_errors(lambda: upsample.upsampling2d_forward(x, call["size"]))
    if call["corrupt"] == "none":
        assert u.shape == (x.shape[0], x.shape[1] * call["size"][0], x.shape[2] * call["size"][1], x.shape[3])
    if u is None:
        u = np.ones((1, 2, 2, 1))
    du = u if call["dy"] is None else np.ones(nudge(u.shape, call["dy"]))
    only_value_errors(lambda: upsample.upsampling2d_backward(du, call["size"]))


@settings(FUZZ, max_examples=200)
@given(st.tuples(st.integers(0, 4), st.integers(0, 4)), st.integers(0, 4), st.booleans(), st.booleans(),
       st.sampled_from(["none", "a", "b", "a_dtype", "b_dtype", "bias", "dy"]), st.data())
def test_dense_hostile_arguments(mk, n, trans_a, trans_b, corrupt, data):
    (m, k) = mk
    shapes_ = {"a": (k, m) if trans_a else (m, k), "b": (n, k) if trans_b else (k, n), "bias": (n,), "dy": (m, n)}
    dtypes = {"a": np.float64, "b": np.float64}
    if corrupt in ("a", "b", "bias", "dy"):
        shapes_[corrupt] = near(shapes_[corrupt], data.draw)
    elif corrupt != "none":
        dtypes[corrupt[0]] = data.draw(HOSTILE_DTYPES)
    a, b = array_of(shapes_["a"], dtypes["a"]), array_of(shapes_["b"], dtypes["b"])
    c = only_value_errors(lambda: dense.matmul(a, b, trans_a, trans_b))
    if c is not None:
        np.testing.assert_array_equal(c, (a.T if trans_a else a).astype(float) @ (b.T if trans_b else b).astype(float))
    assert (c is not None) or corrupt != "none"
    x, kernel = (a.T if trans_a else a), (b.T if trans_b else b)
    y = only_value_errors(lambda: dense.dense_forward(x, kernel, np.zeros(shapes_["bias"])))
    grads = only_value_errors(lambda: dense.dense_backward(x, kernel, np.ones(shapes_["dy"])))
    if corrupt == "none":
        assert y.shape == (m, n) and grads[0].shape == (m, k) and grads[1].shape == (k, n)


def test_conv_strides_beyond_c_integers_raise_value_error():
    """A stride that no C integer holds is refused like any other bad stride (the pooling kernels say
    'must be positive (and < 2**31)')."""
    x, k = np.ones((1, 3, 3, 1)), np.ones((2, 2, 1, 1))
    for strides in (2**63, 2**70, (1, 2**64)):
        for padding in ("valid", "same"):
            with pytest.raises(ValueError, match="conv2d_forward: strides"):
                conv.conv2d_forward(x, k, strides=strides, padding=padding)
            with pytest.raises(ValueError, match="conv2d_backward_kernel: strides"):
                conv.conv2d_backward_kernel(x, np.ones((1, 1, 1, 1)), (2, 2), strides=strides, padding=padding)
            with pytest.raises(ValueError, match="conv2d_backward_input: strides"):
                conv.conv2d_backward_input(np.ones((1, 1, 1, 1)), k, (3, 3), strides=strides, padding=padding)


@pytest.mark.parametrize("bad", [(2, 1.5), (1.5, 2), ("2", "2"), (True, 2), (2, None)],
                         ids=["float second", "float first", "strings", "bool", "None"])
def test_window_pairs_of_non_integers_are_refused(bad):
    """A pair holding a float, a string or a bool is refused by every kernel - not truncated to (2, 1), parsed,
    or read as 1 (conv2d's strides, pooling's pool_size and strides, upsampling's size)."""
    x = np.ones((1, 6, 6, 1))
    calls = {"conv2d_forward strides": lambda: conv.conv2d_forward(x, np.ones((2, 2, 1, 1)), strides=bad),
             "max_pool2d_forward pool_size": lambda: pool.max_pool2d_forward(x, bad),
             "max_pool2d_forward strides": lambda: pool.max_pool2d_forward(x, 2, bad),
             "upsampling2d_forward size": lambda: upsample.upsampling2d_forward(x, bad),
             "upsampling2d_backward size": lambda: upsample.upsampling2d_backward(np.ones((1, 12, 12, 1)), bad)}
    accepted = []
    for name, call in calls.items():
        try:
            call()
            accepted.append(name)
        except ValueError:
            pass
    assert not accepted, f"{bad!r} accepted by {accepted}"


def test_transpose_of_an_empty_image_has_a_gradient():
    """conv2d_transpose_forward of an image with no rows gives, under 'valid', kh - 1 rows of bias; its input
    gradient must accept that output's shape (or the forward refuse the empty image, as conv2d_forward does
    a kernel larger than its input) - not one succeed and the other raise."""
    x, kernel = np.ones((1, 0, 3, 1)), np.ones((3, 3, 2, 1))
    try:
        y = conv.conv2d_transpose_forward(x, kernel)
    except ValueError:
        return
    assert y.shape == (1, 2, 5, 2)
    assert conv.conv2d_transpose_backward_input(np.ones(y.shape), kernel).shape == x.shape
    assert conv.conv2d_transpose_backward_kernel(x, np.ones(y.shape), (3, 3)).shape == kernel.shape


# ----------------------------------------------------------------------------------------------- layers
@st.composite
def layer_cases(draw):
    h, w = draw(SIZES), draw(SIZES)
    kind = draw(st.sampled_from(["Conv2D", "Conv2DTranspose", "MaxPooling2D", "UpSampling2D"]))
    window = (draw(st.integers(1, h + 2)), draw(st.integers(1, w + 2)))
    small = (draw(st.integers(1, 4)), draw(st.integers(1, 4)))
    return dict(kind=kind, shape=(draw(st.integers(1, 2)), h, w, draw(st.integers(1, 3))), window=window,
                strides=small if kind in ("Conv2DTranspose", "UpSampling2D") else (draw(STRIDES), draw(STRIDES)),
                padding=draw(PADDINGS), filters=draw(st.integers(1, 3)), seed=draw(st.integers(0, 2**32 - 1)))


def make_layer(c):
    if c["kind"] == "Conv2D":
        return layers.Conv2D(c["filters"], c["window"], strides=c["strides"], padding=c["padding"])
    if c["kind"] == "Conv2DTranspose":
        return layers.Conv2DTranspose(c["filters"], c["window"], strides=c["strides"], padding=c["padding"])
    if c["kind"] == "MaxPooling2D":
        return layers.MaxPooling2D(c["window"], strides=c["strides"], padding=c["padding"])
    return layers.UpSampling2D(c["strides"])


def layer_reference(c, layer, x):
    if c["kind"] == "Conv2D":
        kernel, bias = layer.get_weights()
        return ref_conv(x.astype(np.float64), kernel.astype(np.float64), c["strides"], c["padding"]) + bias
    if c["kind"] == "Conv2DTranspose":
        kernel, bias = layer.get_weights()
        return ref_transpose(x.astype(np.float64), kernel.astype(np.float64), c["strides"], c["padding"]) + bias
    if c["kind"] == "MaxPooling2D":
        return ref_max_pool(x.astype(np.float64), c["window"], c["strides"], c["padding"])[0]
    return ref_upsample(x, c["strides"])


@settings(FUZZ)
@given(layer_cases())
def test_layers_symbolic_shape_matches_eager_result(case):
    """The shape a layer announces in a graph is the shape it computes, for every geometry; a geometry it
    cannot compute is refused in the graph already, naming the layer and the argument."""
    c = case
    _, h, w, _ = c["shape"]
    symbolic_layer, eager_layer = make_layer(c), make_layer(c)
    invalid = (c["kind"] in ("Conv2D", "MaxPooling2D") and c["padding"] == "valid"
               and (c["window"][0] > h or c["window"][1] > w))
    if invalid:
        arg = "kernel_size" if c["kind"] == "Conv2D" else "pool_size"
        with pytest.raises(ValueError, match=f"'{symbolic_layer.name}'.*{arg}"):
            symbolic_layer(KerasTensor((None,) + c["shape"][1:]))
        with pytest.raises(ValueError, match=f"'{eager_layer.name}'.*{arg}"):
            eager_layer(np.zeros(c["shape"], np.float32))
        return
    symbolic = symbolic_layer(KerasTensor((None,) + c["shape"][1:]))
    x = rng_for(c["seed"]).standard_normal(c["shape"]).astype(np.float32)
    out = eager_layer(x)
    assert out.dtype == np.float32
    assert symbolic.shape == (None,) + out.shape[1:]
    want = layer_reference(c, eager_layer, x)
    np.testing.assert_allclose(out, want, rtol=1e-4, atol=1e-4 * max(1.0, np.abs(want).max()))


def test_window_output_lengths_match_the_kernels():
    """shapes.py (what the layers announce) against what the kernels return, exhaustively on small sizes."""
    x = np.zeros((1, 1, 1, 1))
    for n in range(1, 7):
        for k in range(1, 8):
            for s in (1, 2, 3, 7):
                for padding in ("valid", "same"):
                    img = np.broadcast_to(x, (1, n, 1, 1))
                    if padding == "valid" and k > n:
                        assert shapes.conv_output_length(n, k, s, padding) == 0
                        continue
                    got = conv.conv2d_forward(img, np.zeros((k, 1, 1, 1)), strides=(s, 1), padding=padding)
                    assert got.shape[1] == shapes.conv_output_length(n, k, s, padding)
                    got, _ = pool.max_pool2d_forward(img, (k, 1), (s, 1), padding)
                    assert got.shape[1] == shapes.conv_output_length(n, k, s, padding)
