"""Stateful metrics against numpy, over several batches, with Keras' name and shape rules."""
import numpy as np
import pytest

import minigraph as keras
from minigraph import losses, metrics, ops
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


# ----------------------------------------------------------------------------------------------- the Metric base
class PositiveCount(metrics.Metric):
    """A user's metric as the Keras guide writes one: add_weight state, update_state, result."""

    def __init__(self, name="positive_count", **kwargs):
        super().__init__(name=name, **kwargs)
        self.positives = self.add_weight(name="positives", initializer="zeros")
        self.seen = self.add_weight(name="seen", initializer="zeros")

    def update_state(self, y_true, y_pred, sample_weight=None):
        hits = (np.asarray(y_pred) > 0).astype("float32")
        if sample_weight is not None:
            hits = hits * np.asarray(sample_weight, "float32").reshape(-1, 1)
        self.positives.assign_add(np.sum(hits))
        self.seen.assign_add(np.float32(len(y_pred)))

    def result(self):
        return self.positives / self.seen


def test_metric_subclass_state_result_and_reset():
    m = PositiveCount()
    assert [v.name for v in m.variables] == ["positives", "seen"]
    assert all(isinstance(v, Variable) and not v.trainable
               for v in m.variables)
    m.update_state(None, np.array([[1.0], [-1.0], [2.0], [0.0]]))
    assert m.result() == pytest.approx(0.5) and isinstance(m.result(), float)
    m.update_state(None, np.array([[3.0], [1.0]]), sample_weight=np.array([2.0, 0.0]))
    assert m.result() == pytest.approx(4 / 6)
    m.reset_state()
    assert float(m.positives) == 0.0 and float(m.seen) == 0.0
    with np.errstate(invalid="ignore"):
        assert np.isnan(m.result())  # 0 / 0, as the user's division gives in Keras
    assert m.get_config() == {"name": "positive_count", "dtype": "float32"}


def test_add_weight_takes_keras_2_and_keras_3_signatures():
    m = metrics.Metric(name="state")
    a = m.add_weight("a", shape=(2,), initializer="ones")  # tf.keras 2: the name first
    b = m.add_weight((3,), initializer="zeros", name="b")  # Keras 3: the shape first
    c = m.add_variable(shape=(), initializer="ones", dtype="float64", name="c")
    assert (a.shape, b.shape, c.shape, c.dtype) == ((2,), (3,), (), np.float64)
    np.testing.assert_array_equal(a.numpy(), [1.0, 1.0])
    a.assign_add(np.array([1.0, 2.0]))
    b.assign_sub(1.0)
    np.testing.assert_array_equal(a.numpy(), [2.0, 3.0])
    np.testing.assert_array_equal(b.numpy(), [-1.0, -1.0, -1.0])
    m.reset_states()  # Keras resets every state variable to zero, whatever its initializer
    assert all(np.all(v.numpy() == 0) for v in m.variables)
    with pytest.raises(TypeError, match="initialiser"):
        m.add_weight("d", initialiser="zeros")
    with pytest.raises(NotImplementedError, match="update_state"):
        m.update_state(1.0)


def test_metric_without_super_init_gets_a_clear_error():
    class Forgetful(metrics.Metric):
        def __init__(self):
            self.total = self.add_weight(name="total")

    with pytest.raises(RuntimeError, match="super\\(\\).__init__"):
        Forgetful()


def test_custom_metric_and_loss_in_fit_are_logged_and_reset_every_epoch():
    rng = np.random.default_rng(3)
    x = rng.normal(size=(10, 4)).astype("float32")
    y = rng.normal(size=(10, 1)).astype("float32")
    inputs = keras.Input(shape=(4,))
    model = keras.Model(inputs, keras.layers.Dense(1)(inputs))

    class HalfMSE(keras.losses.Loss):
        def call(self, y_true, y_pred):
            return ops.multiply(ops.mean(ops.square(y_pred - y_true), axis=-1), 0.5)

    model.compile(optimizer=keras.optimizers.SGD(learning_rate=0.0), loss=HalfMSE(),
                  metrics=[PositiveCount()])
    history = model.fit(x, y, batch_size=4, epochs=2, shuffle=False, verbose=0)
    out = model.predict(x, verbose=0)
    batch_losses = [0.5 * np.mean((out[i:i + 4] - y[i:i + 4]) ** 2) for i in (0, 4, 8)]
    assert history.history["positive_count"] == pytest.approx([np.mean(out > 0)] * 2)  # reset: not doubled
    epoch_loss = np.average(batch_losses, weights=[4, 4, 2])  # Keras' epoch mean weights batches by size
    np.testing.assert_allclose(history.history["loss"], [epoch_loss] * 2, rtol=1e-5)
    logs = model.evaluate(x, y, batch_size=10, verbose=0, return_dict=True)
    assert logs["positive_count"] == pytest.approx(np.mean(out > 0))


@pytest.mark.parametrize("name, cls, logged", [
    ("AUC", metrics.AUC, "auc"), ("auc", metrics.AUC, "auc"), ("Precision", metrics.Precision, "precision"),
    ("recall", metrics.Recall, "recall"), ("f1_score", metrics.F1Score, "f1_score"),
    ("RootMeanSquaredError", metrics.RootMeanSquaredError, "root_mean_squared_error"),
    ("TopKCategoricalAccuracy", metrics.TopKCategoricalAccuracy, "top_k_categorical_accuracy"),
])
def test_get_class_names(name, cls, logged):
    m = metrics.get(name)
    assert type(m) is cls and m.name == logged


