"""softmax.softmax_forward (csrc/softmax.pyx): numpy's formula over the last axis, against a float64 numpy
reference, with numpy's special values; and the fused epilogue of dense.dense_chain_forward, bit for bit."""
import numpy as np
import pytest

from minigraph.kernels import dense, softmax


def reference(x):
    x = np.asarray(x, np.float64)
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


@pytest.mark.parametrize("n", [1, 2, 7, 8, 9, 10, 16, 17, 1000])
@pytest.mark.parametrize("dtype, rtol", [(np.float32, 3e-6), (np.float64, 1e-14)])
def test_softmax_matches_numpy(n, dtype, rtol):
    x = (np.random.default_rng(n).standard_normal((6, n)) * 10).astype(dtype)
    y = softmax.softmax_forward(x)
    assert y.dtype == dtype and y.shape == x.shape
    np.testing.assert_allclose(y, reference(x), rtol=rtol, atol=1e-30)
    np.testing.assert_allclose(y.sum(axis=-1), 1, rtol=10 * rtol)


def test_any_rank_and_dtype():
    x = np.random.default_rng(0).standard_normal((2, 3, 5))
    np.testing.assert_allclose(softmax.softmax_forward(x), reference(x), rtol=1e-14)
    np.testing.assert_allclose(softmax.softmax_forward(x[0, 0]), reference(x[0, 0]), rtol=1e-14)
    ints = softmax.softmax_forward(np.array([[0, 1, 2]]))
    assert ints.dtype == np.float32
    np.testing.assert_allclose(ints, reference([[0, 1, 2]]), rtol=1e-6)
    strided = x[:, :, ::2].astype(np.float32)[..., ::-1]
    np.testing.assert_allclose(softmax.softmax_forward(strided), reference(strided), rtol=3e-6)
    assert softmax.softmax_forward(np.zeros((0, 4), np.float32)).shape == (0, 4)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_special_values_as_numpy(dtype):
    x = np.array([[1, np.nan, 2], [1, np.inf, 2], [-np.inf, 0, 1], [-np.inf] * 3, [-200, 0, 0],
                  [-1e30, 5, 5]], dtype)
    y = softmax.softmax_forward(x)
    with np.errstate(invalid="ignore"):
        want = reference(x)
    np.testing.assert_array_equal(np.isnan(y), np.isnan(want))
    np.testing.assert_allclose(y[[2, 4, 5]], want[[2, 4, 5]], rtol=3e-6, atol=np.finfo(dtype).tiny)
    np.testing.assert_array_equal(y[[2, 5], 0], 0)  # -inf, and an underflow, give exactly 0
    np.testing.assert_array_equal(y[4:, 1:], 0.5)


def test_empty_last_axis_and_scalars_raise():
    for x in (np.zeros((3, 0), np.float32), np.float32(1.0)):
        with pytest.raises(ValueError, match=r"softmax_forward: x must have a non-empty last axis, got shape"):
            softmax.softmax_forward(x)
    with pytest.raises(ValueError, match="softmax_forward: x must be a real numeric array"):
        softmax.softmax_forward(np.array([["a"]]))


@pytest.mark.parametrize("rows", [1, 3, 30])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_dense_chain_softmax_epilogue_is_softmax_forward_bit_for_bit(rows, dtype):
    rng = np.random.default_rng(rows)
    x = rng.standard_normal((rows, 784)).astype(dtype)
    layers = [(rng.standard_normal((784, 64)).astype(dtype), rng.standard_normal(64).astype(dtype), True),
              (rng.standard_normal((64, 10)).astype(dtype), rng.standard_normal(10).astype(dtype), False)]
    logits = dense.dense_chain_forward(x, layers)
    np.testing.assert_array_equal(dense.dense_chain_forward(x, layers, softmax=True), softmax.softmax_forward(logits))


# ----------------------------------------------------------------------------------------------- sparse xent
def xent_reference(x, labels):
    x = np.asarray(x, np.float64)
    shifted = x - x.max(axis=-1, keepdims=True)
    log_probs = shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))
    return -log_probs[np.arange(len(labels)), labels], np.exp(log_probs)


@pytest.mark.parametrize("n", [1, 2, 7, 8, 10, 17, 1000])
@pytest.mark.parametrize("dtype, rtol", [(np.float32, 3e-6), (np.float64, 1e-13)])
def test_sparse_xent_forward_matches_numpy(n, dtype, rtol):
    rng = np.random.default_rng(n)
    x = (rng.standard_normal((9, n)) * 5).astype(dtype)
    labels = rng.integers(0, n, 9)
    loss, probs = softmax.sparse_xent_forward(x, labels)
    want_loss, want_probs = xent_reference(x, labels)
    assert loss.dtype == dtype and probs.dtype == dtype and loss.shape == (9,)
    np.testing.assert_allclose(loss, want_loss, rtol=10 * rtol, atol=10 * rtol)
    np.testing.assert_array_equal(probs, softmax.softmax_forward(x))  # the same rows as softmax
    np.testing.assert_allclose(probs, want_probs, rtol=rtol, atol=1e-30)


def test_sparse_xent_loss_stays_finite_where_the_probability_underflows():
    x = np.array([[0.0, 200.0, -200.0]], np.float32)
    loss, probs = softmax.sparse_xent_forward(x, [2])
    assert probs[0, 2] == 0
    np.testing.assert_allclose(loss, [400.0], rtol=1e-6)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_sparse_xent_backward_is_the_finite_difference_gradient(dtype):
    rng = np.random.default_rng(3)
    x, labels, g = rng.standard_normal((5, 7)), rng.integers(0, 7, 5), rng.standard_normal(5)
    _, probs = softmax.sparse_xent_forward(x.astype(dtype), labels)
    grad = softmax.sparse_xent_backward(probs, labels, g.astype(dtype))
    assert grad.dtype == dtype
    numeric, eps = np.zeros_like(x), 1e-6
    for index in np.ndindex(*x.shape):
        up, down = x.copy(), x.copy()
        up[index] += eps
        down[index] -= eps
        numeric[index] = (g * (xent_reference(up, labels)[0] - xent_reference(down, labels)[0])).sum() / (2 * eps)
    np.testing.assert_allclose(grad, numeric, rtol=1e-5 if dtype == np.float32 else 1e-7, atol=1e-6)


def test_sparse_xent_refuses_bad_labels_and_shapes():
    x = np.zeros((3, 4), np.float32)
    for labels in ([0, 4, 1], [-1, 0, 0]):
        with pytest.raises(ValueError, match=r"sparse_xent_forward: sparse labels must lie in \[0, 4\)"):
            softmax.sparse_xent_forward(x, labels)
    with pytest.raises(ValueError, match=r"labels of shape \(2,\) must hold one class index per row of logits "
                                         r"of shape \(3, 4\)"):
        softmax.sparse_xent_forward(x, [0, 1])
    with pytest.raises(ValueError, match="logits must be 2-D with a non-empty last axis"):
        softmax.sparse_xent_forward(np.zeros((3, 0)), [0, 0, 0])
    _, probs = softmax.sparse_xent_forward(x, [0, 1, 2])
    with pytest.raises(ValueError, match=r"sparse_xent_backward: g of shape \(2,\) must hold one value per row"):
        softmax.sparse_xent_backward(probs, [0, 1, 2], np.ones(2))
