"""The save/load API: format by suffix, unknown arguments, custom objects, the state hooks, Keras 3's
`.weights.h5` layout (against files Keras 3.15.1 wrote), and the import structure of saving."""
import ast
import os
import warnings
import zipfile

import h5py
import numpy as np
import pytest

import minigraph as keras
from minigraph import layers
from minigraph.saving import weights
from test_saving import autoencoder, mlp, nested_autoencoder, shared_layers

KERAS3 = os.path.join(os.path.dirname(__file__), "data", "keras3")
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def keras3_data(name):
    return np.load(os.path.join(KERAS3, f"{name}.npz"))


def keras3_weights_file(tmp_path, name):
    """The model.weights.h5 inside the .keras file Keras 3 wrote."""
    with zipfile.ZipFile(os.path.join(KERAS3, f"{name}.keras")) as archive:
        path = tmp_path / f"{name}.weights.h5"
        path.write_bytes(archive.read("model.weights.h5"))
    return path


def visit(path):
    """{dataset path: array} and {group path: attrs} of an HDF5 file."""
    datasets, groups = {}, {}
    with h5py.File(path, "r") as f:
        groups[""] = dict(f.attrs)

        def record(name, obj):
            if isinstance(obj, h5py.Dataset):
                datasets[name] = np.asarray(obj)
            else:
                groups[name] = {k: (v.decode() if isinstance(v, bytes) else v) for k, v in obj.attrs.items()}
        f.visititems(record)
    return datasets, groups


# ------------------------------------------------------------------------------------------------ hooks
def test_layer_hooks_write_and_read_keys_in_creation_order():
    layer = layers.Dense(3, name="d")
    layer(np.zeros((1, 2), np.float32))
    store = {}
    layer.save_own_variables(store)
    assert list(store) == ["0", "1"]
    assert store["0"] is layer.kernel and store["1"] is layer.bias
    new = {"0": np.full((2, 3), 2.0), "1": np.arange(3.0)}
    layer.load_own_variables(new)
    np.testing.assert_array_equal(layer.kernel.value, np.full((2, 3), 2.0, np.float32))
    np.testing.assert_array_equal(layer.bias.value, [0, 1, 2])
    with pytest.raises(ValueError, match=r"Layer 'd' expected 2 variables, but received 1 variables"):
        layer.load_own_variables({"0": np.zeros((2, 3))})


def test_frozen_layer_keeps_its_key_order():
    layer = layers.Dense(3, name="frozen")
    layer(np.zeros((1, 2), np.float32))
    layer.trainable = False
    store = {}
    layer.save_own_variables(store)
    assert [v.name for v in store.values()] == ["frozen/kernel:0", "frozen/bias:0"]


def test_optimizer_hooks_follow_keras3_order():
    model = mlp()
    model.compile(keras.optimizers.Adam(0.01), "sparse_categorical_crossentropy")
    x, y = np.random.default_rng(0).random((8, 784), np.float32), np.arange(8) % 10
    model.train_on_batch(x, y)
    store = {}
    model.optimizer.save_own_variables(store)
    assert len(store) == 2 + 2 * 6
    assert int(store["0"].value) == 1
    assert np.float32(store["1"].value) == np.float32(0.01)
    assert store["2"] is model.optimizer.variables[1]  # m of the first kernel, then its v
    assert store["3"] is model.optimizer.variables[2]
    state = {k: np.array(v.value) for k, v in store.items()}
    state["1"] = np.float32(0.5)
    fresh = mlp()
    fresh.compile(keras.optimizers.Adam(0.01), "sparse_categorical_crossentropy")
    fresh.optimizer.build(fresh.trainable_weights)
    fresh.optimizer.load_own_variables(state)
    assert fresh.optimizer.iterations == 1 and fresh.optimizer.learning_rate == np.float32(0.5)
    for a, b in zip(fresh.optimizer.get_weights(), model.optimizer.get_weights()):
        np.testing.assert_array_equal(a, b)
    unbuilt = keras.optimizers.Adam()
    with pytest.warns(UserWarning, match="has 2 variables whereas the saved optimizer has 14 variables. This is "
                                         "likely because the optimizer has not been called/built yet"):
        unbuilt.load_own_variables(state)
    assert unbuilt.iterations == 0


