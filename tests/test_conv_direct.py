"""The direct float32 conv kernels (csrc/conv_direct.h, csrc/conv_tiles.h) against float64 references.

Each tile instance runs: 8-lane tiles (`conv._set_wide(False)`), 16-lane tiles where the CPU has AVX-512
(`_set_wide(True)`, cout % 16 == 0), the narrow kernels (cout < 8 with cin % 8 == 0), and the blocks past
the last whole tile (pixel counts and kdim that are not multiples of the tile rows, cout = 48 = 32 + 16).
The float64 calls take the im2col + BLAS path, and the forward passes are checked against the numpy loops
of test_conv_kernels as well."""
import numpy as np
import pytest

from minigraph import kernels as K
from minigraph.kernels import conv
from test_conv_kernels import ref_conv, ref_transpose

RNG = np.random.default_rng(7)
# (cin, cout): 16-lane pairs and their remainder block, 8-lane only, narrow outputs, narrow inputs
CHANNELS = [(16, 32), (32, 16), (8, 48), (3, 16), (16, 8), (16, 24), (8, 1), (16, 3), (1, 16)]
GEOMETRY = [((7, 9), (3, 3), 1, "valid"), ((6, 5), (3, 2), 1, "same"), ((9, 8), (3, 3), 2, "same"),
            ((5, 7), (2, 3), (1, 2), "valid")]


@pytest.fixture(params=[False, True], ids=["8-lane", "16-lane"])
def wide(request):
    old = conv._set_wide(request.param)
    yield request.param
    conv._set_wide(old)


def run_all(x, k, kt, b, bt, strides, padding):
    """All six functions once, with a fused bias and ReLU on the forward passes."""
    y = conv.conv2d_forward(x, k, b, strides, padding, activation="relu")
    t = conv.conv2d_transpose_forward(x, kt, bt, strides, padding, activation="relu")
    return [y, conv.conv2d_backward_input(y, k, x.shape[1:3], strides, padding),
            conv.conv2d_backward_kernel(x, y, k.shape[:2], strides, padding), t,
            conv.conv2d_transpose_backward_input(t, kt, strides, padding),
            conv.conv2d_transpose_backward_kernel(x, t, kt.shape[:2], strides, padding)]


@pytest.mark.parametrize("hw,khw,strides,padding", GEOMETRY)
@pytest.mark.parametrize("cin,cout", CHANNELS)
def test_direct_float32_matches_float64_reference(wide, cin, cout, hw, khw, strides, padding):
    x = RNG.standard_normal((3,) + hw + (cin,))
    k = RNG.standard_normal(khw + (cin, cout))
    kt = RNG.standard_normal(khw + (cout, cin))
    b, bt = RNG.standard_normal(cout), RNG.standard_normal(cout)
    f32 = run_all(*(a.astype(np.float32) for a in (x, k, kt, b, bt)), strides, padding)
    # the reference runs on the float32-rounded data, in float64 (im2col + BLAS)
    x, k, kt, b, bt = (a.astype(np.float32).astype(np.float64) for a in (x, k, kt, b, bt))
    want = run_all(x, k, kt, b, bt, strides, padding)
    np.testing.assert_allclose(want[0], np.maximum(ref_conv(x, k, strides, padding) + b, 0), rtol=1e-10,
                               atol=1e-10)
    np.testing.assert_allclose(want[3], np.maximum(ref_transpose(x, kt, strides, padding) + bt, 0), rtol=1e-10,
                               atol=1e-10)
    for got, ref in zip(f32, want):
        assert got.dtype == np.float32 and got.shape == ref.shape
        np.testing.assert_allclose(got, ref, rtol=2e-5, atol=2e-5 * max(1.0, np.abs(ref).max()))


