"""conv2d / conv2d_transpose kernels against plain numpy references, finite differences and adjointness."""
import numpy as np
import pytest

from minigraph import kernels as K
from minigraph.kernels import conv

RNG = np.random.default_rng(0)


def rand(*shape, dtype=np.float64):
    return RNG.standard_normal(shape).astype(dtype)


def pair(v):
    return (v, v) if isinstance(v, int) else tuple(v)


# --------------------------------------------------------------------------------- numpy references

def same_pads(n, out, k, s):
    """TF: total padding max((out - 1) * s + k - n, 0), the odd pixel after."""
    total = max((out - 1) * s + k - n, 0)
    return total // 2, total - total // 2


def ref_conv(x, k, strides, padding):
    """Direct loops over output pixels of the zero-padded input."""
    (n, h, w, _), (kh, kw, _, co), (sh, sw) = x.shape, k.shape, pair(strides)
    if padding == "same":
        oh, ow = -(-h // sh), -(-w // sw)
        x = np.pad(x, ((0, 0), same_pads(h, oh, kh, sh), same_pads(w, ow, kw, sw), (0, 0)))
    else:
        oh, ow = (h - kh) // sh + 1, (w - kw) // sw + 1
    y = np.zeros((n, oh, ow, co))
    for i in range(oh):
        for j in range(ow):
            y[:, i, j] = np.einsum("nabc,abcd->nd", x[:, i * sh:i * sh + kh, j * sw:j * sw + kw], k)
    return y


def transpose_out(n, k, s, padding, op):
    """Keras' deconv_output_length, written out again."""
    if op is None:
        return n * s + max(k - s, 0) if padding == "valid" else n * s
    return (n - 1) * s + k - 2 * (k // 2 if padding == "same" else 0) + op


def ref_transpose(x, k, strides, padding, output_padding=None):
    """Scatter-add every input pixel times the kernel, then crop TF's padding."""
    (n, h, w, _), (kh, kw, co, _), (sh, sw) = x.shape, k.shape, pair(strides)
    oph, opw = (None, None) if output_padding is None else pair(output_padding)
    oh, ow = transpose_out(h, kh, sh, padding, oph), transpose_out(w, kw, sw, padding, opw)
    top = same_pads(oh, h, kh, sh)[0] if padding == "same" else 0
    left = same_pads(ow, w, kw, sw)[0] if padding == "same" else 0
    full = np.zeros((n, max((h - 1) * sh + kh, top + oh), max((w - 1) * sw + kw, left + ow), co))
    for i in range(h):
        for j in range(w):
            full[:, i * sh:i * sh + kh, j * sw:j * sw + kw] += np.einsum("nc,abdc->nabd", x[:, i, j], k)
    return full[:, top:top + oh, left:left + ow]


def assert_close(got, want, dtype):
    assert got.dtype == dtype and got.shape == want.shape
    if dtype == np.float64:
        np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-10)
    else:
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4 * max(1.0, np.abs(want).max()))


def check_both_dtypes(fn, ref, *arrays, **kw):
    for dtype in (np.float64, np.float32):
        assert_close(fn(*(a.astype(dtype) for a in arrays), **kw), ref, dtype)


# ------------------------------------------------------------------------------------ forward grids

BATCH = [1, 5]
HW = [(7, 9), (5, 5)]
CHANNELS = [(1, 3), (2, 1)]
KERNELS = [(1, 1), (3, 5)]
STRIDES = [1, 2, (1, 2)]
PADDINGS = ["valid", "same"]


@pytest.mark.parametrize("n", BATCH)
@pytest.mark.parametrize("hw", HW)
@pytest.mark.parametrize("cin,cout", CHANNELS)
@pytest.mark.parametrize("khw", KERNELS)
@pytest.mark.parametrize("strides", STRIDES)
@pytest.mark.parametrize("padding", PADDINGS)
def test_conv2d_forward(n, hw, cin, cout, khw, strides, padding):
    x, k, b = rand(n, *hw, cin), rand(*khw, cin, cout), rand(cout)
    ref = ref_conv(x, k, strides, padding)
    check_both_dtypes(conv.conv2d_forward, ref, x, k, strides=strides, padding=padding)
    check_both_dtypes(conv.conv2d_forward, ref + b, x, k, b, strides=strides, padding=padding)


def transpose_case_invalid(khw, strides, padding, output_padding):
    """TF cannot map an even kernel's 'same' transpose back without output padding."""
    return output_padding is not None and padding == "same" and any(
        k % 2 == 0 and op == 0 for k, op in zip(khw, pair(output_padding)))