def test_keras2_files_go_through_the_hooks(tmp_path, monkeypatch):
    """Saving and loading a .h5 calls every layer's hooks (a layer overriding them sees them called)."""
    model = nested_autoencoder()
    calls = []
    for cls in (layers.Conv2D, layers.Conv2DTranspose):
        for hook in ("save_own_variables", "load_own_variables"):
            original = getattr(cls, hook)

            def spy(self, store, original=original, hook=hook):
                calls.append((hook, self.name))
                return original(self, store)
            monkeypatch.setattr(cls, hook, spy)
    model.save(tmp_path / "m.h5")
    saved = [name for hook, name in calls if hook == "save_own_variables"]
    assert set(saved) == {"conv2d", "conv2d_1", "conv2d_2", "conv2d_3", "conv2d_transpose", "conv2d_transpose_1",
                          "conv2d_transpose_2", "conv2d_transpose_3"}
    calls.clear()
    monkeypatch.undo()
    loaded = keras.models.load_model(tmp_path / "m.h5", compile=False)
    for a, b in zip(loaded.get_weights(), model.get_weights()):
        np.testing.assert_array_equal(a, b)


# ------------------------------------------------------------------------------------------------ the API
def test_unknown_keywords_are_refused(tmp_path):
    model = mlp()
    with pytest.raises(TypeError, match=r"save_model\(\) got unexpected keyword argument\(s\) \['compresion'\]"):
        model.save(tmp_path / "m.h5", compresion=True)
    with pytest.raises(TypeError, match=r"save_weights\(\) .*\['format'\]"):
        model.save_weights(tmp_path / "w.h5", format="h5")
    model.save(tmp_path / "m.h5")
    with pytest.raises(TypeError, match=r"load_model\(\) .*\['custom_object'\]"):
        keras.models.load_model(tmp_path / "m.h5", custom_object={})
    with pytest.raises(TypeError, match=r"load_weights\(\) .*\['skip'\]"):
        model.load_weights(tmp_path / "m.h5", skip=True)
    assert sorted(os.listdir(tmp_path)) == ["m.h5"]


def test_other_suffixes_write_keras2_hdf5_with_a_warning(tmp_path):
    model = mlp()
    with pytest.warns(UserWarning, match=r"ends in neither '.keras' nor '.h5'.*'\*.keras'.*'\*.h5'"):
        model.save(tmp_path / "model.bin")
    assert h5py.is_hdf5(tmp_path / "model.bin")
    loaded = keras.models.load_model(tmp_path / "model.bin")
    for a, b in zip(loaded.get_weights(), model.get_weights()):
        np.testing.assert_array_equal(a, b)
    with pytest.warns(UserWarning, match=r"'\*.weights.h5' for Keras 3's weights layout"):
        model.save_weights(tmp_path / "weights.ckpt")
    with h5py.File(tmp_path / "weights.ckpt", "r") as f:
        assert "layer_names" in f.attrs
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        model.save(tmp_path / "m.h5")
        model.save(tmp_path / "m.hdf5")
        model.save_weights(tmp_path / "w.h5")
        model.save(tmp_path / "explicit.bin", save_format="h5")


def test_save_format_tf_and_weights_to_keras_are_refused(tmp_path):
    model = mlp()
    with pytest.raises(ValueError, match="SavedModel format"):
        model.save(tmp_path / "m", save_format="tf")
    with pytest.raises(ValueError, match=r"'\*.weights.h5'"):
        model.save_weights(tmp_path / "m.keras")
    assert os.listdir(tmp_path) == []


def test_subclassed_model_without_config_cannot_be_saved_whole(tmp_path):
    class Custom(keras.Model):
        _is_graph_network = False

        def __init__(self):
            super().__init__(name="custom")

    with pytest.raises(NotImplementedError, match="requires the model to be a Functional model or a Sequential "
                                                  "model. It does not work for subclassed models"):
        Custom().save(tmp_path / "m.h5")
    with pytest.raises(NotImplementedError, match="Saving the model to Keras 3's .keras format requires"):
        Custom().save(tmp_path / "m.keras")
    assert os.listdir(tmp_path) == []


# ------------------------------------------------------------------------------------------------ custom objects
class Scaled(layers.Layer):
    def __init__(self, factor=2.0, **kwargs):
        super().__init__(**kwargs)
        self.factor = factor

    def call(self, inputs):
        return inputs * self.factor

    def get_config(self):
        return {**super().get_config(), "factor": self.factor}


def scaled_model():
    inputs = keras.Input(shape=(3,), name="x")
    return keras.Model(inputs, Scaled(3.0, name="scaled")(layers.Dense(2, name="d")(inputs)), name="m")


