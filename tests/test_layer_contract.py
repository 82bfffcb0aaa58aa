"""Keras's Layer and Model contract, as the keras.io guides use it (making new layers and models via
subclassing, the functional API, training with built-in methods), with only the imports changed."""
import numpy as np
import pytest

import minigraph as keras
from minigraph import layers, ops


class Linear(layers.Layer):
    def __init__(self, units=32, input_dim=32):
        super().__init__()
        self.w = self.add_weight(shape=(input_dim, units), initializer="glorot_uniform", trainable=True)
        self.b = self.add_weight(shape=(units,), initializer="zeros", trainable=True)

    def call(self, inputs):
        return ops.matmul(inputs, self.w) + self.b


class LazyLinear(layers.Layer):
    def __init__(self, units=32, **kwargs):
        super().__init__(**kwargs)
        self.units = units

    def build(self, input_shape):
        self.w = self.add_weight(shape=(input_shape[-1], self.units), initializer="glorot_uniform")
        self.b = self.add_weight(shape=(self.units,), initializer="zeros")

    def call(self, inputs):
        return ops.matmul(inputs, self.w) + self.b

    def get_config(self):
        return {**super().get_config(), "units": self.units}


def test_a_custom_layer_computes_and_tracks_its_weights():
    x = np.ones((2, 2), "float32")
    layer = Linear(4, 2)
    y = layer(x)
    w, b = layer.get_weights()
    np.testing.assert_allclose(y, x @ w + b, rtol=1e-6)
    assert layer.weights == [layer.w, layer.b]
    assert layer.trainable_weights == [layer.w, layer.b] and layer.non_trainable_weights == []


def test_non_trainable_weights_and_variable_updates():
    class ComputeSum(layers.Layer):
        def __init__(self, input_dim):
            super().__init__()
            self.total = self.add_weight(initializer="zeros", shape=(input_dim,), trainable=False)

        def call(self, inputs):
            self.total.assign_add(np.sum(inputs, axis=0))
            return self.total

    layer = ComputeSum(2)
    layer(np.ones((2, 2)))
    np.testing.assert_array_equal(np.asarray(layer(np.ones((2, 2)))), [4.0, 4.0])
    assert (len(layer.weights), len(layer.non_trainable_weights), len(layer.trainable_weights)) == (1, 1, 0)


def test_add_weight_takes_keras_2_and_3_argument_orders_and_refuses_unknown_ones():
    layer = layers.Layer(name="holder")
    k2 = layer.add_weight("kernel", (2, 3))
    k3 = layer.add_weight((4,), "ones", "float64", False)
    assert k2.name == "holder/kernel:0" and k2.shape == (2, 3) and k2.trainable
    assert k3.dtype == np.float64 and not k3.trainable and np.all(k3.numpy() == 1)
    ints = layer.add_weight(shape=(2,), dtype="int32")
    assert ints.dtype == np.int32 and np.all(ints.numpy() == 0)  # zeros: the default for non-floats
    assert layer.add_weight(shape=()).name == "holder/variable_2:0"  # after k3 and ints: generated names
    with pytest.raises(TypeError, match="unknown keyword argument.*'bogus'"):
        layer.add_weight(shape=(2,), bogus=1)


def test_keras_variable_api():
    v = keras.Variable(np.zeros((2,)), name="v")
    v.assign([1.0, 2.0])
    v.assign_add([1.0, 1.0])
    v.assign_sub([0.5, 0.5])
    np.testing.assert_array_equal(v.numpy(), [1.5, 2.5])
    assert v.shape == (2,) and v.trainable
    w = keras.Variable(keras.initializers.get("ones"), shape=(3,), dtype="float32", trainable=False)
    assert w.dtype == np.float32 and not w.trainable and np.all(w.value == 1)
    assert keras.Variable(3.0).dtype == np.float32  # Python floats become floatx
    with pytest.raises(ValueError, match="shape"):
        keras.Variable(np.zeros(3), shape=(4,))


