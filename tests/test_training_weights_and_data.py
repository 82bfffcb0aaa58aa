"""Sample and class weights, weighted metrics, and generator / PyDataset data in fit, evaluate and predict."""
import threading

import numpy as np
import pytest

import minigraph as keras
from minigraph import layers

# tf.keras 2 and Keras 3's evaluate of this model and data (tests/data/make_keras_weighted_evaluate.py)
KERAS_EVALUATE = [0.16475291550159454, 0.800000011920929]
KERAS_EVALUATE_WEIGHTED = [0.3929974436759949, 0.800000011920929]


def sigmoid_model():
    inputs = keras.Input((1,))
    outputs = layers.Dense(1, activation="sigmoid", kernel_initializer="ones", bias_initializer="zeros")(inputs)
    model = keras.Model(inputs, outputs)
    model.compile("sgd", "mse", metrics=["accuracy"])
    return model


X = np.array([[1.0], [1.0], [1.0], [1.0], [-1.0]], np.float32)
Y = np.array([1, 1, 1, 0, 0], np.float32)
W = np.array([1, 2, 1, 3, 1], np.float32)


@pytest.mark.parametrize("weights, expected", [(None, KERAS_EVALUATE), (W, KERAS_EVALUATE_WEIGHTED)])
def test_evaluate_with_sample_weight_matches_keras(weights, expected):
    model = sigmoid_model()
    assert model.evaluate(X, Y, batch_size=4, sample_weight=weights, verbose=0) == pytest.approx(expected, rel=1e-6)


def test_class_weight_is_the_sample_weight_of_each_class():
    x = np.array([[0.5], [-1.0], [2.0], [0.0]], np.float32)
    y = np.array([1, 0, 1, 0], np.float32)
    by_class = sigmoid_model()
    by_class.compile(keras.optimizers.SGD(0.1), "mse")
    by_sample = sigmoid_model()
    by_sample.compile(keras.optimizers.SGD(0.1), "mse")
    h1 = by_class.fit(x, y, class_weight={0: 0.5, 1: 3.0}, batch_size=2, shuffle=False, verbose=0).history
    h2 = by_sample.fit(x, y, sample_weight=np.where(y == 1, 3.0, 0.5), batch_size=2, shuffle=False,
                       verbose=0).history
    assert h1["loss"] == pytest.approx(h2["loss"], rel=1e-7)
    np.testing.assert_array_equal(by_class.get_weights()[0], by_sample.get_weights()[0])
    # Keras's reduction: sum of weight * loss over the batch size
    fresh = sigmoid_model()
    p = 1 / (1 + np.exp(-x[:2, 0]))
    expected = ((p - y[:2]) ** 2 * np.array([3.0, 0.5])).sum() / 2
    assert fresh.train_on_batch(x[:2], y[:2], class_weight={0: 0.5, 1: 3.0}, return_dict=True)["loss"] == \
        pytest.approx(expected, rel=1e-6)


def test_one_hot_class_weight_and_bad_dicts():
    inputs = keras.Input((2,))
    model = keras.Model(inputs, layers.Dense(3, activation="softmax")(inputs))
    model.compile("sgd", "categorical_crossentropy")
    y = np.eye(3, dtype="float32")[[0, 2, 1, 2]]
    x = np.ones((4, 2), "float32")
    plain = model.evaluate(x, y, verbose=0)
    doubled = model.test_on_batch(x, y, sample_weight=np.full(4, 2.0))
    assert doubled == pytest.approx(2 * plain, rel=1e-5)
    with pytest.raises(ValueError, match="keys from 0 to one less"):
        model.fit(x, y, class_weight={1: 1.0, 2: 1.0}, verbose=0)


