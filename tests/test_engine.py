"""The functional graph: construction, naming, views, config round trips and graph-time errors."""
import numpy as np
import pytest

import minigraph as keras
from minigraph import layers, ops


def mlp(name="mlp"):
    inputs = keras.Input(shape=(6,), name=f"{name}_in")
    x = layers.Dense(4, activation="relu", name=f"{name}_hidden")(inputs)
    outputs = layers.Dense(3, activation="softmax", name=f"{name}_out")(x)
    return keras.Model(inputs, outputs, name=name)


def test_auto_names_follow_keras_rules():
    keras.backend.clear_session()
    a, b = layers.Dense(1), layers.Dense(1)
    assert (a.name, b.name) == ("dense", "dense_1")
    assert layers.Conv2DTranspose(1, 1).name == "conv2d_transpose"
    assert layers.UpSampling2D().name == "up_sampling2d"
    assert layers.GlobalMaxPooling2D().name == "global_max_pooling2d"
    i1, i2 = keras.Input(shape=(2,)), keras.Input(shape=(2,))
    assert (i1.node.layer.name, i2.node.layer.name) == ("input_1", "input_2")
    m1 = keras.Model(i1, layers.Dense(1)(i1))
    m2 = keras.Model(i2, layers.Dense(1)(i2))
    assert (m1.name, m2.name) == ("model", "model_1")
    assert isinstance(m1, keras.Model) and type(m1).__name__ == "Functional"


def test_duplicate_layer_names_in_one_model_raise():
    inputs = keras.Input(shape=(3,), name="dup_in")
    x = layers.Dense(2, name="same")(inputs)
    y = layers.Dense(2, name="same")(x)
    with pytest.raises(ValueError, match='"same" is used 2 times'):
        keras.Model(inputs, y)


def test_disconnected_graph_names_the_layer():
    a = keras.Input(shape=(3,), name="a_in")
    b = keras.Input(shape=(3,), name="b_in")
    out = layers.Add(name="joined")([a, b])
    with pytest.raises(ValueError, match="Graph disconnected.*joined"):
        keras.Model(a, out)


def test_incompatible_layer_call_names_layer_and_shapes():
    inputs = keras.Input(shape=(6,))
    dense = layers.Dense(4, name="d_fixed")
    dense(inputs)
    with pytest.raises(ValueError, match=r"d_fixed.*\(None, 5\)"):
        dense(keras.Input(shape=(5,)))
    with pytest.raises(ValueError, match=r"big_kernel.*\(None, 2, 2, 1\)"):
        layers.Conv2D(1, 3, name="big_kernel")(keras.Input(shape=(2, 2, 1)))
    with pytest.raises(ValueError, match=r"merge_me.*\(None, 3\).*\(None, 4\)"):
        layers.Add(name="merge_me")([keras.Input(shape=(3,)), keras.Input(shape=(4,))])
    with pytest.raises(ValueError, match=r"bad_reshape"):
        layers.Reshape((4, 4), name="bad_reshape")(keras.Input(shape=(15,)))


def test_model_views_and_feature_extraction():
    model = mlp("fx")
    assert [layer.name for layer in model.layers] == ["fx_in", "fx_hidden", "fx_out"]
    assert model.get_layer("fx_hidden").output.shape == (None, 4)
    assert model.inputs[0].shape == (None, 6) and model.outputs[0].shape == (None, 3)
    features = keras.Model(model.inputs, model.get_layer("fx_hidden").output)
    x = np.random.default_rng(0).random((5, 6), dtype=np.float32)
    w, b = model.get_layer("fx_hidden").get_weights()
    np.testing.assert_allclose(features.predict(x), np.maximum(x @ w + b, 0), rtol=1e-5, atol=1e-6)
    assert features.get_layer("fx_hidden") is model.get_layer("fx_hidden")


def test_eager_calls_on_arrays_compute_at_once():
    model = mlp("eager")
    x = np.random.default_rng(1).random((2, 6), dtype=np.float32)
    np.testing.assert_allclose(model(x), model.predict(x), rtol=1e-6)
    hidden = model.get_layer("eager_hidden")
    assert hidden(x).shape == (2, 4)


def test_get_set_weights_in_keras_order():
    model = mlp("order")
    shapes = [w.shape for w in model.get_weights()]
    assert shapes == [(6, 4), (4,), (4, 3), (3,)]
    new = [np.full(s, i, dtype=np.float32) for i, s in enumerate(shapes)]
    model.set_weights(new)
    for got, want in zip(model.get_weights(), new):
        np.testing.assert_array_equal(got, want)
    assert model.count_params() == 6 * 4 + 4 + 4 * 3 + 3


