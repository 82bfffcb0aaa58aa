"""Depthwise convolution kernels against straightforward numpy loops, finite differences, thread counts and
bad input."""
import itertools

import numpy as np
import pytest

from kernel_reference import layouts, numeric_grad
from minigraph import kernels
from minigraph.kernels import depthwise as dw

RNG = np.random.default_rng(21)


def same_pads(n, k, s):
    """TF 'same' on the dilated extent k: out = ceil(n / s), the odd pixel of padding after."""
    total = max((-(-n // s) - 1) * s + k - n, 0)
    return total // 2, total - total // 2


def pads(hw, k_hw, strides, padding, dilation):
    ext = [(k - 1) * d + 1 for k, d in zip(k_hw, dilation)]
    if padding == "same":
        return [same_pads(n, e, s) for n, e, s in zip(hw, ext, strides)]
    return [(0, 0), (0, 0)]


def taps(k_hw, strides, dilation, out_hw):
    """(ky, kx, rows, cols): for every tap, the slices of the padded input its output pixels read."""
    (kh, kw), (sh, sw), (dh, dwid), (oh, ow) = k_hw, strides, dilation, out_hw
    for ky, kx in itertools.product(range(kh), range(kw)):
        yield ky, kx, slice(ky * dh, ky * dh + (oh - 1) * sh + 1, sh), slice(kx * dwid, kx * dwid + (ow - 1) * sw + 1, sw)


def out_hw(hw, k_hw, strides, padding, dilation):
    (t, b), (l, r) = pads(hw, k_hw, strides, padding, dilation)
    ext = [(k - 1) * d + 1 for k, d in zip(k_hw, dilation)]
    return [(n + p0 + p1 - e) // s + 1 for n, p0, p1, e, s in zip(hw, (t, l), (b, r), ext, strides)]


def ref_forward(x, k, strides, padding, dilation, bias=None, relu=False):
    n, h, w, c = x.shape
    kh, kw, _, m = k.shape
    (t, b), (l, r) = pads((h, w), (kh, kw), strides, padding, dilation)
    xp = np.pad(x.astype(np.float64), ((0, 0), (t, b), (l, r), (0, 0)))
    oh, ow = out_hw((h, w), (kh, kw), strides, padding, dilation)
    y = np.zeros((n, oh, ow, c, m))
    for ky, kx, rows, cols in taps((kh, kw), strides, dilation, (oh, ow)):
        y += xp[:, rows, cols, :, None] * k[ky, kx]
    y = y.reshape(n, oh, ow, c * m) + (0 if bias is None else bias)
    return np.maximum(y, 0) if relu else y


def ref_backward_input(dy, k, hw, strides, padding, dilation):
    n, oh, ow, _ = dy.shape
    kh, kw, c, m = k.shape
    (t, b), (l, r) = pads(hw, (kh, kw), strides, padding, dilation)
    dxp = np.zeros((n, hw[0] + t + b, hw[1] + l + r, c))
    g = dy.astype(np.float64).reshape(n, oh, ow, c, m)
    for ky, kx, rows, cols in taps((kh, kw), strides, dilation, (oh, ow)):
        dxp[:, rows, cols] += (g * k[ky, kx]).sum(axis=-1)
    return dxp[:, t:t + hw[0], l:l + hw[1]]


def ref_backward_kernel(x, dy, k_hw, m, strides, padding, dilation):
    n, h, w, c = x.shape
    (t, b), (l, r) = pads((h, w), k_hw, strides, padding, dilation)
    xp = np.pad(x.astype(np.float64), ((0, 0), (t, b), (l, r), (0, 0)))
    oh, ow = dy.shape[1:3]
    g = dy.astype(np.float64).reshape(n, oh, ow, c, m)
    dk = np.zeros(k_hw + (c, m))
    for ky, kx, rows, cols in taps(k_hw, strides, dilation, (oh, ow)):
        dk[ky, kx] = (xp[:, rows, cols, :, None] * g).sum(axis=(0, 1, 2))
    return dk


def fits(hw, k_hw, padding, dilation):
    return padding == "same" or all(n >= (k - 1) * d + 1 for n, k, d in zip(hw, k_hw, dilation))


# channels: 1 (scalar tail only), 3, 8 / 16 / 32 (one and two vectors, float32 and float64), 19 (all three paths),
# 32 and 48 (the 16-lane float loops on an AVX-512 CPU: two vectors, then two and one)
CHANNELS = [1, 3, 8, 19, 32, 48]
GRID = [(k_hw, s, d) for k_hw, s, d in itertools.product([(3, 3), (1, 1), (2, 3)], [(1, 1), (2, 2), (1, 2)],
                                                       [(1, 1), (2, 2), (1, 3)])] + [((5, 5), (1, 1), (1, 1)),
                                                                                     ((5, 4), (3, 2), (1, 1))]


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("padding", ["valid", "same"])
@pytest.mark.parametrize("multiplier", [1, 3])
@pytest.mark.parametrize("k_hw,strides,dilation", GRID)
def test_matches_reference(k_hw, strides, dilation, multiplier, padding, dtype):
    hw = (9, 11)
    if not fits(hw, k_hw, padding, dilation):
        pytest.skip("dilated kernel larger than the image under 'valid'")
    tol = dict(rtol=1e-12, atol=1e-12) if dtype == np.float64 else dict(rtol=2e-5, atol=2e-5)
    for c in CHANNELS if multiplier == 1 else CHANNELS[1:3]:
        x = RNG.standard_normal((2,) + hw + (c,)).astype(dtype)
        k = RNG.standard_normal(k_hw + (c, multiplier)).astype(dtype)
        y = dw.depthwise_conv2d_forward(x, k, None, strides, padding, dilation)
        ref = ref_forward(x, k, strides, padding, dilation)
        assert y.dtype == dtype and y.shape == ref.shape
        np.testing.assert_allclose(y, ref, **tol, err_msg=f"forward, {c} channels")
        dy = RNG.standard_normal(y.shape).astype(dtype)
        dx = dw.depthwise_conv2d_backward_input(dy, k, hw, strides, padding, dilation)
        assert dx.dtype == dtype
        np.testing.assert_allclose(dx, ref_backward_input(dy, k, hw, strides, padding, dilation), **tol,
                                   err_msg=f"input gradient, {c} channels")
        dk = dw.depthwise_conv2d_backward_kernel(x, dy, k_hw, multiplier, strides, padding, dilation)
        assert dk.dtype == dtype and dk.shape == k.shape
        ktol = tol if dtype == np.float64 else dict(rtol=1e-4, atol=1e-4)
        np.testing.assert_allclose(dk, ref_backward_kernel(x, dy, k_hw, multiplier, strides, padding, dilation),
                                   **ktol, err_msg=f"kernel gradient, {c} channels")
        both = dw.depthwise_conv2d_backward(x, dy, k, strides, padding, dilation)  # one pass: the same bits
        np.testing.assert_array_equal(both[0], dx, err_msg=f"fused input gradient, {c} channels")
        np.testing.assert_array_equal(both[1], dk, err_msg=f"fused kernel gradient, {c} channels")


@pytest.mark.parametrize("shape", [(1, 1, 1, 4), (3, 2, 30, 8), (1, 30, 2, 5), (4, 14, 14, 64), (2, 6, 7, 40)])
@pytest.mark.parametrize("padding", ["valid", "same"])
def test_image_shapes_bias_and_relu(shape, padding):
    """Images narrower than a tile or the window, wide rows, many channels; bias and the fused ReLU."""
    k = RNG.standard_normal((3, 3, shape[3], 1))
    if not fits(shape[1:3], (3, 3), padding, (1, 1)):
        k = k[:1, :1]
    x = RNG.standard_normal(shape)
    bias = RNG.standard_normal(shape[3])
    for relu in (False, True):
        y = dw.depthwise_conv2d_forward(x, k, bias, 1, padding, 1, "relu" if relu else None)
        np.testing.assert_allclose(y, ref_forward(x, k, (1, 1), padding, (1, 1), bias, relu), rtol=1e-12, atol=1e-12)
    y32 = dw.depthwise_conv2d_forward(x.astype(np.float32), k, bias, 1, padding, 1, "relu")
    np.testing.assert_allclose(y32, ref_forward(x, k, (1, 1), padding, (1, 1), bias, True), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("strides,dilation,padding", [((1, 1), (1, 1), "same"), ((2, 1), (1, 1), "same"),
                                                      ((1, 1), (2, 1), "valid"), ((2, 2), (1, 1), "valid")])
def test_gradients_finite_differences(strides, dilation, padding):
    x = RNG.standard_normal((2, 6, 5, 3))
    k = RNG.standard_normal((3, 2, 3, 2))
    bias = RNG.standard_normal(6)
    fwd = lambda xx, kk: dw.depthwise_conv2d_forward(xx, kk, bias, strides, padding, dilation)
    dy = RNG.standard_normal(fwd(x, k).shape)
    np.testing.assert_allclose(dw.depthwise_conv2d_backward_input(dy, k, (6, 5), strides, padding, dilation),
                               numeric_grad(lambda v: fwd(v, k), x, dy), rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(dw.depthwise_conv2d_backward_kernel(x, dy, (3, 2), 2, strides, padding, dilation),
                               numeric_grad(lambda v: fwd(x, v), k, dy), rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("strides", [1, 2])
@pytest.mark.parametrize("channels", [24, 32])
def test_same_bits_on_one_and_two_threads(strides, dtype, channels):
    x = RNG.standard_normal((8, 20, 20, channels)).astype(dtype)
    k = RNG.standard_normal((3, 3, channels, 1)).astype(dtype)
    y = dw.depthwise_conv2d_forward(x, k, None, strides, "same")
    dy = RNG.standard_normal(y.shape).astype(dtype)
    old = kernels.get_num_threads()
    results = []
    try:
        for threads in (1, 2):
            kernels.set_num_threads(threads)
            results.append((dw.depthwise_conv2d_forward(x, k, None, strides, "same"),
                            dw.depthwise_conv2d_backward_input(dy, k, (20, 20), strides, "same"),
                            dw.depthwise_conv2d_backward_kernel(x, dy, (3, 3), 1, strides, "same"))
                           + dw.depthwise_conv2d_backward(x, dy, k, strides, "same"))
    finally:
        kernels.set_num_threads(old)
    for a, b in zip(*results):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("strides", [1, 2])
def test_arrays_past_the_prefetch_size(strides):
    """Arrays large enough that the forward and kernel-gradient rows prefetch a row ahead (input and output
    over dw.PREFETCH_BYTES): the same values as the reference and the same bits on one and two threads, for
    the forward and both gradients."""
    x = RNG.standard_normal((2, 230, 230, 32)).astype(np.float32)
    k = RNG.standard_normal((3, 3, 32, 1)).astype(np.float32)
    bias = RNG.standard_normal(32).astype(np.float32)
    old = kernels.get_num_threads()
    runs = []
    try:
        for threads in (1, 2):
            kernels.set_num_threads(threads)
            y = dw.depthwise_conv2d_forward(x, k, bias, strides, "same", 1, "relu")
            assert x.nbytes + y.nbytes >= dw.PREFETCH_BYTES
            dy = np.ascontiguousarray(y[..., ::-1])
            runs.append((y,) + dw.depthwise_conv2d_backward(x, dy, k, strides, "same"))
    finally:
        kernels.set_num_threads(old)
    x64, k64 = x.astype(np.float64), k.astype(np.float64)
    np.testing.assert_allclose(runs[0][0], ref_forward(x64, k64, (strides,) * 2, "same", (1, 1), bias, True),
                               rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(runs[0][1], ref_backward_input(runs[0][0][..., ::-1].astype(np.float64), k64,
                                                              (230, 230), (strides,) * 2, "same", (1, 1)),
                               rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(runs[0][2], ref_backward_kernel(x64, runs[0][0][..., ::-1].astype(np.float64),
                                                               (3, 3), 1, (strides,) * 2, "same", (1, 1)),
                               rtol=1e-3, atol=1e-2)
    for a, b in zip(*runs):
        np.testing.assert_array_equal(a, b)


def test_any_layout_and_integer_input():
    x = RNG.standard_normal((2, 5, 6, 4))
    k = RNG.standard_normal((3, 3, 4, 2))
    expected = dw.depthwise_conv2d_forward(x, k, padding="same")
    for name, view in layouts(x).items():
        np.testing.assert_array_equal(dw.depthwise_conv2d_forward(view, k, padding="same"), expected, err_msg=name)
    for name, view in layouts(k).items():
        np.testing.assert_array_equal(dw.depthwise_conv2d_forward(x, view, padding="same"), expected, err_msg=name)
    y = dw.depthwise_conv2d_forward(np.ones((1, 3, 3, 1), np.int32), np.ones((3, 3, 1, 1), np.int64))
    assert y.dtype == np.float32 and y.item() == 9


def test_nan_stays_nan_through_relu():
    x = np.zeros((1, 3, 3, 2))
    x[0, 1, 1, 0] = np.nan
    y = dw.depthwise_conv2d_forward(x, np.ones((1, 1, 2, 1)), activation="relu")
    assert np.isnan(y[0, 1, 1, 0]) and np.count_nonzero(np.isnan(y)) == 1


def test_empty_batch():
    x = np.zeros((0, 5, 5, 3), np.float32)
    k = np.ones((3, 3, 3, 2), np.float32)
    assert dw.depthwise_conv2d_forward(x, k).shape == (0, 3, 3, 6)
    assert dw.depthwise_conv2d_backward_input(np.zeros((0, 3, 3, 6)), k, (5, 5)).shape == (0, 5, 5, 3)
    np.testing.assert_array_equal(dw.depthwise_conv2d_backward_kernel(x, np.zeros((0, 3, 3, 6), np.float32),
                                                                      3, 2), np.zeros((3, 3, 3, 2)))
    dx, dk = dw.depthwise_conv2d_backward(x, np.zeros((0, 3, 3, 6), np.float32), k)
    assert dx.shape == (0, 5, 5, 3)
    np.testing.assert_array_equal(dk, np.zeros((3, 3, 3, 2)))


def test_outputs_start_on_a_cache_line():
    """The outputs are allocated 64-byte aligned (numpy's own large blocks start 16 bytes past a line), and
    are ordinary writable C-contiguous arrays of the input's dtype."""
    x = RNG.standard_normal((4, 32, 32, 32)).astype(np.float32)
    k = RNG.standard_normal((3, 3, 32, 1)).astype(np.float32)
    dy = RNG.standard_normal(x.shape).astype(np.float32)
    outputs = [dw.depthwise_conv2d_forward(x, k, padding="same"),
               dw.depthwise_conv2d_backward_input(dy, k, (32, 32), padding="same"),
               dw.depthwise_conv2d_backward(x, dy, k, padding="same")[0]]
    for out in outputs:
        assert out.ctypes.data % 64 == 0
        assert out.shape == x.shape and out.dtype == np.float32 and out.flags.c_contiguous and out.flags.writeable


def test_bad_arguments_name_the_function_and_shapes():
    x, k = np.zeros((1, 5, 5, 3)), np.zeros((3, 3, 3, 1))
    with pytest.raises(ValueError, match=r"depthwise_conv2d_forward: kernel \(3, 3, 3, 0\) must have positive "
                                         r"sizes and depth_multiplier"):
        dw.depthwise_conv2d_forward(x, np.zeros((3, 3, 3, 0)))
    with pytest.raises(ValueError, match=r"depthwise_conv2d_forward: input channels 3 of x \(1, 5, 5, 3\) do not "
                                         r"match kernel \(3, 3, 2, 1\)"):
        dw.depthwise_conv2d_forward(x, np.zeros((3, 3, 2, 1)))
    with pytest.raises(ValueError, match=r"depthwise_conv2d_forward: x must be 4-D, got shape \(5, 5, 3\)"):
        dw.depthwise_conv2d_forward(x[0], k)
    with pytest.raises(ValueError, match=r"depthwise_conv2d_forward: kernel must be 4-D, got shape \(3, 3, 3\)"):
        dw.depthwise_conv2d_forward(x, k[..., 0])
    with pytest.raises(ValueError, match=r"depthwise_conv2d_forward: dilated kernel \(5, 5\) is larger than the "
                                         r"input \(5, 4\)"):
        dw.depthwise_conv2d_forward(x[:, :, :4], k, dilation_rate=2)
    with pytest.raises(ValueError, match=r"depthwise_conv2d_forward: bias must have shape \(3,\)"):
        dw.depthwise_conv2d_forward(x, k, bias=np.zeros(4))
    with pytest.raises(ValueError, match=r"depthwise_conv2d_forward: strides must be positive"):
        dw.depthwise_conv2d_forward(x, k, strides=0)
    with pytest.raises(ValueError, match=r"depthwise_conv2d_forward: dilation_rate must be positive"):
        dw.depthwise_conv2d_forward(x, k, dilation_rate=(1, 0))
    with pytest.raises(ValueError, match=r"depthwise_conv2d_forward: padding must be 'valid' or 'same'"):
        dw.depthwise_conv2d_forward(x, k, padding="causal")
    with pytest.raises(ValueError, match=r"depthwise_conv2d_forward: activation must be"):
        dw.depthwise_conv2d_forward(x, k, activation="tanh")
    with pytest.raises(ValueError, match=r"depthwise_conv2d_forward: kernel size \(33, 1\) larger than 32"):
        dw.depthwise_conv2d_forward(np.zeros((1, 40, 5, 3)), np.zeros((33, 1, 3, 1)))
    with pytest.raises(ValueError, match=r"depthwise_conv2d_backward_input: dy \(1, 3, 3, 3\) does not match the "
                                         r"expected shape \(1, 3, 3, 6\)"):
        dw.depthwise_conv2d_backward_input(np.zeros((1, 3, 3, 3)), np.zeros((3, 3, 3, 2)), (5, 5))
    with pytest.raises(ValueError, match=r"depthwise_conv2d_backward_input: kernel \(3, 3, 3, 0\) must have"):
        dw.depthwise_conv2d_backward_input(np.zeros((1, 3, 3, 0)), np.zeros((3, 3, 3, 0)), (5, 5))
    for bad in (0, -1, 1.5, (1, 1), True):
        with pytest.raises(ValueError, match=r"depthwise_conv2d_backward_kernel: depth_multiplier must be a "
                                             r"positive int"):
            dw.depthwise_conv2d_backward_kernel(x, np.zeros((1, 3, 3, 3)), 3, bad)
    with pytest.raises(ValueError, match=r"depthwise_conv2d_backward_kernel: dy \(1, 3, 3, 3\) does not match the "
                                         r"expected shape \(1, 3, 3, 6\)"):
        dw.depthwise_conv2d_backward_kernel(x, np.zeros((1, 3, 3, 3)), 3, 2)
    with pytest.raises(ValueError, match=r"depthwise_conv2d_backward: dy \(1, 3, 3, 3\) does not match the "
                                         r"expected shape \(1, 3, 3, 6\)"):
        dw.depthwise_conv2d_backward(x, np.zeros((1, 3, 3, 3)), np.zeros((3, 3, 3, 2)))
    with pytest.raises(ValueError, match=r"depthwise_conv2d_backward: input channels 3 of x \(1, 5, 5, 3\) do not "
                                         r"match kernel \(3, 3, 2, 1\)"):
        dw.depthwise_conv2d_backward(x, np.zeros((1, 3, 3, 2)), np.zeros((3, 3, 2, 1)))