def test_weights_per_output_and_weighted_metrics():
    inputs = keras.Input((1,))
    a = layers.Dense(1, kernel_initializer="ones", use_bias=False, name="a")(inputs)
    b = layers.Dense(1, kernel_initializer="zeros", use_bias=False, name="b")(inputs)
    model = keras.Model(inputs, [a, b])
    model.compile("sgd", loss="mse", metrics=["mae"], weighted_metrics=["mae"])
    x = np.array([[1.0], [2.0]], "float32")
    ya, yb = np.zeros((2, 1)), np.ones((2, 1))
    logs = model.evaluate(x, {"a": ya, "b": yb}, sample_weight={"a": np.array([1.0, 3.0])}, return_dict=True,
                          verbose=0)
    assert logs["a_loss"] == pytest.approx((1 * 1 + 3 * 4) / 2)
    assert logs["b_loss"] == pytest.approx(1.0)
    assert logs["a_mae"] == pytest.approx(1.5) and logs["a_weighted_mae"] == pytest.approx((1 + 6) / 4)
    assert logs["loss"] == pytest.approx(6.5 + 1.0)


def test_validation_data_with_sample_weight():
    model = sigmoid_model()
    history = model.fit(X[:4], Y[:4], validation_data=(X, Y, W), batch_size=4, epochs=1, verbose=0,
                        shuffle=False).history
    after = model.evaluate(X, Y, sample_weight=W, batch_size=4, verbose=0)
    assert history["val_loss"][0] == pytest.approx(after[0], rel=1e-6)