def test_config_round_trip_rebuilds_the_same_computation():
    keras.utils.set_random_seed(0)
    inner = mlp("inner")
    inputs = keras.Input(shape=(6,), name="outer_in")
    shared = layers.Dense(6, name="shared")
    a = shared(inputs)
    b = shared(a)  # a shared layer called twice
    out = layers.Concatenate(name="cat")([inner(a), inner(b)])  # a nested model called twice
    model = keras.Model(inputs, out, name="outer")
    config = model.get_config()
    assert config["input_layers"] == [["outer_in", 0, 0]]
    shared_cfg = next(c for c in config["layers"] if c["name"] == "shared")
    assert shared_cfg["inbound_nodes"] == [[["outer_in", 0, 0, {}]], [["shared", 0, 0, {}]]]
    inner_cfg = next(c for c in config["layers"] if c["name"] == "inner")
    # a nested model's node 0 is its own graph: its calls from outside are nodes 1 and 2
    assert inner_cfg["inbound_nodes"] == [[["shared", 0, 0, {}]], [["shared", 1, 0, {}]]]
    assert next(c for c in config["layers"] if c["name"] == "cat")["inbound_nodes"] == [
        [["inner", 1, 0, {}], ["inner", 2, 0, {}]]]
    keras.backend.clear_session()
    clone = keras.Model.from_config(config)
    clone.set_weights(model.get_weights())
    x = np.random.default_rng(2).random((3, 6), dtype=np.float32)
    np.testing.assert_allclose(clone.predict(x), model.predict(x), rtol=1e-6)
    assert clone.get_config() == config


def test_sequential_builds_and_round_trips():
    model = keras.Sequential([layers.Dense(4, activation="relu", input_shape=(3,), name="s1"),
                              layers.Dense(2, name="s2")], name="seq")
    model.add(layers.Activation("softmax", name="s3"))
    assert [layer.name for layer in model.layers] == ["s1", "s2", "s3"]
    x = np.random.default_rng(3).random((4, 3), dtype=np.float32)
    y = model.predict(x)
    np.testing.assert_allclose(y.sum(axis=1), 1, rtol=1e-5)
    config = model.get_config()
    assert config["layers"][0]["class_name"] == "InputLayer"
    clone = keras.Sequential.from_config(config)
    clone.set_weights(model.get_weights())
    np.testing.assert_allclose(clone.predict(x), y, rtol=1e-6)


def test_sequential_without_input_shape_builds_on_first_data():
    model = keras.Sequential([layers.Dense(2, name="late")])
    assert not model.built
    out = model.predict(np.ones((3, 5), dtype=np.float32))
    assert out.shape == (3, 2) and model.get_layer("late").kernel.shape == (5, 2)


class Scale(layers.Layer):
    """A user's custom layer: build with add_weight, call with ops; no gradient written."""

    def __init__(self, units=2, **kwargs):
        super().__init__(**kwargs)
        self.units = units

    def build(self, input_shape):
        self.w = self.add_weight("w", (input_shape[-1], self.units), initializer="ones")
        self.s = self.add_weight("s", (self.units,), initializer="ones")

    def call(self, inputs):
        return ops.tanh(ops.matmul(inputs, self.w) * self.s)

    def get_config(self):
        return dict(super().get_config(), units=self.units)


def test_custom_layer_trains_through_the_ops():
    keras.utils.set_random_seed(1)
    inputs = keras.Input(shape=(3,))
    layer = Scale(2, name="scale")
    outputs = layer(inputs)
    assert outputs.shape == (None, 2)
    model = keras.Model(inputs, outputs)
    x = np.random.default_rng(0).normal(size=(16, 3)).astype("float32")
    y = np.tanh(x @ np.array([[0.5, -1], [1, 0.2], [-0.3, 0.7]], dtype="float32"))
    with keras.autodiff.Tape() as tape:
        loss = ops.mean(ops.square(model(x) - y))
    grads = tape.gradient(loss, layer.trainable_weights)
    # central differences on the first weight
    eps, w = 1e-3, layer.w.value
    fd = np.zeros_like(w)
    for idx in np.ndindex(w.shape):
        old = w[idx]
        w[idx] = old + eps
        up = np.mean((model.predict(x) - y) ** 2)
        w[idx] = old - eps
        down = np.mean((model.predict(x) - y) ** 2)
        w[idx] = old
        fd[idx] = (up - down) / (2 * eps)
    np.testing.assert_allclose(grads[0], fd, rtol=2e-2, atol=1e-4)
    model.compile(optimizer=keras.optimizers.Adam(0.05), loss="mse")
    before = model.evaluate(x, y, verbose=0)
    model.fit(x, y, epochs=150, batch_size=16, verbose=0)
    assert model.evaluate(x, y, verbose=0) < 0.2 * before
    clone = keras.Model.from_config(model.get_config(), custom_objects={"Scale": Scale})
    assert isinstance(clone.layers[1], Scale) and clone.layers[1].units == 2
    with pytest.raises(ValueError, match="custom_objects"):
        keras.Model.from_config(model.get_config())