def test_lazy_build_and_nested_layers_give_keras_weight_order():
    class MLPBlock(layers.Layer):
        def __init__(self):
            super().__init__()
            self.linear_1 = LazyLinear(32)
            self.linear_2 = LazyLinear(32)
            self.linear_3 = LazyLinear(1)

        def call(self, inputs):
            x = ops.relu(self.linear_1(inputs))
            x = ops.relu(self.linear_2(x))
            return self.linear_3(x)

    mlp = MLPBlock()
    y = mlp(np.ones((3, 64), "float32"))
    assert y.shape == (3, 1)
    assert [w.shape for w in mlp.weights] == [(64, 32), (32,), (32, 32), (32,), (32, 1), (1,)]
    assert mlp.submodules == [mlp.linear_1, mlp.linear_2, mlp.linear_3]


def test_lists_and_dicts_of_layers_are_tracked_and_trainable_false_freezes_inside():
    class Stack(layers.Layer):
        def __init__(self):
            super().__init__()
            self.blocks = []
            self.heads = {"a": layers.Dense(2)}

        def call(self, x):
            for block in self.blocks:
                x = block(x)
            return self.heads["a"](x)

    stack = Stack()
    stack.blocks.append(layers.Dense(3))
    stack.blocks.append(layers.Dense(4))
    stack(np.ones((1, 5), "float32"))
    assert [w.shape for w in stack.weights] == [(5, 3), (3,), (3, 4), (4,), (4, 2), (2,)]
    stack.trainable = False
    assert stack.trainable_weights == [] and len(stack.non_trainable_weights) == 6
    assert not stack.blocks[0].trainable and not stack.heads["a"].trainable
    stack.trainable = True
    assert len(stack.trainable_weights) == 6



class Holder(layers.Layer):
    def __init__(self):
        super().__init__()
        self.blocks = [layers.Dense(2)]
        self.named = {}
        self.pairs = ([layers.Dense(3)],)


def test_a_sequential_models_adds_and_pops_reach_the_cached_layer_walk():
    """Sequential keeps its layers in a list of its own: before the model is built (no graph to rebuild) and
    after it, add and pop must still move the cached walk."""
    model = keras.Sequential()
    walk = lambda: [type(layer).__name__ for layer in model._flatten_layers(include_self=False)]
    assert walk() == []
    model.add(layers.Dense(3))
    assert walk() == ["Dense"]
    model.build((None, 4))
    model.add(layers.Dropout(0.5))
    assert walk() == ["Dense", "Dropout"]
    model.pop()
    assert walk() == ["Dense"] and len(model.trainable_weights) == 2


def test_changes_to_held_lists_and_dicts_reach_the_cached_sublayer_walk():
    import copy
    import pickle

    holder = Holder()
    names = lambda layer: [sub.name for sub in layer._flatten_layers(include_self=False)]
    first = names(holder)
    assert len(first) == 2  # the walk is cached from here on
    holder.blocks.append(layers.Dense(4))
    holder.named["x"] = layers.Dense(5)
    holder.pairs[0].insert(0, layers.Dense(6))
    assert len(names(holder)) == 5
    del holder.named["x"]
    holder.blocks[0] = layers.Dense(7)
    holder.blocks.pop()
    after = names(holder)
    assert len(after) == 3 and first[0] not in after
    assert type(holder.blocks) is not list and isinstance(holder.blocks, list)
    for clone in (copy.deepcopy(holder), pickle.loads(pickle.dumps(holder))):
        assert [type(s).__name__ for s in clone._flatten_layers()] == ["Holder", "Dense", "Dense", "Dense"]
        assert all(a is not b for a, b in zip(clone._flatten_layers(), holder._flatten_layers()))
        clone.blocks.append(layers.Dense(8))
        assert len(names(clone)) == 4 and len(names(holder)) == 3

class ActivityRegularization(layers.Layer):
    def __init__(self, rate=1e-2):
        super().__init__()
        self.rate = rate

    def call(self, inputs):
        self.add_loss(self.rate * ops.sum(inputs))
        return inputs


def test_add_loss_is_collected_recursively_and_reset_at_each_call():
    class Outer(layers.Layer):
        def __init__(self):
            super().__init__()
            self.activity_reg = ActivityRegularization(1e-2)

        def call(self, inputs):
            return self.activity_reg(inputs)

    layer = Outer()
    assert layer.losses == []
    layer(np.full((1, 1), 3.0, "float32"))
    np.testing.assert_allclose(layer.losses, [0.03], rtol=1e-6)
    layer(np.full((1, 1), 5.0, "float32"))
    np.testing.assert_allclose(layer.losses, [0.05], rtol=1e-6)  # the first call's loss is gone