def test_custom_object_scope_and_custom_objects(tmp_path):
    model = scaled_model()
    model.save(tmp_path / "m.h5")
    x = np.ones((2, 3), np.float32)
    with pytest.raises(ValueError, match="Unknown layer class 'Scaled'"):
        keras.models.load_model(tmp_path / "m.h5")
    with keras.utils.custom_object_scope({"Scaled": Scaled}):
        loaded = keras.models.load_model(tmp_path / "m.h5")
    np.testing.assert_allclose(loaded.predict(x), model.predict(x))
    assert loaded.get_layer("scaled").factor == 3.0
    with keras.saving.custom_object_scope({"Scaled": Scaled}):
        assert keras.models.model_from_json(model.to_json()).get_layer("scaled").factor == 3.0
    with pytest.raises(ValueError, match="Unknown layer class 'Scaled'"):  # the scope has ended
        keras.models.model_from_json(model.to_json())
    assert keras.models.load_model(tmp_path / "m.h5", custom_objects={"Scaled": Scaled}).get_layer("scaled")


def test_register_keras_serializable(tmp_path):
    @keras.saving.register_keras_serializable(package="Tests", name="Doubler")
    class Doubler(layers.Layer):
        def call(self, inputs):
            return inputs * 2

    try:
        assert keras.saving.get_registered_name(Doubler) == "Tests>Doubler"
        assert keras.saving.get_custom_objects()["Tests>Doubler"] is Doubler
        config = keras.layers.serialize(Doubler(name="dbl"))
        assert config["class_name"] == "Tests>Doubler" and config["config"]["name"] == "dbl"
        layer = keras.layers.deserialize(config)
        assert isinstance(layer, Doubler) and layer.name == "dbl"
        inputs = keras.Input(shape=(2,))
        model = keras.Model(inputs, Doubler(name="dbl2")(inputs))
        model.save(tmp_path / "m.h5")
        loaded = keras.models.load_model(tmp_path / "m.h5")
        np.testing.assert_array_equal(loaded.predict(np.ones((1, 2))), [[2, 2]])
    finally:
        keras.saving.get_custom_objects().pop("Tests>Doubler", None)


def test_layers_serialize_round_trip():
    dense = layers.Dense(4, activation="relu", name="dd")
    config = keras.layers.serialize(dense)
    assert config == {"class_name": "Dense", "config": dense.get_config()}
    again = keras.layers.deserialize(config)
    assert type(again) is layers.Dense and again.get_config() == dense.get_config()


# ------------------------------------------------------------------------------------------------ Keras 3 weights
@pytest.mark.parametrize("name,build", [("mnist_model", mlp), ("autoencoder", autoencoder)])
def test_reads_keras3_weights_file(tmp_path, name, build):
    data = keras3_data(name)
    model = build()
    model.compile(keras.optimizers.Adam(0.01), "mse")
    model.load_weights(keras3_weights_file(tmp_path, name))
    for i, w in enumerate(model.get_weights()):
        np.testing.assert_array_equal(w, data[f"w_{i}"])
    np.testing.assert_allclose(model.predict(data["x0"]), data["pred0"], rtol=1e-5, atol=1e-6)
    # the optimizer's state came too: iteration, then m and v per variable
    opt = model.optimizer
    assert opt.iterations == int(data["opt_0"]) == 4
    state = weights.own_variables(opt)
    for i in range(int(data["n_weights"]) * 2 + 2):
        np.testing.assert_array_equal(np.asarray(state[i].value), data[f"opt_{i}"])


@pytest.mark.parametrize("name,build", [("mnist_model", mlp), ("autoencoder", autoencoder)])
def test_writes_keras3_weights_layout(tmp_path, name, build):
    """Our .weights.h5 has the paths, attributes and values of the file Keras 3 wrote."""
    model = build()
    model.compile(keras.optimizers.Adam(0.01), "mse")
    model.load_weights(keras3_weights_file(tmp_path, name))
    model.save_weights(tmp_path / "ours.weights.h5")
    theirs, their_groups = visit(keras3_weights_file(tmp_path, name))
    ours, our_groups = visit(tmp_path / "ours.weights.h5")
    assert sorted(ours) == sorted(theirs)
    # the optimizer's own name: Keras 2's "Adam" here, Keras 3's "adam" there (metadata only, not read back)
    assert our_groups.pop("optimizer/vars") == {"name": "Adam"}
    assert their_groups.pop("optimizer/vars") == {"name": "adam"}
    assert our_groups == their_groups
    for key, value in theirs.items():
        assert ours[key].dtype == value.dtype, key
        np.testing.assert_array_equal(ours[key], value)


