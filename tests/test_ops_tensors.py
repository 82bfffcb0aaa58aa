"""Tensors as Keras users hold them: indexing and operators on Traced values and Variables, the symbolic
hook, keras.random's seeds and the keras.backend helpers."""
import numpy as np
import pytest

import minigraph as keras
from minigraph import autodiff, backend, ops
from minigraph import random as kr
from minigraph.autodiff import Symbolic, Tape, Traced, Variable

RNG = np.random.default_rng(7)


def grads_of(fn, *values):
    """Gradients of sum(fn(*variables) * r) for a random cotangent r, and r."""
    variables = [Variable(np.array(v, dtype=np.float64)) for v in values]
    with Tape() as tape:
        out = fn(*variables)
    r = RNG.standard_normal(np.shape(out))
    return tape.gradient(out, variables, output_gradient=r), r


# ----------------------------------------------------------------------------------------------- indexing
def test_slicing_a_traced_value_scatters_the_gradient_back():
    x = RNG.standard_normal((2, 5, 3))
    (g,), r = grads_of(lambda v: ops.tanh(v)[:, 3, :] * 2.0, x)
    expected = np.zeros_like(x)
    expected[:, 3, :] = 2.0 * r * (1 - np.tanh(x[:, 3, :]) ** 2)
    np.testing.assert_allclose(g, expected)


def test_indexing_a_variable_with_repeated_indices_accumulates():
    x = RNG.standard_normal((4, 3))
    (g,), r = grads_of(lambda v: v[np.array([1, 1, 3]), 1:], x)
    expected = np.zeros_like(x)
    expected[1, 1:] = r[0] + r[1]
    expected[3, 1:] = r[2]
    np.testing.assert_allclose(g, expected)


def test_indexing_with_a_boolean_mask_and_a_traced_index():
    x = RNG.standard_normal((3, 4))
    mask = x > 0
    (g,), r = grads_of(lambda v: v[mask], x)
    expected = np.zeros_like(x)
    expected[mask] = r
    np.testing.assert_allclose(g, expected)
    with Tape():
        v = Variable(x)
        picked = (v * 1.0)[Variable(np.array([2, 0]))]  # an index held in a tensor is read as its value
    np.testing.assert_array_equal(picked.numpy(), x[[2, 0]])


def test_iterating_a_traced_value_gives_its_rows():
    x = RNG.standard_normal((3, 2))
    (g,), r = grads_of(lambda v: ops.stack([row * (i + 1) for i, row in enumerate(v * 1.0)]), x)
    np.testing.assert_allclose(g, r * np.array([[1.0], [2.0], [3.0]]))


# ----------------------------------------------------------------------------------------------- operators
def test_arithmetic_operators_are_differentiable():
    a, b = RNG.uniform(0.5, 2, (2, 3)), RNG.uniform(0.5, 2, (2, 3))
    (ga, gb), r = grads_of(lambda x, y: abs(-(x ** 2)) + 2.0 ** y - ops.sum(x @ y.T) / y, a, b)
    s = (a @ b.T).sum()
    # s = sum(a @ b.T) is a scalar: a[i, k] enters it with weight sum_j b[j, k], b[j, k] with sum_i a[i, k]
    expected_a = r * 2 * a - (r / b).sum() * b.sum(axis=0, keepdims=True)
    expected_b = r * np.log(2.0) * 2.0 ** b - (r / b).sum() * a.sum(axis=0, keepdims=True) + r * s / b ** 2
    np.testing.assert_allclose(ga, expected_a, rtol=1e-10)
    np.testing.assert_allclose(gb, expected_b, rtol=1e-10)


def test_comparisons_and_properties_of_tensors():
    x = np.array([[1.0, -2.0], [3.0, 0.5]])
    v = Variable(x, name="v")
    with Tape():
        t = v * 1.0
    assert isinstance(t, Traced)
    for tensor in (v, t):
        np.testing.assert_array_equal(tensor > 0.7, x > 0.7)
        np.testing.assert_array_equal(tensor <= 1.0, x <= 1.0)
        np.testing.assert_array_equal(ops.greater(tensor, 0), x > 0)
        assert tensor.shape == (2, 2) and tensor.dtype == np.float64 and tensor.ndim == 2 and len(tensor) == 2
        np.testing.assert_array_equal(tensor.numpy(), x)
        np.testing.assert_array_equal(np.asarray(tensor.T), x.T)
    np.testing.assert_array_equal(t == 3.0, x == 3.0)
    np.testing.assert_array_equal(t != 3.0, x != 3.0)
    assert (v == v) is True and v in [v] and {v: 1}[v] == 1  # variables compare as objects
    assert ops.shape(t) == (2, 2) and isinstance(ops.shape(v), tuple)


