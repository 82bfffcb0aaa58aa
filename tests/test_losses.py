"""Losses against numpy formulas of tf.keras' definitions, and their tape gradients against finite differences."""
import numpy as np
import pytest

from minigraph import losses, ops, registry
from minigraph.autodiff import Tape, Variable

EPS = 1e-7
rng = np.random.default_rng(0)


def softmax(z):
    e = np.exp(z - z.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def sigmoid(z):
    return 1 / (1 + np.exp(-z))


def np_bce(y, p):
    p = np.clip(p, EPS, 1 - EPS)
    return -(y * np.log(p + EPS) + (1 - y) * np.log(1 - p + EPS)).mean(-1)


def np_cce(y, p):
    p = np.clip(p / p.sum(-1, keepdims=True), EPS, 1 - EPS)
    return -(y * np.log(p)).sum(-1)


def np_scce(labels, p):
    # Keras: log(clip(p)) goes through the logits op, whose log-softmax renormalises the clipped row
    logp = np.log(np.clip(p, EPS, 1 - EPS))
    logp = logp - np.log(np.exp(logp).sum(-1, keepdims=True))
    return -np.take_along_axis(logp, np.asarray(labels).astype(int).reshape(-1, 1), -1)[:, 0]


def onehot(labels, n):
    return np.eye(n, dtype=np.float32)[labels]


# ----------------------------------------------------------------------------------------------- values
def test_mse_mae_average_the_last_axis():
    y = rng.normal(size=(4, 3)).astype(np.float32)
    p = rng.normal(size=(4, 3)).astype(np.float32)
    np.testing.assert_allclose(losses.mse(y, p), ((p - y) ** 2).mean(-1), rtol=1e-6)
    np.testing.assert_allclose(losses.mae(y, p), np.abs(p - y).mean(-1), rtol=1e-6)
    assert losses.MeanSquaredError()(y, p) == pytest.approx(((p - y) ** 2).mean(), rel=1e-6)
    assert losses.MeanAbsoluteError()(y, p) == pytest.approx(np.abs(p - y).mean(), rel=1e-6)
    assert losses.mean_squared_error is losses.MSE and losses.mae is losses.mean_absolute_error


def test_targets_of_shape_n_against_outputs_n_1_are_squeezed_not_broadcast():
    y = np.array([0.0, 1.0, 2.0, 3.0], dtype=np.float32)
    p = np.array([[1.0], [1.0], [1.0], [1.0]], dtype=np.float32)
    assert losses.MeanSquaredError()(y, p) == pytest.approx(np.mean((p[:, 0] - y) ** 2))  # 1.5, not 3.5
    assert losses.MeanSquaredError()(y[:, None], p[:, 0]) == pytest.approx(1.5)


def test_binary_crossentropy_clips_and_adds_epsilon():
    y = np.array([[1, 0, 1], [0, 1, 0]], dtype=np.float32)
    p = np.array([[1.0, 0.0, 0.7], [0.0, 1e-9, 0.3]], dtype=np.float32)  # exact 0 and 1: clipped to eps
    np.testing.assert_allclose(losses.binary_crossentropy(y, p), np_bce(y, p.astype(np.float64)), rtol=1e-5)
    assert losses.BinaryCrossentropy()(y, p) == pytest.approx(np_bce(y, p.astype(np.float64)).mean(), rel=1e-5)
    assert np.isfinite(losses.binary_crossentropy(y, p)).all()


def test_categorical_crossentropy_normalises_rows_then_clips():
    y = onehot([0, 2, 1], 3)
    p = np.array([[2.0, 1.0, 1.0], [0.5, 0.5, 0.0], [0.2, 0.3, 0.5]], dtype=np.float32)  # row 0 sums to 4
    expected = np_cce(y, p.astype(np.float64))
    np.testing.assert_allclose(losses.categorical_crossentropy(y, p), expected, rtol=1e-5)
    assert expected[1] == pytest.approx(-np.log(EPS))  # a zero probability costs -log(1e-7), not inf
    assert losses.CategoricalCrossentropy()(y, p) == pytest.approx(expected.mean(), rel=1e-5)
    with pytest.raises(ValueError, match="incompatible"):
        losses.categorical_crossentropy(y[:, :2], p)


@pytest.mark.parametrize("labels", [np.array([0, 2, 1, 1]), np.array([[0], [2], [1], [1]]),
                                    np.array([0.0, 2.9, 1.2, 1.0])])  # float labels truncate, as Keras' int64 cast
def test_sparse_categorical_crossentropy(labels):
    p = np.array([[0.7, 0.2, 0.1], [0.0, 0.1, 0.9], [0.3, 0.0, 0.7], [0.5, 0.5, 0.0]], dtype=np.float32)
    expected = np_scce(labels.reshape(-1), p.astype(np.float64))
    np.testing.assert_allclose(losses.sparse_categorical_crossentropy(labels, p), expected, rtol=1e-5)
    assert losses.SparseCategoricalCrossentropy()(labels, p) == pytest.approx(expected.mean(), rel=1e-5)


def test_sparse_clips_before_normalising_unlike_categorical():
    # Keras' two probability paths differ on outputs above 1: categorical divides by the row sum first,
    # sparse clips to 1 - eps first (the log-softmax of the logits op normalises afterwards)
    p = np.array([[0.5, 3.0]], dtype=np.float32)
    categorical = float(losses.categorical_crossentropy(onehot([0], 2), p)[0])
    sparse = float(losses.sparse_categorical_crossentropy(np.array([0]), p)[0])
    assert categorical == pytest.approx(-np.log(0.5 / 3.5), rel=1e-6)
    assert sparse == pytest.approx(-np.log(0.5 / 1.5), rel=1e-6)


LABELS = np.array([1, 2, 0])
Z_SAT = np.array([[30.0, -30.0, 0.0], [1.0, 2.0, 3.0], [-20.0, 25.0, 0.0]])  # rows 0 and 2 saturate


def np_log_softmax(z):
    return z - z.max(-1, keepdims=True) - np.log(np.exp(z - z.max(-1, keepdims=True)).sum(-1, keepdims=True))


@pytest.mark.parametrize("loss, targets", [
    (losses.CategoricalCrossentropy, onehot(LABELS, 3)),
    (losses.SparseCategoricalCrossentropy, LABELS),
])
def test_softmax_output_uses_its_logits_on_the_tape(loss, targets):
    exact = -np.take_along_axis(np_log_softmax(Z_SAT), LABELS[:, None], -1)[:, 0].mean()  # (60 + 0.41 + 45) / 3
    with Tape():
        value = loss()(targets, ops.softmax(Variable(Z_SAT.astype(np.float32))))
    assert float(value.data) == pytest.approx(exact, rel=1e-5)
    assert float(loss(from_logits=True)(targets, Z_SAT.astype(np.float32))) == pytest.approx(exact, rel=1e-5)
    # the same probabilities as a plain array: clipped, rows 0 and 2 cost only -log(1e-7) = 16.1
    clipped = float(loss()(targets, softmax(Z_SAT).astype(np.float32)))
    assert clipped == pytest.approx((2 * -np.log(EPS) - np_log_softmax(Z_SAT)[1, 2]) / 3, rel=1e-4)


def test_sigmoid_output_uses_its_logits_in_binary_crossentropy():
    z = np.array([[40.0, -3.0], [0.5, -40.0]], dtype=np.float32)
    y = np.array([[0.0, 1.0], [1.0, 1.0]], dtype=np.float32)
    exact = (np.maximum(z, 0) - z * y + np.log1p(np.exp(-np.abs(z)))).mean()
    with Tape():
        value = losses.BinaryCrossentropy()(y, ops.sigmoid(Variable(z)))
    assert float(value.data) == pytest.approx(exact, rel=1e-5)
    assert float(losses.BinaryCrossentropy(from_logits=True)(y, z)) == pytest.approx(exact, rel=1e-5)
    assert float(losses.BinaryCrossentropy()(y, sigmoid(z))) == pytest.approx(np_bce(y, sigmoid(z)).mean(), rel=1e-5)


def test_logits_are_taken_only_from_the_matching_activation():
    # Keras matches the op type: a 2-class softmax fed to binary_crossentropy stays on the probability path
    z = np.array([[3.0, -1.0], [0.0, 2.0]], dtype=np.float32)
    y = onehot([0, 1], 2)
    with Tape():
        value = losses.BinaryCrossentropy()(y, ops.softmax(Variable(z)))
    assert float(value.data) == pytest.approx(np_bce(y, softmax(z)).mean(), rel=1e-5)


def test_from_logits_true_on_an_activation_output_warns_and_uses_the_logits():
    z = np.array([[1.0, 2.0, 3.0]], dtype=np.float32)
    with Tape(), pytest.warns(UserWarning, match="from_logits=True"):
        value = losses.CategoricalCrossentropy(from_logits=True)(onehot([2], 3), ops.softmax(Variable(z)))
    assert float(value.data) == pytest.approx(np.log(np.exp(z).sum()) - 3.0, rel=1e-6)


def test_squeezed_outputs_lose_the_logits_shortcut():
    # (n,) targets against a sigmoid (n, 1): Keras squeezes y_pred first, and the squeeze is no Sigmoid op
    z = np.array([[20.0], [-1.0]], dtype=np.float32)
    y = np.array([0.0, 1.0], dtype=np.float32)
    with Tape():
        value = losses.BinaryCrossentropy()(y, ops.sigmoid(Variable(z)))
    assert float(value.data) == pytest.approx(np_bce(y[:, None], sigmoid(z)).mean(), rel=1e-5)  # float32: p = 1
    assert float(value.data) != pytest.approx(losses.BinaryCrossentropy(from_logits=True)(y, z[:, 0]), rel=0.1)


def test_label_smoothing():
    y = onehot([0, 1], 3)
    p = np.array([[0.6, 0.3, 0.1], [0.2, 0.5, 0.3]], dtype=np.float32)
    smoothed = y * 0.8 + 0.2 / 3
    assert float(losses.CategoricalCrossentropy(label_smoothing=0.2)(y, p)) == pytest.approx(
        np_cce(smoothed, p).mean(), rel=1e-5)
    yb = np.array([[1.0, 0.0, 1.0]], dtype=np.float32)
    assert float(losses.BinaryCrossentropy(label_smoothing=0.2)(yb, p[:1])) == pytest.approx(
        np_bce(yb * 0.8 + 0.1, p[:1]).mean(), rel=1e-5)


def test_reductions_and_sample_weight():
    y = np.array([[0.0], [1.0], [2.0]], dtype=np.float32)
    p = np.array([[1.0], [1.0], [1.0]], dtype=np.float32)
    per_sample = np.array([1.0, 0.0, 1.0])
    np.testing.assert_allclose(losses.MeanSquaredError(reduction="none")(y, p), per_sample)
    assert float(losses.MeanSquaredError(reduction="sum")(y, p)) == 2.0
    w = np.array([2.0, 5.0, 0.5])
    assert float(losses.MeanSquaredError()(y, p, sample_weight=w)) == pytest.approx((2.0 + 0.5) / 3)
    assert float(losses.MeanSquaredError()(y, p, sample_weight=w[:, None])) == pytest.approx((2.0 + 0.5) / 3)
    with pytest.raises(ValueError, match="reduction"):
        losses.MeanSquaredError(reduction="average")


# ----------------------------------------------------------------------------------------------- gradients
def _tape_grad(loss_fn, x):
    var = Variable(x.copy())
    with Tape() as tape:
        value = loss_fn(var)
    return tape.gradient(value, [var])[0]


def _numeric_grad(loss_fn, x, h=1e-6):
    grad = np.zeros_like(x)
    for i in np.ndindex(x.shape):
        up, down = x.copy(), x.copy()
        up[i] += h
        down[i] -= h
        grad[i] = (float(np.asarray(loss_fn(up))) - float(np.asarray(loss_fn(down)))) / (2 * h)
    return grad


Y_BIN = np.array([[1.0, 0.0, 1.0], [0.0, 0.0, 1.0]])
Y_CAT = np.array([[0.0, 1.0, 0.0], [0.0, 0.0, 1.0]])
P = np.array([[0.3, 0.5, 0.2], [0.1, 0.25, 0.6]])  # inside (eps, 1 - eps): no clip kinks
Z = np.array([[0.3, -1.2, 2.0], [1.5, 0.1, -0.7]])


@pytest.mark.parametrize("name, loss_fn, x", [
    ("mse", lambda p: losses.MeanSquaredError()(Y_BIN, p), P),
    ("mae", lambda p: losses.MeanAbsoluteError()(Y_BIN, p), P),
    ("bce", lambda p: losses.BinaryCrossentropy()(Y_BIN, p), P),
    ("cce", lambda p: losses.CategoricalCrossentropy()(Y_CAT, p), P),
    ("scce", lambda p: losses.SparseCategoricalCrossentropy()(np.array([1, 2]), p), P),
    ("bce-logits", lambda z: losses.BinaryCrossentropy(from_logits=True)(Y_BIN, z), Z),
    ("cce-logits", lambda z: losses.CategoricalCrossentropy(from_logits=True)(Y_CAT, z), Z),
    ("scce-logits", lambda z: losses.SparseCategoricalCrossentropy(from_logits=True)(np.array([1, 2]), z), Z),
    ("cce-softmax", lambda z: losses.CategoricalCrossentropy()(Y_CAT, ops.softmax(z)), Z),
    ("bce-sigmoid", lambda z: losses.BinaryCrossentropy()(Y_BIN, ops.sigmoid(z)), Z),
    ("scce-softmax", lambda z: losses.SparseCategoricalCrossentropy()(np.array([1, 2]), ops.softmax(z)), Z),
])
def test_gradient_matches_central_differences(name, loss_fn, x):
    np.testing.assert_allclose(_tape_grad(loss_fn, x), _numeric_grad(loss_fn, x), rtol=1e-6, atol=1e-9)


def test_clipped_probabilities_get_no_gradient():
    p = np.array([[0.0, 1.0, 0.5]])
    grad = _tape_grad(lambda v: losses.BinaryCrossentropy()(np.array([[1.0, 0.0, 1.0]]), v), p)
    assert grad[0, 0] == 0 and grad[0, 1] == 0 and grad[0, 2] != 0


# ----------------------------------------------------------------------------------------------- lookup, config
@pytest.mark.parametrize("name, cls", [
    ("mse", losses.MeanSquaredError), ("mean_squared_error", losses.MeanSquaredError),
    ("mae", losses.MeanAbsoluteError), ("mean_absolute_error", losses.MeanAbsoluteError),
    ("binary_crossentropy", losses.BinaryCrossentropy), ("categorical_crossentropy", losses.CategoricalCrossentropy),
    ("sparse_categorical_crossentropy", losses.SparseCategoricalCrossentropy),
    ("CategoricalCrossentropy", losses.CategoricalCrossentropy),
])
def test_get_by_name(name, cls):
    assert type(losses.get(name)) is cls


def test_get_classes_instances_callables_and_unknown_names():
    instance = losses.BinaryCrossentropy(from_logits=True)
    assert losses.get(instance) is instance
    assert type(losses.get(losses.MeanAbsoluteError)) is losses.MeanAbsoluteError
    assert losses.get(None) is None

    def double_mse(y_true, y_pred):
        return ops.multiply(losses.mean_squared_error(y_true, y_pred), 2.0)
    custom = losses.get(double_mse)
    assert custom.name == "double_mse"
    assert float(custom(np.zeros((2, 1)), np.ones((2, 1)))) == 2.0
    with pytest.raises(ValueError, match="'mean_sqared_error'"):
        losses.get("mean_sqared_error")


def test_config_round_trip_and_registry():
    loss = losses.CategoricalCrossentropy(from_logits=True, label_smoothing=0.1, name="cce")
    config = loss.get_config()
    assert config == {"reduction": "sum_over_batch_size", "name": "cce", "from_logits": True, "label_smoothing": 0.1,
                      "axis": -1}
    again = registry.deserialize(registry.serialize(loss), kind="loss")
    assert type(again) is losses.CategoricalCrossentropy and again.get_config() == config
    assert losses.MeanSquaredError().get_config() == {"reduction": "sum_over_batch_size", "name": "mean_squared_error"}
    assert losses.SparseCategoricalCrossentropy().get_config() == {
        "reduction": "sum_over_batch_size", "name": "sparse_categorical_crossentropy", "from_logits": False,
        "ignore_class": None}


# ----------------------------------------------------------------------------------------------- new losses: gradients
Y_REG = np.array([[0.5, -1.0, 2.0], [1.5, 0.2, -0.3]])
P_REG = np.array([[0.1, -0.4, 2.9], [1.0, 0.8, 0.6]])  # |error| 0.4 to 0.9: both Huber branches at delta 0.5
Y_POS = np.array([[0.5, 1.2, 2.0], [1.5, 0.3, 0.9]])
Y_PROB = np.array([[0.2, 0.5, 0.3], [0.1, 0.1, 0.8]])


@pytest.mark.parametrize("loss, y, x", [
    (losses.Huber(), Y_REG, P_REG), (losses.Huber(delta=0.5), Y_REG, P_REG), (losses.LogCosh(), Y_REG, P_REG),
    (losses.KLDivergence(), Y_PROB, P), (losses.Poisson(), Y_POS, np.abs(P_REG) + 0.1),
    (losses.CosineSimilarity(), Y_REG, P_REG), (losses.CosineSimilarity(axis=0), Y_REG, P_REG),
    (losses.Hinge(), Y_BIN, Z), (losses.SquaredHinge(), Y_BIN, Z), (losses.CategoricalHinge(), Y_CAT, Z),
    (losses.MeanAbsolutePercentageError(), Y_POS, P_REG), (losses.MeanSquaredLogarithmicError(), Y_POS, P),
], ids=lambda v: getattr(v, "name", None) or "")
def test_new_losses_differentiate_on_the_tape(loss, y, x):
    def loss_fn(p):
        return loss(y, p)
    np.testing.assert_allclose(_tape_grad(loss_fn, x), _numeric_grad(loss_fn, x), rtol=1e-6, atol=1e-9)


def test_log_cosh_does_not_overflow_for_large_errors():
    value = losses.log_cosh(np.zeros((1, 2), np.float32), np.array([[200.0, -300.0]], np.float32))
    np.testing.assert_allclose(value, [(200 + 300 - 2 * np.log(2.0)) / 2], rtol=1e-6)


def test_hinge_maps_zero_one_labels_to_signs_only_when_all_are_zero_or_one():
    p = np.array([[0.3, -0.2]], np.float32)
    assert float(losses.hinge(np.array([[1.0, 0.0]]), p)[0]) == pytest.approx((0.7 + 0.8) / 2)
    assert float(losses.hinge(np.array([[1.0, 0.5]]), p)[0]) == pytest.approx((0.7 + 1.1) / 2)


# ----------------------------------------------------------------------------------------------- the Loss base
class ScaledAbsolute(losses.Loss):
    """A user's loss, as the Keras guide writes one: call() with ops, extra config."""

    def __init__(self, scale=2.0, name="scaled_absolute", **kwargs):
        super().__init__(name=name, **kwargs)
        self.scale = scale

    def call(self, y_true, y_pred):
        return ops.multiply(ops.mean(ops.abs(y_pred - y_true), axis=-1), self.scale)

    def get_config(self):
        return {**super().get_config(), "scale": self.scale}


def test_loss_subclass_weights_reduces_and_differentiates():
    y = np.array([[0.0, 1.0], [2.0, 0.0], [1.0, 1.0]], np.float32)
    p = np.array([[1.0, 1.0], [0.0, 0.0], [1.0, 4.0]], np.float32)
    per_sample = 2.0 * np.array([0.5, 1.0, 1.5])
    w = np.array([1.0, 0.0, 2.0], np.float32)
    loss = ScaledAbsolute()
    assert float(loss(y, p)) == pytest.approx(per_sample.mean())
    assert float(loss(y, p, sample_weight=w)) == pytest.approx((per_sample * w).sum() / 3)
    np.testing.assert_allclose(ScaledAbsolute(reduction="none")(y, p, sample_weight=w), per_sample * w)
    assert float(ScaledAbsolute(reduction="sum")(y, p)) == pytest.approx(per_sample.sum())
    grad = _tape_grad(lambda v: ScaledAbsolute()(y, v), p.astype(np.float64))
    np.testing.assert_allclose(grad, 2.0 * np.sign(p - y) / (2 * 3))
    again = ScaledAbsolute.from_config(loss.get_config())
    assert again.get_config() == {"name": "scaled_absolute", "reduction": "sum_over_batch_size", "scale": 2.0}


def test_loss_defaults_and_bad_arguments():
    assert losses.Loss().name == "loss" and ScaledAbsolute().dtype == "float32"
    assert losses.LossFunctionWrapper(losses.huber, delta=0.3).get_config() == {
        "name": "huber", "reduction": "sum_over_batch_size", "delta": 0.3}
    with pytest.raises(NotImplementedError, match="call"):
        losses.Loss()(np.zeros(2), np.zeros(2))
    with pytest.raises(TypeError, match="deltaa"):
        losses.Huber(deltaa=2.0)
    with pytest.raises(ValueError, match="sample_weight of shape"):
        losses.MeanSquaredError()(np.zeros((4, 3)), np.ones((4, 3)), sample_weight=np.ones(3))
    assert losses.MeanSquaredError(dtype="float64")(np.zeros((2, 1)), np.ones((2, 1), np.float32)).dtype == np.float64


def test_sample_weight_rules_of_tf_keras_2():
    # (n, t) per-step losses with (n,) weights: the weights get a trailing axis and broadcast over t
    y = np.zeros((2, 3, 1), np.float32)
    p = np.arange(6, dtype=np.float32).reshape(2, 3, 1)
    w = np.array([1.0, 0.5], np.float32)
    expected = (np.array([0, 1, 4]) * 1.0 + np.array([9, 16, 25]) * 0.5).sum() / 6
    assert float(losses.MeanSquaredError()(y, p, sample_weight=w)) == pytest.approx(expected)
    assert float(losses.MeanSquaredError()(y, p, sample_weight=np.float32(3.0))) == pytest.approx(55 / 6 * 3)
    zero = losses.MeanSquaredError(reduction="mean_with_sample_weight")(y, p, sample_weight=np.zeros(2))
    assert float(zero) == 0.0  # divide_no_nan


@pytest.mark.parametrize("name, cls", [
    ("huber", losses.Huber), ("huber_loss", losses.Huber), ("log_cosh", losses.LogCosh),
    ("logcosh", losses.LogCosh), ("kld", losses.KLDivergence), ("kl_divergence", losses.KLDivergence),
    ("kullback_leibler_divergence", losses.KLDivergence), ("poisson", losses.Poisson),
    ("cosine_similarity", losses.CosineSimilarity), ("hinge", losses.Hinge), ("squared_hinge", losses.SquaredHinge),
    ("categorical_hinge", losses.CategoricalHinge), ("mape", losses.MeanAbsolutePercentageError),
    ("MAPE", losses.MeanAbsolutePercentageError), ("msle", losses.MeanSquaredLogarithmicError),
    ("mean_squared_logarithmic_error", losses.MeanSquaredLogarithmicError), ("Huber", losses.Huber),
])
def test_get_new_loss_names(name, cls):
    assert type(losses.get(name)) is cls


@pytest.mark.parametrize("loss", [losses.Huber(delta=0.25, reduction="sum"), losses.CosineSimilarity(axis=0),
                                  losses.KLDivergence(name="kl"), losses.Poisson(), losses.CategoricalHinge(),
                                  losses.MeanSquaredLogarithmicError(reduction="none")], ids=repr)
def test_new_loss_configs_round_trip(loss):
    again = registry.deserialize(registry.serialize(loss), kind="loss")
    assert type(again) is type(loss) and again.get_config() == loss.get_config()


# what tf.keras 2 and Keras 3 evaluate() report (tests/data/make_keras_weighted_evaluate.py): [loss, accuracy]
KERAS_EVALUATE = [0.16475291550159454, 0.800000011920929]
KERAS_EVALUATE_WEIGHTED = [0.3929974436759949, 0.800000011920929]


@pytest.mark.parametrize("weighted, expected", [(False, KERAS_EVALUATE), (True, KERAS_EVALUATE_WEIGHTED)])
def test_evaluate_with_sample_weight_as_tf_keras_2(weighted, expected):
    """The pieces an engine chains per batch, as Keras' evaluate: match the target's rank, the weighted loss,
    a loss mean weighted by batch size, and the (unweighted) compiled metric."""
    from minigraph import metrics
    x = np.array([[1.0], [1.0], [1.0], [1.0], [-1.0]], np.float32)
    y = np.array([1, 1, 1, 0, 0], np.float32)
    w = np.array([1, 2, 1, 3, 1], np.float32) if weighted else None
    out = (1 / (1 + np.exp(-x))).astype(np.float32)  # Dense(1, sigmoid) with kernel 1 and bias 0
    loss, loss_mean = losses.get("mse"), metrics.Mean()
    accuracy = metrics.get("accuracy", y.shape, out.shape)
    for rows in (slice(0, 4), slice(4, 5)):
        y_b, out_b, w_b = losses.match_dtype_and_rank(y[rows], out[rows], None if w is None else w[rows])
        assert y_b.shape == out_b.shape and (w_b is None or w_b.shape == out_b.shape)
        loss_mean.update_state(loss(y_b, out_b, sample_weight=w_b), sample_weight=len(out_b))
        accuracy.update_state(y_b, out_b)
    assert [loss_mean.result(), accuracy.result()] == pytest.approx(expected, rel=1e-6)


def test_plain_function_losses_take_sample_weight_and_reductions():
    def cubed_error(y_true, y_pred):
        return ops.mean(ops.abs(ops.power(y_pred - y_true, 3)), axis=-1)
    y = np.zeros((3, 2), np.float32)
    p = np.array([[1.0, -1.0], [2.0, 0.0], [0.0, 0.0]], np.float32)
    w = np.array([1.0, 0.5, 4.0], np.float32)
    per_sample = np.array([1.0, 4.0, 0.0])
    assert float(losses.get(cubed_error)(y, p, sample_weight=w)) == pytest.approx((1.0 + 2.0) / 3)
    wrapped = losses.LossFunctionWrapper(cubed_error, reduction="sum")
    assert float(wrapped(y, p, sample_weight=w)) == pytest.approx(3.0)
    np.testing.assert_allclose(losses.LossFunctionWrapper(cubed_error, reduction=None)(y, p), per_sample)


def test_keras_configs_with_fn_deserialize():
    # tf.keras 2 writes the wrapped function's name as "fn" and "auto" as the reduction
    loss = losses.deserialize({"class_name": "Huber", "config": {"reduction": "auto", "name": "huber_loss",
                                                                  "delta": 0.7, "fn": "huber"}})
    assert type(loss) is losses.Huber and loss.get_config()["delta"] == 0.7
    assert float(loss(np.zeros((1, 1)), np.full((1, 1), 2.0))) == pytest.approx(0.7 * 2 - 0.5 * 0.49)

    def my_error(y_true, y_pred):
        return ops.mean(ops.abs(y_pred - y_true), axis=-1)
    wrapper = losses.LossFunctionWrapper.from_config({"name": "mine", "reduction": "sum", "fn": "my_error"},
                                                     custom_objects={"my_error": my_error})
    assert wrapper.fn is my_error and float(wrapper(np.zeros((2, 1)), np.ones((2, 1)))) == 2.0
    with pytest.raises(ValueError, match="'my_error'"):
        losses.LossFunctionWrapper.from_config({"name": "mine", "fn": "my_error"})