class Batches(keras.utils.PyDataset):
    def __init__(self, x, y, batch_size, **kwargs):
        super().__init__(**kwargs)
        self.x, self.y, self.batch_size = x, y, batch_size
        self.epochs_ended = 0

    def __len__(self):
        return -(-len(self.x) // self.batch_size)

    def __getitem__(self, index):
        rows = slice(index * self.batch_size, (index + 1) * self.batch_size)
        return self.x[rows], self.y[rows]

    def on_epoch_end(self):
        self.epochs_ended += 1


def _data(n=24):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((n, 3)).astype("float32")
    return x, (x @ np.array([[1.0], [-2.0], [0.5]], "float32")).astype("float32")


def _linear():
    keras.utils.set_random_seed(1)
    inputs = keras.Input((3,))
    model = keras.Model(inputs, layers.Dense(1)(inputs))
    model.compile(keras.optimizers.SGD(0.05), "mse")
    return model


@pytest.mark.parametrize("workers", [1, 2])
def test_pydataset_and_generators_train_like_arrays(workers):
    x, y = _data()
    reference = _linear()
    expected = reference.fit(x, y, batch_size=8, epochs=2, shuffle=False, verbose=0).history["loss"]
    dataset = Batches(x, y, 8, workers=workers)
    model = _linear()
    got = model.fit(dataset, epochs=2, shuffle=False, verbose=0).history["loss"]
    assert got == pytest.approx(expected, rel=1e-6) and dataset.epochs_ended == 2
    np.testing.assert_allclose(model.get_weights()[0], reference.get_weights()[0], rtol=1e-6)

    def generator():
        while True:
            for i in range(0, len(x), 8):
                yield x[i:i + 8], y[i:i + 8]
    model = _linear()
    got = model.fit(generator(), steps_per_epoch=3, epochs=2, verbose=0).history["loss"]
    assert got == pytest.approx(expected, rel=1e-6)
    assert model.evaluate(Batches(x, y, 8), verbose=0) == pytest.approx(reference.evaluate(x, y, verbose=0),
                                                                          rel=1e-6)
    np.testing.assert_allclose(model.predict(Batches(x, y, 5), verbose=0), reference.predict(x, verbose=0),
                               rtol=1e-5, atol=1e-6)


def test_a_failing_batch_stops_fit_with_its_exception_and_leaves_no_thread():
    class Broken(Batches):
        def __getitem__(self, index):
            if index == 2:
                raise RuntimeError("batch 2 is broken")
            return super().__getitem__(index)

    x, y = _data()
    before = threading.active_count()
    with pytest.raises(RuntimeError, match="batch 2 is broken"):
        _linear().fit(Broken(x, y, 4, workers=2), epochs=1, verbose=0)
    assert threading.active_count() == before


def test_generator_data_refuses_separate_targets():
    x, y = _data()
    with pytest.raises(ValueError, match="do not pass y"):
        _linear().fit(Batches(x, y, 8), y, verbose=0)


def test_fit_with_use_ema_ends_on_the_moving_averages():
    x, y = _data()
    model = _linear()
    model.compile(keras.optimizers.SGD(0.05, use_ema=True, ema_momentum=0.5), "mse")
    seen = []
    model.fit(x, y, batch_size=8, epochs=1, shuffle=False, verbose=0,
              callbacks=[keras.callbacks.LambdaCallback(
                  on_train_batch_end=lambda batch, logs: seen.append(model.get_weights()[0].copy()))])
    plain = _linear()
    plain.compile(keras.optimizers.SGD(0.05), "mse")
    plain.fit(x, y, batch_size=8, epochs=1, shuffle=False, verbose=0)
    np.testing.assert_allclose(seen[-1], plain.get_weights()[0], rtol=1e-6)  # EMA does not change the steps
    assert not np.allclose(model.get_weights()[0], seen[-1])  # the average replaced them at the end


def test_a_loss_dict_may_leave_out_an_output_which_then_needs_no_target():
    inputs = keras.Input((2,))
    a = layers.Dense(1, name="a", kernel_initializer="ones", use_bias=False)(inputs)
    b = layers.Dense(1, name="b")(inputs)
    model = keras.Model(inputs, [a, b])
    model.compile(keras.optimizers.SGD(0.1), loss={"a": "mse"})
    x = np.ones((3, 2), "float32")
    logs = model.evaluate(x, {"a": np.zeros((3, 1))}, return_dict=True, verbose=0)
    assert logs["loss"] == pytest.approx(4.0)
    model.fit(x, {"a": np.zeros((3, 1))}, verbose=0)
    with pytest.raises(ValueError, match=r"missing targets for output\(s\) \['a'\]"):
        model.fit(x, {"b": np.zeros((3, 1))}, verbose=0)


def test_fit_and_evaluate_cast_uint8_data_one_batch_at_a_time():
    rng = np.random.default_rng(0)
    images = rng.integers(0, 255, size=(40, 6), dtype=np.uint8)
    target = rng.standard_normal((40, 1)).astype("float32")
    as_float = _linear_on(6)
    as_bytes = _linear_on(6)
    as_bytes.set_weights(as_float.get_weights())
    h1 = as_float.fit(images.astype("float32"), target, batch_size=8, shuffle=False, verbose=0).history
    h2 = as_bytes.fit(images, target, batch_size=8, shuffle=False, verbose=0).history
    assert h1["loss"] == pytest.approx(h2["loss"], rel=1e-6)
    assert as_bytes.evaluate(images, target, verbose=0) == pytest.approx(
        as_float.evaluate(images.astype("float32"), target, verbose=0), rel=1e-6)
    # the batches reach the model as float32: the arrays given stay uint8 (no float32 copy of the data)
    seen = []

    class Probe(layers.Layer):
        def call(self, x):
            seen.append(x.dtype)
            return x

    inputs = keras.Input((6,))
    probe = keras.Model(inputs, layers.Dense(1)(Probe()(inputs)))
    probe.compile("sgd", "mse")
    seen.clear()  # the symbolic call ran it once on zeros
    probe.fit(images, target, batch_size=20, verbose=0)
    assert seen == [np.float32, np.float32] and images.dtype == np.uint8


def _linear_on(features):
    keras.utils.set_random_seed(1)
    inputs = keras.Input((features,))
    model = keras.Model(inputs, layers.Dense(1)(inputs))
    model.compile(keras.optimizers.SGD(0.001), "mse")
    return model