def test_ops_take_their_tensor_arguments_by_keyword():
    x, y = RNG.uniform(0.5, 2, (3,)), RNG.uniform(0.5, 2, (3,))
    (gx, gy), r = grads_of(lambda a, b: ops.power(x2=b, x1=a), x, y)
    np.testing.assert_allclose(gx, r * y * x ** (y - 1))
    np.testing.assert_allclose(gy, r * x ** y * np.log(x))
    (gk,), r = grads_of(lambda k: ops.dense(np.ones((2, 3)), kernel=k), np.ones((3, 2)))
    np.testing.assert_allclose(gk, np.ones((3, 2)) * r.sum(axis=0))
    with pytest.raises(TypeError, match="power.*x3"):
        ops.power(x, x3=2)
    with pytest.raises(TypeError, match="unexpected keyword argument 'axes'"):
        ops.sum(x, axes=0)


def test_dropout_and_cast_respect_integer_gradients():
    x = RNG.standard_normal((50, 40))
    (g,), r = grads_of(lambda v: kr.dropout(v, 0.25, seed=3), x)
    out = kr.dropout(x, 0.25, seed=3)
    kept = out != 0
    assert 0.2 < 1 - kept.mean() < 0.3
    np.testing.assert_allclose(out[kept], x[kept] / 0.75)
    np.testing.assert_allclose(g, np.where(kept, r / 0.75, 0))
    (g,), r = grads_of(lambda v: ops.cast(v, "int32") * 1.0 + v, x)
    np.testing.assert_allclose(g, r)  # only the float path carries a gradient


# ----------------------------------------------------------------------------------------------- symbolic hook
class Placeholder(Symbolic):
    def __init__(self, shape):
        self.shape = shape


@pytest.fixture
def calls():
    recorded = []

    def handler(op, args, kwargs):
        recorded.append((op, args, kwargs))
        return "symbolic result"

    previous = autodiff.set_symbolic_handler(handler)
    yield recorded
    autodiff.set_symbolic_handler(previous)


def test_ops_on_a_symbolic_argument_go_to_the_handler(calls):
    s = Placeholder((None, 3))
    assert ops.add(s, 1.0) == "symbolic result"
    assert calls[-1] == (ops.add, (s, 1.0), {})
    assert ops.softmax(s, axis=0) == "symbolic result" and calls[-1] == (ops.softmax, (s,), {"axis": 0})
    assert ops.concatenate([np.ones((1, 3)), s]) == "symbolic result"
    assert calls[-1][0] is ops.concatenate and calls[-1][1][0][1] is s
    ops.stack((s, s), axis=1)
    assert calls[-1][0] is ops.stack and calls[-1][2] == {"axis": 1}
    ops.where(np.array([True, False, True]), x1=s, x2=0.0)
    assert calls[-1][0] is ops.where
    ops.dense(np.ones((2, 3)), kernel=s)  # moved to its position, as the tape would see it
    assert calls[-1][0] is ops.dense and calls[-1][1][1] is s
    ops.get_item(np.ones((3, 3)), (slice(None), s))  # inside the key
    assert calls[-1][0] is ops.get_item
    ops.sigmoid(s), ops.argmax(s, axis=-1), ops.zeros_like(s), kr.dropout(s, 0.5)
    assert [c[0] for c in calls[-4:]] == [ops.sigmoid, ops.argmax, ops.zeros_like, kr.dropout]


def test_operators_on_a_symbolic_tensor_route_through_the_ops(calls):
    s = Placeholder((None, 3))
    s + 1, 2 - s, s * s, s / 2, -s, abs(s), s ** 2, 2 ** s, s @ s, s > 0, s <= 1, s[:, 0], s.T, s // 2, 3 % s
    ops_called = [c[0] for c in calls]
    assert ops_called == [ops.add, ops.subtract, ops.multiply, ops.divide, ops.negative, ops.abs, ops.power,
                          ops.power, ops.matmul, ops.greater, ops.less_equal, ops.get_item, ops.transpose,
                          ops.floor_divide, ops.mod]
    assert calls[1][1] == (2, s) and calls[7][1] == (2, s)  # reflected operators keep the order
    assert calls[11][1] == (s, (slice(None), 0))


def test_a_handler_can_evaluate_the_recorded_call_later(calls):
    s = Placeholder((None, 2))
    ops.maximum(s, 0.5)
    op, args, kwargs = calls[-1]
    value = np.array([[0.1, 0.9]])
    np.testing.assert_array_equal(op(*[value if a is s else a for a in args], **kwargs), [[0.5, 0.9]])