def test_wide_and_narrow_tiles_agree_bit_for_bit_on_the_seed_layers():
    """Both tile widths sum each output in the same order: identical results, whatever the CPU picks."""
    x = RNG.standard_normal((5, 26, 26, 16)).astype(np.float32)
    k = RNG.standard_normal((3, 3, 16, 32)).astype(np.float32)
    kt = RNG.standard_normal((3, 3, 32, 16)).astype(np.float32)
    b = RNG.standard_normal(32).astype(np.float32)
    results = []
    for allowed in (False, True):
        old = conv._set_wide(allowed)
        try:
            results.append(run_all(x, k, kt, b, b[:32], 1, "valid"))
        finally:
            conv._set_wide(old)
    for a, b_ in zip(*results):
        np.testing.assert_array_equal(a, b_)


@pytest.mark.parametrize("n", [1, 9, 40])
def test_results_are_bit_identical_for_any_thread_count(wide, n):
    """Forward passes sum each output in a fixed order, and the kernel gradient adds a fixed set of
    partial sums in a fixed order: the same bits on 1 or 2 threads, and from one run to the next."""
    x = RNG.standard_normal((n, 11, 10, 16)).astype(np.float32)
    k = RNG.standard_normal((3, 3, 16, 32)).astype(np.float32)
    kt = RNG.standard_normal((3, 3, 32, 16)).astype(np.float32)
    b = RNG.standard_normal(32).astype(np.float32)
    threads = K.get_num_threads()
    try:
        K.set_num_threads(1)
        one = run_all(x, k, kt, b, b, 1, "same")
        K.set_num_threads(max(threads, 2))
        runs = [run_all(x, k, kt, b, b, 1, "same") for _ in range(3)]
    finally:
        K.set_num_threads(threads)
    for many in runs:
        for a, b_ in zip(one, many):
            np.testing.assert_array_equal(a, b_)


def test_relu_keeps_nan_in_every_tile():
    x = np.ones((1, 9, 9, 16), np.float32)
    x[0, 0, 0, 3] = np.nan
    k = -np.ones((3, 3, 16, 48), np.float32)  # every finite output is negative: ReLU gives 0
    nan_at = np.zeros((1, 7, 7, 48), bool)
    nan_at[0, 0, 0] = True  # the only window holding the NaN pixel
    for allowed in (False, True):
        old = conv._set_wide(allowed)
        try:
            y = conv.conv2d_forward(x, k, activation="relu")
        finally:
            conv._set_wide(old)
        np.testing.assert_array_equal(np.isnan(y), nan_at)
        np.testing.assert_array_equal(y[~nan_at], 0)


@pytest.mark.parametrize("n,hw,cin,cout", [(1, (6, 6), 16, 32),      # small dy: row groups only
                                           (1, (22, 22), 8, 256),    # large dy, 400 pixels: 8 slots x 2 groups
                                           (40, (10, 10), 16, 16),   # large dy, many pixels: 16 slots
                                           (1, (9, 9), 8, 3)])       # narrow rows (vectors of 8 taps)
def test_kernel_gradient_work_splits(wide, n, hw, cin, cout):
    """Every (slot, row group) split of the kernel gradient against float64, on 1 and 2 threads alike."""
    x = RNG.standard_normal((n,) + hw + (cin,)).astype(np.float32)
    dy = RNG.standard_normal((n, hw[0] - 2, hw[1] - 2, cout)).astype(np.float32)
    want = conv.conv2d_backward_kernel(x.astype(np.float64), dy.astype(np.float64), (3, 3))
    threads = K.get_num_threads()
    try:
        K.set_num_threads(1)
        one = conv.conv2d_backward_kernel(x, dy, (3, 3))
        K.set_num_threads(max(threads, 2))
        two = conv.conv2d_backward_kernel(x, dy, (3, 3))
    finally:
        K.set_num_threads(threads)
    np.testing.assert_allclose(one, want, rtol=1e-5, atol=1e-5 * np.abs(want).max())
    np.testing.assert_array_equal(one, two)