@pytest.mark.parametrize("name, fn", [
    ("mape", losses.mean_absolute_percentage_error), ("MAPE", losses.mean_absolute_percentage_error),
    ("msle", losses.mean_squared_logarithmic_error), ("cosine_similarity", metrics.cosine_similarity),
    ("logcosh", losses.log_cosh), ("kld", losses.kl_divergence), ("hinge", losses.hinge),
    ("top_k_categorical_accuracy", metrics.top_k_categorical_accuracy),
])
def test_get_function_names_keep_the_name_given(name, fn):
    m = metrics.get(name)
    assert type(m) is metrics.MeanMetricWrapper and m._fn is fn and m.name == name


@pytest.mark.parametrize("metric", [
    metrics.AUC(curve="PR", num_thresholds=50), metrics.AUC(thresholds=[0.2, 0.7], multi_label=True),
    metrics.Precision(thresholds=[0.3, 0.6], class_id=1), metrics.Recall(top_k=2),
    metrics.F1Score(average="macro", threshold=0.4), metrics.TopKCategoricalAccuracy(k=3),
    metrics.CosineSimilarity(axis=0), metrics.BinaryCrossentropy(from_logits=True),
], ids=repr)
def test_metric_configs_round_trip(metric):
    again = type(metric).from_config(metric.get_config())
    assert again.get_config() == metric.get_config()


def test_metric_configs_have_keras_keys():
    assert metrics.AUC().get_config() == {
        "name": "auc", "dtype": "float32", "num_thresholds": 200, "curve": "ROC", "summation_method": "interpolation",
        "multi_label": False, "num_labels": None, "label_weights": None, "from_logits": False}
    assert metrics.F1Score().get_config() == {"name": "f1_score", "dtype": "float32", "average": None,
                                              "threshold": None}
    assert metrics.Precision().get_config() == {"name": "precision", "dtype": "float32", "thresholds": None,
                                                "top_k": None, "class_id": None}


def test_auc_thresholds_and_bad_arguments():
    thresholds = metrics.AUC(num_thresholds=5).thresholds
    np.testing.assert_allclose(thresholds, [-1e-7, 0.25, 0.5, 0.75, 1 + 1e-7])
    with pytest.raises(ValueError, match="curve"):
        metrics.AUC(curve="ROCC")
    with pytest.raises(ValueError, match="num_labels"):
        metrics.AUC(num_labels=3)
    with pytest.raises(ValueError, match="average"):
        metrics.F1Score(average="mean")
    with pytest.raises(ValueError, match="threshold"):
        metrics.Precision(thresholds=[0.5, 1.5])


def test_top_k_ties_count_as_in_as_tensorflow():
    scores = np.array([[0.2, 0.5, 0.5, 0.1], [0.4, 0.3, 0.3, 0.3], [np.nan, 0.1, 0.2, 0.3]], np.float32)
    np.testing.assert_array_equal(metrics.in_top_k(scores, np.array([2, 3, 3]), 1), [True, False, False])
    np.testing.assert_array_equal(metrics.in_top_k(scores, np.array([0, 3, 3]), 2), [False, True, False])


def test_new_losses_and_metrics_survive_an_h5_round_trip(tmp_path):
    inputs = keras.Input(shape=(3,))
    model = keras.Model(inputs, keras.layers.Dense(2, activation="sigmoid")(inputs))
    model.compile(optimizer="sgd", loss=losses.Huber(delta=0.5),
                  metrics=[metrics.AUC(curve="PR", num_thresholds=50), metrics.Precision(thresholds=[0.3, 0.6]),
                           "mape"])
    path = str(tmp_path / "m.h5")
    model.save(path)
    again = keras.models.load_model(path)
    loss = losses.get(again._loss_config)
    assert type(loss) is losses.Huber and loss.get_config()["delta"] == 0.5
    auc, precision, mape = again._metrics_config
    assert type(auc) is metrics.AUC and auc.get_config() == model._metrics_config[0].get_config()
    assert type(precision) is metrics.Precision and precision.thresholds == [0.3, 0.6]
    assert mape == "mape"


def test_get_from_a_config_dict_and_the_reduction_names():
    m = metrics.get({"class_name": "AUC", "config": {"name": "pr_auc", "curve": "PR"}})
    assert type(m) is metrics.AUC and m.name == "pr_auc" and m.curve == "PR"
    with pytest.raises(ValueError, match="'MeanIoUU'"):
        metrics.get({"class_name": "MeanIoUU", "config": {}})
    assert losses.Reduction.SUM == "sum" and losses.MeanSquaredError(reduction=losses.Reduction.AUTO)


def test_builtin_metrics_in_fit_equal_the_same_metrics_over_the_same_batches():
    rng = np.random.default_rng(5)
    x = rng.normal(size=(12, 4)).astype("float32")
    y = rng.integers(0, 2, size=(12, 3)).astype("float32")
    inputs = keras.Input(shape=(4,))
    model = keras.Model(inputs, keras.layers.Dense(3, activation="sigmoid")(inputs))
    def chosen():
        return ["AUC", "precision", metrics.Recall(thresholds=0.3), metrics.F1Score(average="macro"), "mape",
                metrics.AUC(curve="PR", name="pr_auc"), "binary_accuracy"]
    model.compile(optimizer=keras.optimizers.SGD(learning_rate=0.0), loss="binary_crossentropy", metrics=chosen())
    history = model.fit(x, y, batch_size=5, epochs=2, shuffle=False, verbose=0)
    out = model.predict(x, verbose=0)
    for spec in chosen():
        metric = metrics.get(spec, y.shape, out.shape)
        for i in range(0, 12, 5):
            metric.update_state(y[i:i + 5], out[i:i + 5])
        assert history.history[metric.name] == pytest.approx([metric.result()] * 2, rel=1e-6), metric.name