def test_without_a_handler_a_symbolic_argument_is_a_clear_error():
    from minigraph.autodiff import set_symbolic_handler
    previous = set_symbolic_handler(None)  # the layers register theirs (op layers) on import
    try:
        with pytest.raises(TypeError, match="add: got a symbolic tensor"):
            ops.add(Placeholder((1,)), 1)
    finally:
        set_symbolic_handler(previous)


def test_shape_and_int_shape_of_a_symbolic_tensor_are_its_static_shape():
    s = Placeholder((None, 4, 2))
    assert ops.shape(s) == (None, 4, 2)
    assert backend.int_shape(s) == (None, 4, 2) and backend.shape(s) == (None, 4, 2)
    with pytest.raises(ValueError, match="convert_to_numpy: a symbolic tensor"):
        ops.convert_to_numpy(s)


# ----------------------------------------------------------------------------------------------- keras.random
DRAWS = [
    lambda seed: kr.normal((300,), mean=1.0, stddev=2.0, seed=seed),
    lambda seed: kr.uniform((300,), minval=-1.0, maxval=3.0, seed=seed),
    lambda seed: kr.truncated_normal((300,), seed=seed),
    lambda seed: kr.randint((300,), 0, 10, seed=seed),
    lambda seed: kr.shuffle(np.arange(300), seed=seed),
    lambda seed: kr.dropout(np.ones(300), 0.5, seed=seed),
    lambda seed: kr.categorical(np.zeros((3, 4)), 100, seed=seed),
]


@pytest.mark.parametrize("draw", DRAWS)
def test_random_seeds_follow_keras_rules(draw):
    np.testing.assert_array_equal(draw(42), draw(42))  # an int seed repeats
    assert not np.array_equal(draw(42), draw(43))
    gen = kr.SeedGenerator(5)
    first, second = draw(gen), draw(gen)
    assert not np.array_equal(first, second)  # a generator moves on
    gen = kr.SeedGenerator(5)
    np.testing.assert_array_equal(draw(gen), first)  # and repeats from the same seed
    keras.utils.set_random_seed(11)
    a, b = draw(None), draw(None)
    keras.utils.set_random_seed(11)
    np.testing.assert_array_equal(draw(None), a)  # unseeded draws repeat after set_random_seed
    np.testing.assert_array_equal(draw(None), b)
    assert not np.array_equal(a, b)


def test_random_distributions_and_dtypes():
    x = kr.normal((20000,), mean=1.0, stddev=2.0, seed=1)
    assert x.dtype == np.float32 and abs(x.mean() - 1) < 0.05 and abs(x.std() - 2) < 0.05
    u = kr.uniform((2, 5000), minval=-1.0, maxval=3.0, dtype="float64", seed=1)
    assert u.shape == (2, 5000) and u.dtype == np.float64 and u.min() >= -1 and u.max() < 3
    t = kr.truncated_normal((20000,), mean=0.5, stddev=0.1, seed=2)
    assert np.abs(t - 0.5).max() <= 0.2 + 1e-6 and abs(t.std() - 0.088) < 0.003
    i = kr.randint((5000,), 2, 5, seed=3)
    assert i.dtype == np.int32 and set(np.unique(i)) == {2, 3, 4}
    s = kr.shuffle(np.arange(12).reshape(3, 4), axis=1, seed=4)
    np.testing.assert_array_equal(np.sort(s, axis=1), np.arange(12).reshape(3, 4))
    c = kr.categorical(np.log([[0.1, 0.9], [1.0, 1e-9]]), 4000, seed=5)
    assert abs(c[0].mean() - 0.9) < 0.03 and c[1].max() == 0
    d = kr.dropout(np.ones((4, 1000)), 0.5, noise_shape=(1, 1000), seed=6)
    assert all(np.array_equal(d[0], row) for row in d)  # one mask for every row


def test_random_refuses_bad_seeds():
    with pytest.raises(ValueError, match="seed"):
        kr.normal((2,), seed="x")
    with pytest.raises(ValueError, match="seed"):
        kr.SeedGenerator(1.5)
    with pytest.raises(ValueError, match="seed"):
        keras.utils.set_random_seed(None)
    with pytest.raises(ValueError, match="floating"):
        kr.normal((2,), dtype="int32")
    gen = kr.SeedGenerator(3)
    assert kr.SeedGenerator.from_config(gen.get_config()).get_config() == gen.get_config()


