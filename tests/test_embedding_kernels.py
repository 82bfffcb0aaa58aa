"""Embedding gather / scatter-add kernels against numpy (np.take, np.add.at) and finite differences."""
import numpy as np
import pytest

from kernel_reference import layouts, numeric_grad
from minigraph import kernels
from minigraph.kernels import embedding

RNG = np.random.default_rng(4)

ID_DTYPES = [np.int8, np.int16, np.int32, np.int64, np.uint8, np.uint16, np.uint32, np.uint64, np.float32,
             np.float64]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("id_dtype", ID_DTYPES)
def test_forward_is_numpy_take(id_dtype, dtype):
    table = RNG.standard_normal((50, 7)).astype(dtype)
    ids = RNG.integers(0, 50, size=(4, 6)).astype(id_dtype)
    out = embedding.embedding_forward(ids, table)
    assert out.dtype == dtype and out.shape == (4, 6, 7)
    np.testing.assert_array_equal(out, table[ids.astype(np.int64)])


@pytest.mark.parametrize("shape", [(), (5,), (3, 4), (2, 3, 2), (0,), (3, 0)])
def test_shapes(shape):
    table = RNG.standard_normal((10, 3))
    ids = RNG.integers(0, 10, size=shape)
    out = embedding.embedding_forward(ids, table)
    assert out.shape == shape + (3,)
    np.testing.assert_array_equal(out, table[ids])
    d_out = RNG.standard_normal(shape + (3,))
    expected = np.zeros_like(table)
    np.add.at(expected, ids, d_out)
    np.testing.assert_allclose(embedding.embedding_backward(ids, d_out, 10), expected, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_backward_is_numpy_add_at(dtype):
    ids = RNG.integers(0, 30, size=(16, 40))  # many repeats per row
    ids[0, :5] = 29  # the last row, repeated
    d_out = RNG.standard_normal((16, 40, 5)).astype(dtype)
    d_table = embedding.embedding_backward(ids, d_out, 37)  # rows 30..36 get no ids
    expected = np.zeros((37, 5))
    np.add.at(expected, ids, d_out.astype(np.float64))
    assert d_table.dtype == dtype and d_table.shape == (37, 5)
    np.testing.assert_allclose(d_table, expected, rtol=1e-5 if dtype == np.float32 else 1e-12, atol=1e-5)
    np.testing.assert_array_equal(d_table[30:], 0)
    # non-contiguous gradients and float ids give the same result
    np.testing.assert_array_equal(embedding.embedding_backward(ids.astype(np.float32), layouts(d_out)["stepped"], 37),
                                  d_table)


def test_gradient_finite_differences():
    table = RNG.standard_normal((6, 4))
    ids = np.array([[0, 5, 5], [2, 0, 5]])
    r = RNG.standard_normal((2, 3, 4))
    expected = numeric_grad(lambda t: embedding.embedding_forward(ids, t), table, r)
    np.testing.assert_allclose(embedding.embedding_backward(ids, r, 6), expected, atol=1e-8)


def test_deterministic_on_any_thread_count():
    ids = RNG.integers(0, 300, size=(64, 100))
    ids[:, :20] = 7  # one hot row with many additions
    d_out = RNG.standard_normal((64, 100, 32)).astype(np.float32)
    table = RNG.standard_normal((300, 32)).astype(np.float32)
    old = kernels.get_num_threads()
    results = []
    try:
        for n in [1, 2, 1]:
            kernels.set_num_threads(n)
            results.append((embedding.embedding_forward(ids, table), embedding.embedding_backward(ids, d_out, 300)))
    finally:
        kernels.set_num_threads(old)
    for fwd, bwd in results[1:]:
        np.testing.assert_array_equal(fwd, results[0][0])
        np.testing.assert_array_equal(bwd, results[0][1])
    # the sum of each row in position order (float32, sequential), as the kernel documents
    expected = np.zeros(32, np.float32)
    for p in zip(*np.nonzero(ids == 7)):
        expected += d_out[p]
    np.testing.assert_array_equal(results[0][1][7], expected)


@pytest.mark.parametrize("bad_id,dtype", [(10, np.int64), (-1, np.int32), (2**64 - 1, np.uint64), (255, np.uint8),
                                          (10.0, np.float32), (-3.0, np.float64)])
def test_out_of_range_id_raises_naming_id_and_input_dim(bad_id, dtype):
    table = np.zeros((10, 2), np.float32)
    ids = np.array([[1, 2], [3, 4]], dtype)
    ids[1, 0] = bad_id
    shown = int(bad_id)
    with pytest.raises(ValueError, match=rf"embedding_forward: id {shown} at index \(1, 0\) is outside \[0, input_dim\) = \[0, 10\)"):
        embedding.embedding_forward(ids, table)
    with pytest.raises(ValueError, match=rf"embedding_backward: id {shown} .* \[0, 10\)"):
        embedding.embedding_backward(ids, np.zeros((2, 2, 2)), 10)


def test_bad_arguments():
    table = np.zeros((10, 2))
    for ids in [np.array([1.5, 2.0]), np.array([np.nan]), np.array([np.inf])]:
        with pytest.raises(ValueError, match="embedding_forward: ids must hold integers"):
            embedding.embedding_forward(ids, table)
    for ids in [np.array([True]), np.array(["a"]), np.array([1 + 0j])]:
        with pytest.raises(ValueError, match="embedding_forward: ids must be integers"):
            embedding.embedding_forward(ids, table)
    with pytest.raises(ValueError, match="embedding_forward: table must be 2-D"):
        embedding.embedding_forward([1], np.zeros(10))
    with pytest.raises(ValueError, match="embedding_backward: d_out must be ids.shape"):
        embedding.embedding_backward(np.array([[1, 2]]), np.zeros((2, 1, 3)), 10)
    with pytest.raises(ValueError, match="embedding_backward: d_out must be 3-D"):
        embedding.embedding_backward(np.array([[1, 2]]), np.zeros((2, 3)), 10)
    for input_dim in [0, -1, 2.0, True, None]:
        with pytest.raises(ValueError, match="embedding_backward: input_dim must be a positive integer"):
            embedding.embedding_backward(np.array([1]), np.zeros((1, 2)), input_dim)


def test_exported_from_kernels_package():
    assert kernels.embedding_forward is embedding.embedding_forward
    assert kernels.embedding_backward is embedding.embedding_backward