def test_a_loss_added_in_call_trains_with_compile_without_a_loss():
    # the only loss is 0.5 * sum(x @ w): SGD(lr) moves w by -lr * 0.5 * sum over the batch of x
    inputs = keras.Input((3,))
    dense = layers.Dense(1, use_bias=False, kernel_initializer="ones")
    outputs = ActivityRegularization(0.5)(dense(inputs))
    model = keras.Model(inputs, outputs)
    model.compile(optimizer=keras.optimizers.SGD(0.1))
    x = np.arange(6, dtype="float32").reshape(2, 3)
    logs = model.fit(x, batch_size=2, epochs=1, verbose=0).history
    np.testing.assert_allclose(logs["loss"], [0.5 * x.sum()], rtol=1e-6)
    np.testing.assert_allclose(dense.kernel.value[:, 0], 1 - 0.1 * 0.5 * x.sum(axis=0), rtol=1e-6)
    with_loss = keras.Model(inputs, dense(inputs))
    with_loss.compile("sgd", "mse")
    with pytest.raises(ValueError, match="y .* is required"):
        with_loss.fit(x, verbose=0)


def test_the_loss_of_a_layer_with_two_tensor_arguments_in_a_functional_model():
    class Endpoint(layers.Layer):
        def call(self, targets, logits):
            self.add_loss(ops.mean(ops.square(targets - logits)))
            return ops.softmax(logits)

    inputs = keras.Input(shape=(3,), name="inputs")
    targets = keras.Input(shape=(2,), name="targets")
    logits = layers.Dense(2, kernel_initializer="zeros", bias_initializer="zeros")(inputs)
    predictions = Endpoint(name="predictions")(targets, logits)
    model = keras.Model(inputs=[inputs, targets], outputs=predictions)
    model.compile(optimizer="adam")
    data = {"inputs": np.ones((4, 3)), "targets": np.full((4, 2), 2.0)}
    np.testing.assert_allclose(model.evaluate(data, verbose=0), 4.0)  # zero logits: mean((2 - 0) ** 2)
    assert model.get_config()["layers"][-1]["inbound_nodes"] == [
        [["targets", 0, 0, {"logits": [model.layers[2].name, 0, 0]}]]]
    clone = keras.Model.from_config(model.get_config(), custom_objects={"Endpoint": Endpoint})
    clone.set_weights(model.get_weights())
    clone.compile(optimizer="adam")
    np.testing.assert_allclose(clone.evaluate(data, verbose=0), 4.0)


def test_keyword_tensor_arguments_work_eagerly_and_in_a_graph():
    class Attend(layers.Layer):
        def call(self, query, value, mask=None):
            scores = ops.matmul(query, ops.transpose(value, (0, 2, 1)))
            if mask is not None:
                scores = scores + (1.0 - mask[:, None, :]) * -1e9
            return ops.matmul(ops.softmax(scores), value)

    rng = np.random.default_rng(0)
    q, v = rng.standard_normal((2, 3, 4)).astype("float32"), rng.standard_normal((2, 5, 4)).astype("float32")
    eager = Attend()(q, value=v)
    qi, vi = keras.Input((3, 4)), keras.Input((5, 4))
    model = keras.Model([qi, vi], Attend()(qi, value=vi))
    np.testing.assert_allclose(model.predict([q, v], verbose=0), eager, rtol=1e-5)
    scores = q @ v.transpose(0, 2, 1)
    weights = np.exp(scores - scores.max(-1, keepdims=True))
    weights /= weights.sum(-1, keepdims=True)
    np.testing.assert_allclose(eager, weights @ v, rtol=1e-5)


def test_training_reaches_call_from_the_outer_call():
    seen = []

    class Probe(layers.Layer):
        def call(self, inputs, training=None):
            seen.append(training)
            return inputs

    inputs = keras.Input((2,))
    x = Probe()(inputs)
    x = layers.Dense(1)(x)
    y = Probe()(x, training=False)  # given at the call: it wins over the outer flag
    model = keras.Model(inputs, y)
    model.compile("sgd", "mse")
    data, target = np.ones((2, 2)), np.ones((2, 1))
    seen.clear()
    model.fit(data, target, verbose=0)
    assert seen == [True, False]
    seen.clear()
    model.predict(data, verbose=0)
    model.evaluate(data, target, verbose=0)
    model(data)
    model(data, training=True)
    assert seen == [False, False, False, False, False, False, True, False]