@pytest.mark.parametrize("n", BATCH)
@pytest.mark.parametrize("hw", [(4, 7), (5, 5)])
@pytest.mark.parametrize("cin,cout", CHANNELS)
@pytest.mark.parametrize("khw", KERNELS + [(2, 4)])
@pytest.mark.parametrize("strides", STRIDES)
@pytest.mark.parametrize("padding", PADDINGS)
@pytest.mark.parametrize("largest_output_padding", [False, True])
def test_conv2d_transpose_forward(n, hw, cin, cout, khw, strides, padding, largest_output_padding):
    op = tuple(s - 1 for s in pair(strides)) if largest_output_padding else None
    x, k, b = rand(n, *hw, cin), rand(*khw, cout, cin), rand(cout)
    kw = dict(strides=strides, padding=padding, output_padding=op)
    if transpose_case_invalid(khw, strides, padding, op):
        with pytest.raises(ValueError, match="conv2d_transpose_forward: output size"):
            conv.conv2d_transpose_forward(x, k, **kw)
        return
    ref = ref_transpose(x, k, **kw)
    check_both_dtypes(conv.conv2d_transpose_forward, ref, x, k, **kw)
    check_both_dtypes(conv.conv2d_transpose_forward, ref + b, x, k, b, **kw)


# ------------------------------------------------------------------------- gradients by finite differences

def fd_check(loss, arr, grad, samples=8, eps=1e-6):
    """Central differences of loss() along a few coordinates of arr (perturbed in place)."""
    flat = arr.reshape(-1)
    for i in RNG.choice(flat.size, size=min(samples, flat.size), replace=False):
        old = flat[i]
        flat[i] = old + eps
        up = loss()
        flat[i] = old - eps
        down = loss()
        flat[i] = old
        np.testing.assert_allclose((up - down) / (2 * eps), grad.reshape(-1)[i], rtol=1e-6, atol=1e-6)


GRAD_CASES = [  # (hw, khw, strides, padding, output_padding for the transpose)
    ((6, 7), (3, 3), 1, "valid", None),
    ((6, 7), (3, 2), 2, "same", None),
    ((5, 6), (2, 3), (2, 1), "valid", (1, 0)),
    ((5, 5), (3, 3), 2, "same", 1),
    ((4, 5), (1, 1), 1, "same", None),
]


@pytest.mark.parametrize("hw,khw,strides,padding,op", GRAD_CASES)
def test_conv2d_gradients(hw, khw, strides, padding, op):
    x, k, b = rand(2, *hw, 2), rand(*khw, 2, 3), rand(3)
    r = rand(*conv.conv2d_forward(x, k, strides=strides, padding=padding).shape)
    loss = lambda: np.sum(conv.conv2d_forward(x, k, b, strides=strides, padding=padding) * r)
    fd_check(loss, x, conv.conv2d_backward_input(r, k, hw, strides=strides, padding=padding))
    fd_check(loss, k, conv.conv2d_backward_kernel(x, r, khw, strides=strides, padding=padding))
    fd_check(loss, b, r.sum(axis=(0, 1, 2)))


@pytest.mark.parametrize("hw,khw,strides,padding,op", GRAD_CASES)
def test_conv2d_transpose_gradients(hw, khw, strides, padding, op):
    kw = dict(strides=strides, padding=padding, output_padding=op)
    x, k, b = rand(2, *hw, 2), rand(*khw, 3, 2), rand(3)
    r = rand(*conv.conv2d_transpose_forward(x, k, **kw).shape)
    loss = lambda: np.sum(conv.conv2d_transpose_forward(x, k, b, **kw) * r)
    fd_check(loss, x, conv.conv2d_transpose_backward_input(r, k, **kw))
    fd_check(loss, k, conv.conv2d_transpose_backward_kernel(x, r, khw, **kw))
    fd_check(loss, b, r.sum(axis=(0, 1, 2)))


# ------------------------------------------------------------------------------------------- adjoint

@pytest.mark.parametrize("hw,khw", [((7, 9), (3, 3)), ((6, 6), (1, 5)), ((5, 8), (3, 1))])
@pytest.mark.parametrize("strides", STRIDES + [(3, 2)])
@pytest.mark.parametrize("padding", PADDINGS)
def test_adjoint(hw, khw, strides, padding):
    """<conv2d(x), y> == <x, conv2d_transpose(y)> with the very same kernel array."""
    (h, w), s = hw, pair(strides)
    x, k = rand(3, h, w, 2), rand(*khw, 2, 4)
    cx = conv.conv2d_forward(x, k, strides=strides, padding=padding)
    y = rand(*cx.shape)
    # output padding that makes the transpose land exactly on (h, w): odd kernels only under 'same'
    lead = [0 if padding == "valid" else 1 - kk for kk in khw]
    op = [n - (o - 1) * st - kk - ld for n, o, st, kk, ld in zip(hw, cx.shape[1:3], s, khw, lead)]
    ty = conv.conv2d_transpose_forward(y, k, strides=strides, padding=padding, output_padding=op)
    assert ty.shape == x.shape
    np.testing.assert_allclose(np.vdot(cx, y), np.vdot(x, ty), rtol=1e-12)


