"""Stateful metrics against numpy, over several batches, with Keras' name and shape rules."""
import numpy as np
import pytest

from minigraph import metrics, ops
from minigraph.autodiff import Tape, Variable

rng = np.random.default_rng(0)


def batches(metric, pairs):
    metric.reset_state()
    for y_true, y_pred in pairs:
        metric.update_state(y_true, y_pred)
    return metric.result()


def test_mean_is_weighted_by_sample_weight():
    m = metrics.Mean()
    m.update_state(0.5, sample_weight=32)  # the loss of a batch of 32
    m.update_state(2.0, sample_weight=8)
    assert m.result() == pytest.approx((0.5 * 32 + 2.0 * 8) / 40)
    m.update_state(np.array([1.0, 3.0]))  # unweighted values count one each
    assert m.result() == pytest.approx((16 + 16 + 4) / 42)
    assert isinstance(m.result(), float) and m.total.dtype == np.float32
    m.reset_state()
    assert m.result() == 0.0 and float(m.count) == 0


def test_mean_with_per_sample_weights():
    m = metrics.Mean()
    m.update_state(np.array([[1.0, 3.0], [5.0, 7.0]]), sample_weight=np.array([1.0, 0.0]))
    assert m.result() == pytest.approx(2.0)  # weights broadcast over the trailing axis: (1 + 3) / 2


def test_binary_accuracy_threshold():
    y = np.array([[1.0], [0.0], [1.0], [0.0]], dtype=np.float32)
    p = np.array([[0.6], [0.5], [0.5], [0.2]], dtype=np.float32)  # 0.5 is not above the threshold
    assert batches(metrics.BinaryAccuracy(), [(y, p)]) == pytest.approx(0.75)
    assert batches(metrics.BinaryAccuracy(threshold=0.1), [(y, p)]) == pytest.approx(0.5)


def test_categorical_and_sparse_accuracy_over_batches():
    labels = rng.integers(0, 5, size=50)
    probs = rng.random(size=(50, 5)).astype(np.float32)
    expected = np.mean(probs.argmax(-1) == labels)
    split = [(0, 32), (32, 50)]
    onehot = np.eye(5, dtype=np.float32)[labels]
    assert batches(metrics.CategoricalAccuracy(), [(onehot[a:b], probs[a:b]) for a, b in split]) == \
        pytest.approx(expected)
    assert batches(metrics.SparseCategoricalAccuracy(), [(labels[a:b], probs[a:b]) for a, b in split]) == \
        pytest.approx(expected)
    assert batches(metrics.SparseCategoricalAccuracy(), [(labels[a:b, None], probs[a:b]) for a, b in split]) == \
        pytest.approx(expected)


def test_mse_mae_metrics_over_batches():
    y = rng.normal(size=(20, 3)).astype(np.float32)
    p = rng.normal(size=(20, 3)).astype(np.float32)
    pairs = [(y[:16], p[:16]), (y[16:], p[16:])]
    assert batches(metrics.MeanSquaredError(), pairs) == pytest.approx(np.mean((y - p) ** 2), rel=1e-6)
    assert batches(metrics.MeanAbsoluteError(), pairs) == pytest.approx(np.mean(np.abs(y - p)), rel=1e-6)
    assert metrics.MeanSquaredError().name == "mean_squared_error"


def test_rank_1_targets_against_n_1_outputs_average_batch_means_as_keras():
    # Keras squeezes y_pred to (n,), the per-sample mean then runs over the batch axis: one value per batch
    y = np.array([1, 1, 1, 0, 0], dtype=np.float32)
    p = np.array([[0.9], [0.9], [0.9], [0.9], [0.1]], dtype=np.float32)  # 3/4 right, then 1/1
    m = metrics.get("accuracy", y.shape, p.shape)
    m.update_state(y[:4], p[:4])
    m.update_state(y[4:], p[4:])
    assert m.result() == pytest.approx((0.75 + 1.0) / 2)  # not 4/5