def test_dropout_follows_the_training_flag():
    model = keras.Sequential([keras.Input((1000,)), layers.Dropout(0.5)])
    x = np.ones((1, 1000), "float32")
    np.testing.assert_array_equal(model(x), x)
    out = np.asarray(model(x, training=True))
    assert set(np.unique(out)) <= {0.0, 2.0} and 300 < np.count_nonzero(out) < 700


class TwoLayerModel(keras.Model):
    def __init__(self, classes=5, **kwargs):
        super().__init__(**kwargs)
        self.classes = classes
        self.dense1 = layers.Dense(8, activation="relu")
        self.dense2 = layers.Dense(classes, activation="softmax")

    def call(self, inputs, training=None):
        return self.dense2(self.dense1(inputs))

    def get_config(self):
        return {"classes": self.classes, "name": self.name}


def test_a_subclassed_model_trains_evaluates_predicts_and_matches_its_functional_twin(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((32, 4)).astype("float32")
    y = rng.integers(0, 5, 32)
    model = TwoLayerModel()
    with pytest.raises(ValueError, match="has not yet been built"):
        model.summary()
    model.build((None, 4))
    assert [w.shape for w in model.weights] == [(4, 8), (8,), (8, 5), (5,)]
    inputs = keras.Input((4,))
    twin = keras.Model(inputs, layers.Dense(5, activation="softmax")(layers.Dense(8, activation="relu")(inputs)))
    twin.set_weights(model.get_weights())
    for m in (model, twin):
        m.compile(optimizer=keras.optimizers.SGD(0.1), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    h1 = model.fit(x, y, batch_size=8, epochs=2, shuffle=False, verbose=0).history
    h2 = twin.fit(x, y, batch_size=8, epochs=2, shuffle=False, verbose=0).history
    np.testing.assert_allclose(h1["loss"], h2["loss"], rtol=1e-6)
    np.testing.assert_allclose(h1["accuracy"], h2["accuracy"])
    np.testing.assert_allclose(model.predict(x, verbose=0), twin.predict(x, verbose=0), rtol=1e-6)
    np.testing.assert_allclose(model.evaluate(x, y, verbose=0), twin.evaluate(x, y, verbose=0), rtol=1e-6)
    logs = model.train_on_batch(x[:4], y[:4], return_dict=True)
    assert set(logs) == {"loss", "accuracy"}
    assert model.predict_on_batch(x[:3]).shape == (3, 5)
    lines = []
    model.summary(print_fn=lines.append)
    assert any("dense" in line and "multiple" in line for line in lines) and "Total params: 85" in lines[-4]
    clone = TwoLayerModel.from_config(model.get_config())
    assert clone.classes == 5


def test_subclassed_models_take_lists_and_dicts_and_report_per_output_losses():
    class TwoHeads(keras.Model):
        def __init__(self):
            super().__init__()
            self.a = layers.Dense(1, kernel_initializer="ones", use_bias=False)
            self.b = layers.Dense(1, kernel_initializer="zeros", use_bias=False)

        def call(self, inputs):
            return self.a(inputs["left"]), self.b(inputs["right"])

    model = TwoHeads()
    model.compile("sgd", loss=["mse", "mae"])
    data = {"left": np.ones((2, 3)), "right": np.ones((2, 3))}
    logs = model.evaluate(data, [np.zeros((2, 1)), np.ones((2, 1))], return_dict=True, verbose=0)
    assert logs == {"loss": pytest.approx(10.0), "output_1_loss": pytest.approx(9.0),
                    "output_2_loss": pytest.approx(1.0)}


def test_models_nest_in_every_direction():
    inputs = keras.Input((4,))
    functional = keras.Model(inputs, layers.Dense(3)(inputs))
    seq = keras.Sequential([functional, layers.Dense(2)])  # Sequential holding a functional model
    x = np.random.default_rng(0).standard_normal((5, 4)).astype("float32")
    out = seq.predict(x, verbose=0)
    w1, b1, w2, b2 = seq.get_weights()
    np.testing.assert_allclose(out, (x @ w1 + b1) @ w2 + b2, rtol=1e-5, atol=1e-6)

    class Holder(layers.Layer):  # a layer holding a model
        def __init__(self):
            super().__init__()
            self.inner = keras.Sequential([layers.Dense(3), layers.Dense(1)])

        def call(self, x):
            return self.inner(x)

    inputs = keras.Input((5,))
    holder = Holder()
    model = keras.Model(inputs, holder(inputs))
    model.compile("sgd", "mse")
    model.fit(np.ones((4, 5)), np.ones((4, 1)), verbose=0)
    assert len(model.trainable_weights) == 4

    class Wrapper(keras.Model):  # a subclassed model holding a Sequential
        def __init__(self):
            super().__init__()
            self.body = keras.Sequential([layers.Dense(2)])

        def call(self, x):
            return self.body(x)

    wrapper = Wrapper()
    y = wrapper(np.ones((2, 3), "float32"))
    w, b = wrapper.get_weights()
    np.testing.assert_allclose(y, np.ones((2, 3)) @ w + b, rtol=1e-6)
    assert wrapper.layers == [wrapper.body]


def test_model_add_loss_and_add_metric_on_symbolic_tensors():
    inputs = keras.Input((2,))
    hidden = layers.Dense(2, kernel_initializer="ones", use_bias=False)(inputs)
    outputs = layers.Dense(1, kernel_initializer="ones", use_bias=False)(hidden)
    model = keras.Model(inputs, outputs)
    model.add_loss(layers.GlobalAveragePooling1D()(layers.Reshape((2, 1))(hidden)))
    model.add_metric(outputs, name="mean_output")
    model.compile("sgd", "mse")
    x = np.ones((3, 2))
    logs = model.evaluate(x, np.zeros((3, 1)), return_dict=True, verbose=0)
    # hidden = [2, 2], output = 4: mse 16, plus the added mean(hidden) over the batch = 2 each
    assert logs["mean_output"] == pytest.approx(4.0)
    assert logs["loss"] == pytest.approx(16.0 + 2.0 * 3)


def test_add_metric_inside_call_shows_in_history():
    class Tracked(layers.Layer):
        def call(self, inputs):
            self.add_metric(ops.mean(inputs), name="mean_in")
            return inputs

    inputs = keras.Input((1,))
    model = keras.Model(inputs, layers.Dense(1)(Tracked()(inputs)))
    model.compile("sgd", "mse")
    x = np.array([[1.0], [3.0], [5.0], [7.0]])
    history = model.fit(x, x, batch_size=2, shuffle=False, epochs=2, verbose=0).history
    assert history["mean_in"] == [pytest.approx(4.0)] * 2  # the mean of the batch means 2 and 6


def test_unknown_arguments_are_refused():
    inputs = keras.Input((2,))
    model = keras.Model(inputs, layers.Dense(1)(inputs))
    model.compile("sgd", "mse")
    x, y = np.ones((2, 2)), np.ones((2, 1))
    for call in (lambda: model.fit(x, y, bogus=1), lambda: model.evaluate(x, y, bogus=1),
                 lambda: model.predict(x, bogus=1), lambda: model.compile("sgd", "mse", bogus=1),
                 lambda: model.train_on_batch(x, y, bogus=1), lambda: model.test_on_batch(x, y, bogus=1)):
        with pytest.raises(TypeError, match="bogus"):
            call()
    with pytest.raises(ValueError, match="class_weight covers classes 0 to 0, but the targets hold class 1"):
        model.fit(x, y, class_weight={0: 1.0}, verbose=0)


def test_custom_layer_config_round_trips_with_custom_objects(tmp_path):
    inputs = keras.Input((4,))
    outputs = LazyLinear(3, name="lazy")(inputs)
    model = keras.Model(inputs, outputs)
    config = model.get_config()
    clone = keras.Model.from_config(config, custom_objects={"LazyLinear": LazyLinear})
    assert clone.get_layer("lazy").units == 3
    path = str(tmp_path / "m.h5")
    model.save(path)
    loaded = keras.models.load_model(path, custom_objects={"LazyLinear": LazyLinear})
    x = np.ones((2, 4), "float32")
    np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0))