# ------------------------------------------------------------------------- chunking, threads, layouts

@pytest.fixture(params=[1, 300], ids=["one-unit-chunks", "ragged-chunks"])
def small_chunks(request):
    old = conv._set_chunk_bytes(request.param)
    yield
    conv._set_chunk_bytes(old)


def all_six(x, k, kt, strides, padding, op):
    """Every public function once, on one geometry (k conv kernel, kt transpose kernel)."""
    y = conv.conv2d_forward(x, k, strides=strides, padding=padding)
    t = conv.conv2d_transpose_forward(x, kt, strides=strides, padding=padding, output_padding=op)
    return [y, conv.conv2d_backward_input(y, k, x.shape[1:3], strides=strides, padding=padding),
            conv.conv2d_backward_kernel(x, y, k.shape[:2], strides=strides, padding=padding), t,
            conv.conv2d_transpose_backward_input(t, kt, strides=strides, padding=padding, output_padding=op),
            conv.conv2d_transpose_backward_kernel(x, t, kt.shape[:2], strides=strides, padding=padding,
                                                  output_padding=op)]


@pytest.mark.parametrize("strides,padding,op", [(1, "same", None), (2, "valid", 1), ((1, 2), "same", (0, 1))])
def test_chunk_boundaries_and_threads(small_chunks, strides, padding, op):
    """Chunks that split images mid-way, and one thread vs several, change nothing."""
    x, k, kt = rand(3, 9, 8, 2), rand(3, 3, 2, 4), rand(3, 3, 4, 2)
    old_chunk = conv._set_chunk_bytes(1 << 22)
    want = all_six(x, k, kt, strides, padding, op)
    conv._set_chunk_bytes(old_chunk)
    threads = K.get_num_threads()
    try:
        for t in {1, max(threads, 2)}:
            K.set_num_threads(t)
            for got, ref in zip(all_six(x, k, kt, strides, padding, op), want):
                np.testing.assert_allclose(got, ref, rtol=1e-12, atol=1e-12)
    finally:
        K.set_num_threads(threads)


def test_noncontiguous_and_dtypes():
    base, kbase = rand(4, 9, 7, 3), rand(3, 2, 3, 5)
    x = base[:, ::-1, :, :].transpose(0, 2, 1, 3)          # negative strides and a transposed view
    k = np.asfortranarray(kbase)
    ref = ref_conv(np.ascontiguousarray(x), kbase, 2, "same")
    assert_close(conv.conv2d_forward(x, k, strides=2, padding="same"), ref, np.float64)
    assert_close(conv.conv2d_forward(x.astype(np.float32)[..., ::1], k, strides=2, padding="same"),
                 ref, np.float32)
    kt = np.asfortranarray(rand(2, 2, 2, 3))
    assert_close(conv.conv2d_transpose_forward(x, kt, strides=(2, 1)), ref_transpose(x, kt, (2, 1), "valid"),
                 np.float64)
    # integer input: cast to float32; read-only input is fine too
    xi = np.arange(2 * 5 * 5 * 1).reshape(2, 5, 5, 1) % 7
    xi.setflags(write=False)
    ki = np.ones((3, 3, 1, 2), np.int32)
    assert_close(conv.conv2d_forward(xi, ki), ref_conv(xi.astype(float), ki.astype(float), 1, "valid"),
                 np.float32)


def test_empty_batch():
    x, k, kt = rand(0, 5, 6, 2), rand(3, 3, 2, 4), rand(3, 3, 4, 2)
    y, dx, dk, t, tdx, tdk = all_six(x, k, kt, 2, "same", None)
    assert y.shape == (0, 3, 3, 4) and dx.shape == x.shape and t.shape == (0, 10, 12, 4)
    assert tdx.shape == x.shape and dk.shape == k.shape and tdk.shape == kt.shape
    assert not dk.any() and not tdk.any()
    np.testing.assert_array_equal(conv.conv2d_forward(rand(1, 4, 4, 0), rand(3, 3, 0, 2), np.ones(2)),
                                  np.ones((1, 2, 2, 2)))


# ------------------------------------------------------------------------------------- bad arguments