@pytest.mark.parametrize("y_shape, p_shape, fn", [
    ((8, 1), (8, 1), metrics.binary_accuracy),
    ((8,), (8, 1), metrics.binary_accuracy),  # last dim 1 wins before the rank rule
    ((8,), (8, 4), metrics.sparse_categorical_accuracy),
    ((8, 1), (8, 4), metrics.sparse_categorical_accuracy),
    ((8, 4), (8, 4), metrics.categorical_accuracy),
])
@pytest.mark.parametrize("name", ["accuracy", "acc"])
def test_accuracy_resolution_keeps_the_given_name(y_shape, p_shape, fn, name):
    m = metrics.get(name, y_shape, p_shape)
    assert m._fn is fn and m.name == name


def test_crossentropy_resolution():
    from minigraph import losses
    assert metrics.get("ce", (8,), (8, 3))._fn is losses.sparse_categorical_crossentropy
    assert metrics.get("crossentropy", (8, 3), (8, 3))._fn is losses.categorical_crossentropy
    m = metrics.get("crossentropy", (2, 1), (2, 1))
    assert m._fn is losses.binary_crossentropy
    m.update_state(np.array([[1.0], [0.0]]), np.array([[0.8], [0.4]]))
    assert m.result() == pytest.approx(-(np.log(0.8 + 1e-7) + np.log(0.6 + 1e-7)) / 2, rel=1e-5)


def test_accuracy_without_shapes_resolves_on_the_first_batch():
    m = metrics.get("acc")
    m.update_state(np.array([2, 0]), np.array([[0.1, 0.2, 0.7], [0.5, 0.4, 0.1]]))
    assert m.result() == 1.0 and m.name == "acc"


def test_get_names_classes_instances_functions():
    assert metrics.get("mse").name == "mse" and metrics.get("mae").name == "mae"
    assert metrics.get("mean_squared_error").name == "mean_squared_error"
    assert type(metrics.get("MeanAbsoluteError")) is metrics.MeanAbsoluteError
    assert type(metrics.get(metrics.BinaryAccuracy)) is metrics.BinaryAccuracy
    instance = metrics.CategoricalAccuracy(name="top1")
    assert metrics.get(instance) is instance

    def max_error(y_true, y_pred):
        return np.max(np.abs(y_true - y_pred), axis=-1)
    m = metrics.get(max_error)
    assert m.name == "max_error"
    m.update_state(np.zeros((2, 2)), np.array([[1.0, -3.0], [0.5, 0.0]]))
    assert m.result() == pytest.approx(1.75)
    with pytest.raises(ValueError, match="'accuracyy'"):
        metrics.get("accuracyy")


def test_metric_call_and_reset_and_config():
    m = metrics.BinaryAccuracy(threshold=0.3)
    assert m(np.array([[1.0]]), np.array([[0.4]])) == 1.0
    assert m(np.array([[1.0]]), np.array([[0.2]])) == 0.5
    m.reset_states()
    assert m.result() == 0.0
    assert m.get_config() == {"name": "binary_accuracy", "dtype": "float32", "threshold": 0.3}


def test_crossentropy_metric_uses_the_logits_of_a_traced_softmax():
    # as in Keras' graph, a metric given the softmax output itself takes the logits path
    from minigraph import losses
    z = np.array([[20.0, -20.0]], dtype=np.float32)
    y = np.array([[0.0, 1.0]], dtype=np.float32)
    with Tape():
        out = ops.softmax(Variable(z))
    m = metrics.get("categorical_crossentropy")
    m.update_state(y, out)
    assert m.result() == pytest.approx(40.0, rel=1e-6)
    plain = metrics.get("categorical_crossentropy")
    plain.update_state(y, out.data)
    assert plain.result() == pytest.approx(float(losses.categorical_crossentropy(y, out.data)[0]))