def test_evaluate_and_train_compute_a_softmax_crossentropy_from_the_same_logits():
    # saturated softmax: the clipped probabilities would give about 16.1; the logits give the exact loss
    inputs = keras.Input((3,))
    dense = layers.Dense(4, activation="softmax", use_bias=False)
    model = keras.Model(inputs, dense(inputs))
    kernel = np.zeros((3, 4), "float32")
    kernel[0, 0] = kernel[1, 1] = 2.0
    dense.kernel.assign(kernel)
    model.compile(keras.optimizers.SGD(0.0), "categorical_crossentropy")
    x = np.array([[30.0, 0, 0], [0, 40, 0]], "float32")
    y = np.array([[0, 1, 0, 0], [1, 0, 0, 0]], "float32")
    logits = x @ kernel
    expected = np.mean([np.log(np.exp(row).sum()) - row[np.argmax(t)] for row, t in zip(logits, y)])
    assert model.train_on_batch(x, y) == pytest.approx(expected, rel=1e-5)
    assert model.test_on_batch(x, y) == pytest.approx(expected, rel=1e-5)
    assert model.evaluate(x, y, verbose=0) == pytest.approx(expected, rel=1e-5)


def test_ops_on_symbolic_tensors_build_graph_nodes_that_train_and_serialise(tmp_path):
    import json
    inputs = keras.Input((4,))
    hidden = layers.Dense(3)(inputs)
    y = ops.relu(hidden) * 2.0 + 1.0
    outputs = ops.concatenate([y[:, :2], ops.mean(hidden, axis=-1, keepdims=True)], axis=-1)
    model = keras.Model(inputs, outputs)
    x = np.random.default_rng(0).standard_normal((5, 4)).astype("float32")
    kernel, bias = model.layers[1].get_weights()
    h = x @ kernel + bias
    expected = np.concatenate([(np.maximum(h, 0) * 2 + 1)[:, :2], h.mean(-1, keepdims=True)], -1)
    np.testing.assert_allclose(model.predict(x, verbose=0), expected, rtol=1e-5, atol=1e-6)
    assert [type(layer).__name__ for layer in model.layers[2:]] == ["OpLambda"] * 6
    clone = keras.Model.from_config(json.loads(json.dumps(model.get_config())))
    clone.set_weights(model.get_weights())
    np.testing.assert_allclose(clone.predict(x, verbose=0), expected, rtol=1e-5, atol=1e-6)
    path = str(tmp_path / "ops.h5")
    model.save(path)
    np.testing.assert_allclose(keras.models.load_model(path).predict(x, verbose=0), expected, rtol=1e-5,
                               atol=1e-6)
    model.compile(keras.optimizers.SGD(0.1), "mse")
    before = model.layers[1].kernel.numpy().copy()
    model.train_on_batch(x, np.zeros((5, 3)))
    assert not np.array_equal(before, model.layers[1].kernel.numpy())


