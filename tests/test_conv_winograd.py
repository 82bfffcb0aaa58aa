"""Winograd's F(2x2, 3x3) (csrc/conv_winograd.h) for the float32 3x3 stride-1 forward, input and kernel
gradients, against float64 references and the direct kernels: odd and even output sizes (tiles that hang over the
edge), both paddings, images smaller than a tile, channel counts with a remainder vector, the fused bias
and ReLU, the blocks of tiles that cross images, and the same bits on any thread count."""
import numpy as np
import pytest

from minigraph import kernels as K
from minigraph.kernels import conv
from test_conv_kernels import ref_conv

RNG = np.random.default_rng(11)
BLOCK = 36  # tiles per block (conv_winograd.h); Winograd takes a call of at least four blocks


def images_for(out_hw, blocks=5):
    """A batch with at least `blocks` blocks of 2x2 output tiles, so that the call runs Winograd's path."""
    tiles = -(-out_hw[0] // 2) * -(-out_hw[1] // 2)
    return -(-blocks * BLOCK // tiles)


@pytest.fixture
def direct():
    """Run the direct kernels instead of Winograd's while active."""
    old = conv._set_winograd(False)
    yield
    conv._set_winograd(old)


def ref_input_gradient(dy, k, hw, padding):
    """dx of a 3x3 stride-1 convolution by the chain rule on each tap, float64."""
    pad = 1 if padding == "same" else 0
    n, oh, ow, _ = dy.shape
    dx = np.zeros((n, hw[0] + 2 * pad, hw[1] + 2 * pad, k.shape[2]))
    for ky in range(3):
        for kx in range(3):
            dx[:, ky:ky + oh, kx:kx + ow] += np.einsum("nhwd,cd->nhwc", dy, k[ky, kx])
    return dx[:, pad:pad + hw[0], pad:pad + hw[1]]


# image sizes for each padding: 'valid' needs at least the window
SIZES = [(hw, "same") for hw in [(7, 9), (8, 8), (3, 3), (1, 1), (2, 5), (13, 6)]] + \
        [(hw, "valid") for hw in [(7, 9), (8, 8), (3, 3), (3, 4), (13, 6)]]


@pytest.mark.parametrize("hw,padding", SIZES)
@pytest.mark.parametrize("cin,cout", [(16, 32), (24, 40), (32, 16), (64, 64)])
def test_winograd_matches_the_float64_reference(hw, padding, cin, cout):
    out_hw = hw if padding == "same" else (hw[0] - 2, hw[1] - 2)
    x = RNG.standard_normal((images_for(out_hw),) + hw + (cin,)).astype(np.float32)
    k = RNG.standard_normal((3, 3, cin, cout)).astype(np.float32)
    b = RNG.standard_normal(cout).astype(np.float32)
    x64, k64 = x.astype(np.float64), k.astype(np.float64)
    want = np.maximum(ref_conv(x64, k64, 1, padding) + b, 0)
    y = conv.conv2d_forward(x, k, b, 1, padding, activation="relu")
    assert y.dtype == np.float32 and y.shape == want.shape
    scale = max(1.0, np.abs(want).max())
    np.testing.assert_allclose(y, want, rtol=2e-5, atol=2e-6 * scale)
    dy = RNG.standard_normal(y.shape).astype(np.float32)
    dx = conv.conv2d_backward_input(dy, k, hw, 1, padding)
    want_dx = ref_input_gradient(dy.astype(np.float64), k64, hw, padding)
    np.testing.assert_allclose(dx, want_dx, rtol=2e-5, atol=2e-6 * max(1.0, np.abs(want_dx).max()))


def test_winograd_and_direct_kernels_agree(direct):
    x = RNG.standard_normal((images_for((11, 10)), 11, 10, 32)).astype(np.float32)
    k = RNG.standard_normal((3, 3, 32, 48)).astype(np.float32)
    want = conv.conv2d_forward(x, k, None, 1, "same")
    conv._set_winograd(True)
    got = conv.conv2d_forward(x, k, None, 1, "same")
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5 * np.abs(want).max())
    assert not np.array_equal(got, want)  # two different sums: the switch really changes the path


def test_calls_winograd_declines_run_directly(direct):
    """Too few tiles to pay for the filter's transform, or a transformed filter too big for L2: the
    direct kernels' bits (or BLAS's, for the filter) whether Winograd is allowed or not."""
    small = RNG.standard_normal((1, 9, 9, 32)).astype(np.float32), RNG.standard_normal((3, 3, 32, 32))
    wide = RNG.standard_normal((images_for((5, 5)), 5, 5, 8 * 33)).astype(np.float32), \
        RNG.standard_normal((3, 3, 8 * 33, 8 * 33))
    narrow = RNG.standard_normal((images_for((9, 9)), 9, 9, 16)).astype(np.float32), \
        RNG.standard_normal((3, 3, 16, 16))  # 16 channels in and out: the transforms cost more than they save
    for x, k in (small, wide, narrow):
        k = k.astype(np.float32)
        conv._set_winograd(False)
        want = conv.conv2d_forward(x, k, None, 1, "same")
        conv._set_winograd(True)
        np.testing.assert_array_equal(conv.conv2d_forward(x, k, None, 1, "same"), want)


def test_kernel_gradients_with_a_16_channel_side_run_directly(direct):
    """The kernel gradient transforms the tiles of both x and dy: with 16 channels on either side the direct
    sums are faster, so Winograd declines it (the forward of the same geometry still takes Winograd)."""
    n = images_for((9, 9), 12)
    for cin, cout in ((16, 32), (32, 16)):
        x = RNG.standard_normal((n, 9, 9, cin)).astype(np.float32)
        dy = RNG.standard_normal((n, 9, 9, cout)).astype(np.float32)
        want = conv.conv2d_backward_kernel(x, dy, (3, 3), 1, "same")
        conv._set_winograd(True)
        np.testing.assert_array_equal(conv.conv2d_backward_kernel(x, dy, (3, 3), 1, "same"), want)
        conv._set_winograd(False)


def test_a_nan_reaches_only_the_outputs_whose_windows_hold_it():
    """The transforms mix a tile's whole 4x4 patch, but a corner pixel enters only the products that its
    own output reads, so a NaN there stays where a direct convolution puts it."""
    for (iy, ix), (oy, ox) in [((0, 0), (0, 0)), ((0, 5), (0, 3)), ((5, 0), (3, 0)), ((5, 5), (3, 3))]:
        x = np.ones((images_for((4, 4)), 6, 6, 16), np.float32)
        x[0, iy, ix, 3] = np.nan
        y = conv.conv2d_forward(x, np.ones((3, 3, 16, 32), np.float32), None, 1, "valid")
        assert np.isfinite(y[1:]).all()
        nan = np.isnan(y[0]).any(axis=-1)
        want = np.zeros((4, 4), bool)
        want[oy, ox] = True
        np.testing.assert_array_equal(nan, want)


def test_same_bits_on_any_thread_count():
    x = RNG.standard_normal((images_for((15, 15), 7), 15, 15, 32)).astype(np.float32)
    k = RNG.standard_normal((3, 3, 32, 32)).astype(np.float32)
    old = K.get_num_threads()
    try:
        results = []
        for threads in (1, 2, 1):
            K.set_num_threads(threads)
            results.append(conv.conv2d_forward(x, k, None, 1, "same"))
    finally:
        K.set_num_threads(old)
    np.testing.assert_array_equal(results[0], results[1])
    np.testing.assert_array_equal(results[0], results[2])


@pytest.mark.parametrize("blocks,hw,cin,cout,padding", [(4, (7, 9), 32, 32, "same"), (9, (9, 8), 40, 48, "valid"),
                                                        (30, (5, 5), 32, 40, "same"), (4, (1, 1), 32, 32, "same")])
def test_winograd_kernel_gradient_matches_the_float64_reference(blocks, hw, cin, cout, padding):
    """Cases with one slot of blocks and several (blocks cross images), and a tile that hangs over the edge
    of a one-pixel image."""
    oh, ow = hw if padding == "same" else (hw[0] - 2, hw[1] - 2)
    n = images_for((oh, ow), blocks)
    x = RNG.standard_normal((n,) + hw + (cin,)).astype(np.float32)
    dy = RNG.standard_normal((n, oh, ow, cout)).astype(np.float32)
    got = conv.conv2d_backward_kernel(x, dy, (3, 3), 1, padding)
    pad = 1 if padding == "same" else 0
    xp = np.pad(x.astype(np.float64), ((0, 0), (pad, pad), (pad, pad), (0, 0)))
    want = np.stack([np.stack([np.einsum("nhwc,nhwd->cd", xp[:, ky:ky + oh, kx:kx + ow], dy.astype(np.float64))
                               for kx in range(3)]) for ky in range(3)])
    assert got.dtype == np.float32 and got.shape == want.shape
    np.testing.assert_allclose(got, want, rtol=2e-5, atol=2e-6 * max(1.0, np.abs(want).max()))
    old = conv._set_winograd(False)
    try:
        assert not np.array_equal(conv.conv2d_backward_kernel(x, dy, (3, 3), 1, padding), got)  # Winograd ran
    finally:
        conv._set_winograd(old)


def test_kernel_gradient_same_bits_on_any_thread_count():
    n = images_for((9, 9), 12)
    x = RNG.standard_normal((n, 9, 9, 32)).astype(np.float32)
    dy = RNG.standard_normal((n, 9, 9, 32)).astype(np.float32)
    old = K.get_num_threads()
    try:
        results = []
        for threads in (1, 2, 1):
            K.set_num_threads(threads)
            results.append(conv.conv2d_backward_kernel(x, dy, (3, 3), 1, "same"))
    finally:
        K.set_num_threads(old)
    np.testing.assert_array_equal(results[0], results[1])
    np.testing.assert_array_equal(results[0], results[2])