# ----------------------------------------------------------------------------------------------- backend
def test_backend_helpers():
    x = RNG.standard_normal((3, 4))
    np.testing.assert_allclose(backend.mean(x, axis=1), x.mean(axis=1))
    np.testing.assert_allclose(backend.std(x, axis=0, keepdims=True), x.std(axis=0, keepdims=True))
    np.testing.assert_allclose(backend.sum(x), x.sum())
    np.testing.assert_allclose(backend.square(x), x * x)
    assert backend.epsilon() == 1e-7 and backend.floatx() == "float32"
    r = backend.random_normal((2, 3), mean=5.0, stddev=0.01, seed=1)
    assert r.shape == (2, 3) and r.dtype == np.float32 and abs(r.mean() - 5) < 0.05
    np.testing.assert_array_equal(r, backend.random_normal((2, 3), mean=5.0, stddev=0.01, seed=1))
    assert backend.int_shape(x) == (3, 4) and backend.int_shape(Variable(x)) == (3, 4)
    np.testing.assert_array_equal(backend.shape(x), [3, 4])
    assert backend.shape(x).dtype == np.int32
    (g,), r = grads_of(lambda v: backend.mean(backend.square(v), axis=-1), x)
    np.testing.assert_allclose(g, r[:, None] * 2 * x / 4)


def test_more_tf_keras_backend_helpers():
    x = RNG.standard_normal((2, 3, 2))
    np.testing.assert_array_equal(backend.argmax(x), x.argmax(axis=-1))
    np.testing.assert_allclose(backend.concatenate([x, x]), np.concatenate([x, x], axis=-1))
    np.testing.assert_allclose(backend.batch_flatten(x), x.reshape(2, 6))
    np.testing.assert_allclose(backend.clip(x, None, 0.1), np.minimum(x, 0.1))
    np.testing.assert_allclose(backend.clip(x, 0.5, 0.2), np.full_like(x, 0.5))  # max below min: min wins
    np.testing.assert_allclose(backend.sqrt(np.array([-1e-9, 4.0])), [0.0, 2.0])
    norm = backend.l2_normalize(x, axis=-1)
    np.testing.assert_allclose(norm, x / np.linalg.norm(x, axis=-1, keepdims=True))
    np.testing.assert_allclose(backend.permute_dimensions(x, (2, 0, 1)), x.transpose(2, 0, 1))
    v = backend.variable([[1.0, 2.0]])
    backend.set_value(v, [[3.0, 4.0]])
    np.testing.assert_array_equal(backend.get_value(v), [[3.0, 4.0]])
    assert backend.get_value(v).dtype == np.float32 and backend.ndim(v) == 2 and backend.dtype(v) == "float32"
    assert backend.image_data_format() == "channels_last"
    np.testing.assert_allclose(backend.relu(x * 10, max_value=6.0), np.clip(x * 10, 0, 6))
    with pytest.raises(NotImplementedError, match="alpha"):
        backend.relu(x, alpha=0.1)


def test_numpy_arrays_defer_to_symbolic_operators(calls):
    s = Placeholder((3,))
    np.ones(3) + s, np.ones((3, 3)) @ s, np.float32(2) < s
    assert [c[0] for c in calls] == [ops.add, ops.matmul, ops.greater]
    assert list(Placeholder((2,))) == ["symbolic result"] * 2
    with pytest.raises(TypeError, match="cannot iterate"):
        list(Placeholder((None, 2)))


def test_bad_arguments_raise_errors_naming_the_op_and_the_shapes():
    with pytest.raises(ValueError, match=r"add: operands could not be broadcast.*shapes \(3, 4\), \(5,\)"):
        ops.add(np.ones((3, 4)), np.ones(5))
    with pytest.raises(ValueError, match=r"concatenate: .*shapes \(2, 3\), \(2, 4\)"):
        ops.concatenate([np.ones((2, 3)), np.ones((2, 4))])
    with pytest.raises(IndexError, match="get_item: index 5 is out of bounds"):
        ops.get_item(np.ones(3), 5)
    with Tape():  # the same on the tape
        with pytest.raises(ValueError, match="matmul: "):
            ops.matmul(Variable(np.ones((2, 3))), np.ones((2, 3)))
    with pytest.raises(ValueError, match="where: x1 and x2 must be given together"):
        ops.where(np.ones(2) > 0, np.ones(2))
    assert ops.dtype(np.ones(2)) == "float64" and ops.dtype(Variable(np.ones(2, np.float32))) == "float32"
    assert ops.dtype(1.0) == "float32" and ops.dtype(3) == "int32"  # Python numbers as Keras converts them


def test_keras_window_ops_refuse_what_the_kernels_do_not_cover():
    x, k = np.ones((1, 4, 4, 2), np.float32), np.ones((2, 2, 2, 3), np.float32)
    with pytest.raises(NotImplementedError, match="conv: dilation_rate=2"):
        ops.conv(x, k, dilation_rate=2)
    with pytest.raises(NotImplementedError, match="max_pool: data_format='channels_first'"):
        ops.max_pool(x, 2, data_format="channels_first")
    with pytest.raises(NotImplementedError, match=r"conv_transpose: only 2-D.*\(1, 4, 2\)"):
        ops.conv_transpose(np.ones((1, 4, 2)), k)