def test_model_weights_go_layer_by_layer_as_keras():
    inputs = keras.Input((4, 4, 2))
    x = layers.Conv2D(3, 3)(inputs)
    x = layers.BatchNormalization()(x)
    outputs = layers.Dense(2)(layers.Flatten()(x))
    model = keras.Model(inputs, outputs)
    names = [w.name.split("/")[-1] for w in model.weights]
    assert names == ["kernel:0", "bias:0", "gamma:0", "beta:0", "moving_mean:0", "moving_variance:0",
                     "kernel:0", "bias:0"]
    assert [w.name for w in model.trainable_weights][2:4] == [model.layers[2].gamma.name, model.layers[2].beta.name]
    model.set_weights(model.get_weights())


@pytest.mark.parametrize("suffix", ["weights.h5", "h5"])
def test_a_subclassed_model_saves_and_loads_its_weights(tmp_path, suffix):
    x = np.random.default_rng(3).standard_normal((4, 4)).astype("float32")
    model = TwoLayerModel()
    expected = model.predict(x, verbose=0)
    path = str(tmp_path / f"two.{suffix}")
    model.save_weights(path)
    other = TwoLayerModel()
    other.build((None, 4))
    other.load_weights(path)
    np.testing.assert_allclose(other.predict(x, verbose=0), expected, rtol=1e-6)


def test_saving_a_subclassed_model_without_a_config_is_a_clear_error(tmp_path):
    class NoConfig(keras.Model):
        def __init__(self):
            super().__init__()
            self.dense = layers.Dense(2)

        def call(self, inputs):
            return self.dense(inputs)

    model = NoConfig()
    model(np.ones((1, 3), "float32"))
    with pytest.raises(NotImplementedError, match="subclassed"):
        model.save(str(tmp_path / "m.h5"))