def test_keras3_weights_of_nested_models_and_shared_layers(tmp_path):
    model = nested_autoencoder()
    model.save_weights(tmp_path / "n.weights.h5")
    datasets, groups = visit(tmp_path / "n.weights.h5")
    assert groups["layers/functional/vars"] == {"name": "encoder"}
    assert groups["layers/functional_1/vars"] == {"name": "decoder"}
    assert groups["layers/input_layer/vars"] == {"name": "img"}
    np.testing.assert_array_equal(datasets["layers/functional/layers/conv2d_1/vars/0"],
                                  model.get_layer("encoder").get_layer("conv2d_1").kernel.value)
    other = nested_autoencoder()
    other.load_weights(tmp_path / "n.weights.h5")
    for a, b in zip(other.get_weights(), model.get_weights()):
        np.testing.assert_array_equal(a, b)
    shared = shared_layers()
    shared.save_weights(tmp_path / "s.weights.h5")
    again = shared_layers()
    again.load_weights(tmp_path / "s.weights.h5")
    for a, b in zip(again.get_weights(), shared.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_keras3_weights_mismatch_leaves_the_model_as_it_was(tmp_path):
    mlp().save_weights(tmp_path / "w.weights.h5")
    small = keras.Sequential([keras.Input(shape=(784,)), layers.Dense(64), layers.Dense(64), layers.Dense(3)])
    before = small.get_weights()
    with pytest.raises(ValueError, match=r"(?s)A total of 1 objects could not be loaded.*layers/dense_2/vars/0 has "
                                         r"shape \(64, 10\)"):
        small.load_weights(tmp_path / "w.weights.h5")
    for a, b in zip(small.get_weights(), before):
        np.testing.assert_array_equal(a, b)
    with pytest.raises(ValueError, match="by_name=False"):
        small.load_weights(tmp_path / "w.weights.h5", by_name=True)


# ------------------------------------------------------------------------------------------------ structure
def _imports(path):
    tree = ast.parse(open(path).read())
    names = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            names += [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
    return names


def test_engine_does_not_import_saving():
    folder = os.path.join(ROOT, "minigraph", "engine")
    for name in os.listdir(folder):
        if name.endswith(".py"):
            bad = [n for n in _imports(os.path.join(folder, name)) if n.startswith("minigraph.saving")]
            assert not bad, f"minigraph/engine/{name} imports {bad}"


def test_clone_model_lives_in_the_engine():
    from minigraph.engine.cloning import clone_model
    assert keras.models.clone_model is clone_model
    model = mlp()
    clone = clone_model(model)
    assert [layer.name for layer in clone.layers] == [layer.name for layer in model.layers]
    assert clone.get_layer("dense").kernel is not model.get_layer("dense").kernel


def test_keras3_weights_file_in_memory_is_the_keras3_layout(tmp_path):
    """load_weights recognises the layout by content: a Keras 3 weights file named .h5 still loads."""
    model = mlp()
    path = keras3_weights_file(tmp_path, "mnist_model")
    os.rename(path, tmp_path / "plain.h5")
    model.load_weights(tmp_path / "plain.h5")
    np.testing.assert_array_equal(model.get_weights()[0], keras3_data("mnist_model")["w_0"])


def test_sgd_without_momentum_takes_keras3_state():
    """Keras 3's SGD(momentum=0) saves only iteration and learning_rate: both are restored."""
    optimizer = keras.optimizers.SGD(0.1)
    model = mlp()
    optimizer.build(model.trainable_weights)
    optimizer.load_own_variables({"0": np.array(7, np.int64), "1": np.array(0.05, np.float32)})
    assert optimizer.iterations == 7 and optimizer.learning_rate == np.float32(0.05)
    with_momentum = keras.optimizers.SGD(0.1, momentum=0.9)
    with_momentum.build(model.trainable_weights)
    with pytest.warns(UserWarning, match="Skipping variable loading for optimizer 'SGD', because it has 8 "
                                         "variables whereas the saved optimizer has 2"):
        with_momentum.load_own_variables({"0": np.array(7), "1": np.array(0.05)})
    assert with_momentum.iterations == 0


@pytest.mark.parametrize("filename", ["w.h5", "w.weights.h5"])
def test_weights_a_model_itself_owns(tmp_path, filename):
    """Variables a model creates itself (not its layers') go through its own hooks: Keras 2's
    top_level_model_weights, Keras 3's root vars/."""
    def owning():
        model = mlp()
        model.add_weight("scale", (2,), initializer="ones")
        return model
    model = owning()
    model._trainable_weights[0].assign([3.0, 4.0])
    model.save_weights(tmp_path / filename)
    datasets, _ = visit(tmp_path / filename)
    key = "vars/0" if filename.endswith(".weights.h5") else "top_level_model_weights/mnist_model/scale:0"
    np.testing.assert_array_equal(datasets[key], [3.0, 4.0])
    again = owning()
    again.load_weights(tmp_path / filename)
    np.testing.assert_array_equal(again._trainable_weights[0].value, [3.0, 4.0])
    np.testing.assert_array_equal(again.get_weights()[0], model.get_weights()[0])
    with pytest.raises(ValueError, match="(top_level_model_weights|expected 0 variables, but received 1)"):
        mlp().load_weights(tmp_path / filename)