X, KER = np.zeros((5, 7, 7, 3)), np.zeros((3, 3, 3, 8))
BAD = [
    (lambda: conv.conv2d_forward(X, np.zeros((3, 3, 4, 8))),
     r"conv2d_forward: input channels 3 of x \(5, 7, 7, 3\) do not match kernel \(3, 3, 4, 8\)"),
    (lambda: conv.conv2d_forward(X, np.zeros((9, 3, 3, 8))),
     r"conv2d_forward: kernel \(9, 3\) is larger than the input \(7, 7\) under 'valid'.*\(5, 7, 7, 3\)"),
    (lambda: conv.conv2d_forward(X, KER, strides=0), r"conv2d_forward: strides must be positive, got 0"),
    (lambda: conv.conv2d_forward(X, KER, strides=(1, -2)), r"conv2d_forward: strides must be positive"),
    (lambda: conv.conv2d_forward(X, KER, strides=(1, 2, 3)), r"conv2d_forward: strides must be an int or a pair"),
    (lambda: conv.conv2d_forward(X[0], KER), r"conv2d_forward: x must be 4-D, got shape \(7, 7, 3\)"),
    (lambda: conv.conv2d_forward(X, KER[0]), r"conv2d_forward: kernel must be 4-D, got shape \(3, 3, 8\)"),
    (lambda: conv.conv2d_forward(X, KER, padding="full"), r"conv2d_forward: padding must be 'valid' or 'same'"),
    (lambda: conv.conv2d_forward(X, KER, bias=np.zeros(3)), r"conv2d_forward: bias .*shape \(8,\)"),
    (lambda: conv.conv2d_forward(X.astype(complex), KER), r"conv2d_forward: x must have a numeric dtype"),
    (lambda: conv.conv2d_forward(np.full((1, 3, 3, 1), "a"), KER), r"conv2d_forward: x must have a numeric"),
    (lambda: conv.conv2d_backward_input(np.zeros((5, 5, 5, 7)), KER, (7, 7)),
     r"conv2d_backward_input: dy \(5, 5, 5, 7\) does not match the expected shape \(5, 5, 5, 8\)"),
    (lambda: conv.conv2d_backward_input(np.zeros((5, 5, 5, 8)), KER, (2, 7)),
     r"conv2d_backward_input: kernel \(3, 3\) is larger than the input \(2, 7\)"),
    (lambda: conv.conv2d_backward_kernel(X, np.zeros((4, 5, 5, 8)), (3, 3)),
     r"conv2d_backward_kernel: dy \(4, 5, 5, 8\) does not match the expected shape \(5, 5, 5, 8\)"),
    (lambda: conv.conv2d_backward_kernel(X, np.zeros((5, 5, 5, 8)), (3, 3), strides=-1),
     r"conv2d_backward_kernel: strides must be positive"),
    (lambda: conv.conv2d_transpose_forward(X, KER),
     r"conv2d_transpose_forward: input channels 3 of x \(5, 7, 7, 3\) do not match kernel \(3, 3, 3, 8\)"),
    (lambda: conv.conv2d_transpose_forward(X, np.zeros((3, 3, 2, 3)), strides=2, output_padding=2),
     r"conv2d_transpose_forward: output_padding \(2, 2\) must be smaller than strides \(2, 2\)"),
    (lambda: conv.conv2d_transpose_forward(X, np.zeros((2, 2, 2, 3)), padding="same", output_padding=0),
     r"conv2d_transpose_forward: output size \(6, 6\)"),
    (lambda: conv.conv2d_transpose_backward_input(np.zeros((5, 8, 8, 2)), np.zeros((3, 3, 2, 3)), strides=2),
     r"conv2d_transpose_backward_input: dy \(5, 8, 8, 2\) does not match the expected shape \(5, 7, 7, 2\)"),
    (lambda: conv.conv2d_transpose_backward_input(np.zeros((5, 8, 8, 2)), np.zeros((3, 3, 3, 3))),
     r"conv2d_transpose_backward_input: channels 2 of dy \(5, 8, 8, 2\) do not match kernel \(3, 3, 3, 3\)"),
    (lambda: conv.conv2d_transpose_backward_kernel(X, np.zeros((5, 9, 9, 2)), (3, 3), padding="same"),
     r"conv2d_transpose_backward_kernel: dy \(5, 9, 9, 2\) does not match the expected shape \(5, 7, 7, 2\)"),
]


@pytest.mark.parametrize("call,match", BAD, ids=range(len(BAD)))
def test_bad_arguments(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def test_exported():
    for name in conv.__all__:
        assert getattr(K, name) is getattr(conv, name)
