"""Keras 3's files both ways: `.keras` zips and Keras 3's `.h5` dialect, against files Keras 3.15.1 wrote
(tests/data/keras3/, described in its README), code in configs, and an optional oracle run of Keras 3.
(Hostile archives are in test_hostile_keras.py.)"""
import base64
import io
import json
import marshal
import os
import subprocess
import textwrap
import zipfile

import h5py
import numpy as np
import pytest

import minigraph as keras
from minigraph import layers
from minigraph.saving import weights
from test_saving import autoencoder, mlp, nested_autoencoder, shared_layers
from keras_oracle import KERAS3_PRELUDE, run_keras3
from test_saving_api import KERAS3, keras3_data, visit

ORACLE = "/work/oracle/bin/python"


def keras3_file(name, ext):
    return os.path.join(KERAS3, f"{name}.{ext}")


def sequential():
    return keras.Sequential([keras.Input(shape=(5,), name="seq_in"), layers.Dense(4, activation="relu", name="h"),
                             layers.Dense(2, name="o")], name="seq")


def trained(model, steps=2):
    """The model compiled with Adam and trained a few steps on fixed data; returns (model, xs)."""
    model.compile(keras.optimizers.Adam(0.01), "mse")
    rng = np.random.default_rng(0)
    xs = [rng.random((4,) + t.shape[1:], np.float32) for t in model.inputs]
    ys = [rng.random((4,) + t.shape[1:], np.float32) for t in model.outputs]
    for _ in range(steps):
        model.train_on_batch(xs if len(xs) > 1 else xs[0], ys if len(ys) > 1 else ys[0])
    return model, (xs if len(xs) > 1 else xs[0])


def assert_same_state(a, b):
    for x, y in zip(a.get_weights(), b.get_weights()):
        np.testing.assert_array_equal(x, y)
    assert a.optimizer.iterations == b.optimizer.iterations
    assert a.optimizer.learning_rate == b.optimizer.learning_rate
    for x, y in zip(a.optimizer.get_weights(), b.optimizer.get_weights()):
        np.testing.assert_array_equal(x, y)


# ------------------------------------------------------------------------------------------------ reading Keras 3's
def _inputs(data, prefix):
    arrays = [data[k] for k in sorted(k for k in data.files if k[len(prefix):].isdigit() and k.startswith(prefix))]
    return arrays if len(arrays) > 1 else arrays[0]


@pytest.mark.parametrize("ext", ["keras", "h5"])
@pytest.mark.parametrize("name", ["mnist_model", "autoencoder", "nested_autoencoder", "shared", "sequential"])
def test_reads_keras3_files(name, ext):
    """Both of Keras 3's formats (flat, nested, shared-layer and Sequential models): the weights, predictions,
    evaluate loss and the optimizer state it saved (iteration, learning rate, m and v of every variable)."""
    data = keras3_data(name)
    model = keras.models.load_model(keras3_file(name, ext))
    assert type(model).__name__ == ("Sequential" if name == "sequential" else "Functional")
    for i, w in enumerate(model.get_weights()):
        np.testing.assert_array_equal(w, data[f"w_{i}"])
    x, y = _inputs(data, "x"), _inputs(data, "y")
    np.testing.assert_allclose(model.predict(x), data["pred0"], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(model.evaluate(x, y, verbose=0), float(data["loss"]), rtol=1e-4)  # float32 sums
    state = weights.own_variables(model.optimizer)
    assert len(state) == len(data["opt_names"])
    for i, var in enumerate(state):
        np.testing.assert_array_equal(np.asarray(var.value), data[f"opt_{i}"], err_msg=data["opt_names"][i])
    assert model.optimizer.iterations == 4
    model.train_on_batch(x, y)  # training resumes from the saved state
    assert model.optimizer.iterations == 5


def test_keras3_h5_dialect_converts_to_keras2_configs():
    """What the Keras 3 .h5 holds (batch_shape, DTypePolicy, dict inbound nodes, weight names without :0)
    against the model minigraph rebuilt from it."""
    with h5py.File(keras3_file("autoencoder", "h5"), "r") as f:
        config = json.loads(f.attrs["model_config"])
        assert f["model_weights/conv2d"].attrs["weight_names"].tolist() == ["conv2d/kernel", "conv2d/bias"]
    first = config["config"]["layers"][0]["config"]
    assert "batch_shape" in first and isinstance(config["config"]["layers"][1]["config"]["dtype"], dict)
    assert isinstance(config["config"]["layers"][1]["inbound_nodes"][0], dict)
    model = keras.models.load_model(keras3_file("autoencoder", "h5"))
    assert model.input_shape == (None, 28, 28, 1)
    assert model.get_layer("conv2d").dtype == "float32"
    assert [layer.name for layer in model.layers][:3] == ["img", "conv2d", "conv2d_1"]


# ------------------------------------------------------------------------------------------------ writing .keras
def test_writes_keras3_zip_layout(tmp_path):
    """Entries, their order and storage, metadata, and config.json in Keras 3's dialect, against Keras 3's own
    file of the same model."""
    model = keras.models.load_model(keras3_file("mnist_model", "keras"))
    model.save(tmp_path / "ours.keras")
    with zipfile.ZipFile(tmp_path / "ours.keras") as ours, zipfile.ZipFile(keras3_file("mnist_model", "keras")) as theirs:
        assert [i.filename for i in ours.infolist()] == [i.filename for i in theirs.infolist()]
        assert all(i.compress_type == zipfile.ZIP_STORED for i in ours.infolist())
        metadata = json.loads(ours.read("metadata.json"))
        assert metadata["keras_version"].startswith("3.") and "date_saved" in metadata
        our_config, their_config = json.loads(ours.read("config.json")), json.loads(theirs.read("config.json"))
        (tmp_path / "ours.weights.h5").write_bytes(ours.read("model.weights.h5"))
        (tmp_path / "theirs.weights.h5").write_bytes(theirs.read("model.weights.h5"))
    for key in ("module", "class_name", "registered_name", "build_config"):
        assert our_config[key] == their_config[key], key
    inner, their_inner = our_config["config"], their_config["config"]
    assert inner["input_layers"] == their_inner["input_layers"] == ["img", 0, 0]
    assert inner["output_layers"] == their_inner["output_layers"]
    for ours_layer, their_layer in zip(inner["layers"], their_inner["layers"]):
        assert ours_layer["inbound_nodes"] == their_layer["inbound_nodes"]
        for key in ("module", "class_name", "registered_name", "name", "build_config"):
            assert ours_layer.get(key) == their_layer.get(key), (ours_layer["name"], key)
        their_dtype = their_layer["config"]["dtype"]  # a str for InputLayer, else a DTypePolicy
        if isinstance(their_dtype, dict):
            their_dtype = {k: v for k, v in their_dtype.items() if k != "shared_object_id"}
        assert ours_layer["config"]["dtype"] == their_dtype
    dense = inner["layers"][1]["config"]
    assert dense["kernel_initializer"] == {"module": "keras.initializers", "class_name": "GlorotUniform",
                                           "config": {"seed": None}, "registered_name": None}
    compiled = our_config["compile_config"]
    assert compiled["optimizer"]["module"] == "keras.optimizers" and compiled["optimizer"]["class_name"] == "Adam"
    assert compiled["optimizer"]["config"]["learning_rate"] == pytest.approx(0.01)
    assert compiled["loss"] == their_config["compile_config"]["loss"] == "sparse_categorical_crossentropy"
    ours_w, our_groups = visit(tmp_path / "ours.weights.h5")
    theirs_w, their_groups = visit(tmp_path / "theirs.weights.h5")
    assert sorted(ours_w) == sorted(theirs_w)
    for key, value in theirs_w.items():
        np.testing.assert_array_equal(ours_w[key], value)


def test_keras3_dialect_of_nested_models_and_conv_transpose(tmp_path):
    model = nested_autoencoder()
    model.save(tmp_path / "n.keras")
    with zipfile.ZipFile(tmp_path / "n.keras") as archive:
        config = json.loads(archive.read("config.json"))
    top = config["config"]
    assert top["output_layers"] == ["decoder", 1, 0]  # counted from 1, as Keras 3 writes it
    decoder_entry = next(layer for layer in top["layers"] if layer["name"] == "decoder")
    history = decoder_entry["inbound_nodes"][0]["args"][0]["config"]["keras_history"]
    assert history == ["encoder", 0, 0]  # counted from 0 inside inbound nodes
    assert decoder_entry["registered_name"] == "Functional" and decoder_entry["class_name"] == "Functional"
    transposes = [layer for layer in decoder_entry["config"]["layers"] if layer["class_name"] == "Conv2DTranspose"]
    assert transposes and all("groups" not in layer["config"] for layer in transposes)
    first = decoder_entry["config"]["layers"][0]
    assert first["class_name"] == "InputLayer" and first["config"]["batch_shape"] == [None, 16]


@pytest.mark.parametrize("build", [mlp, autoencoder, nested_autoencoder, shared_layers, sequential])
def test_keras_round_trip(tmp_path, build):
    model, x = trained(build())
    model.save(tmp_path / "m.keras")
    loaded = keras.models.load_model(tmp_path / "m.keras")
    assert type(loaded) is type(model)
    np.testing.assert_array_equal(np.asarray(loaded.predict(x)), np.asarray(model.predict(x)))
    assert_same_state(loaded, model)
    assert loaded.loss == "mse"
    plain = keras.models.load_model(tmp_path / "m.keras", compile=False)
    assert plain.optimizer is None


def test_failed_keras_save_keeps_previous_file(tmp_path, monkeypatch):
    model = mlp()
    model.save(tmp_path / "m.keras")
    before = (tmp_path / "m.keras").read_bytes()

    def broken(*args, **kwargs):
        raise RuntimeError("disk on fire")
    monkeypatch.setattr(zipfile.ZipFile, "writestr", broken)
    with pytest.raises(RuntimeError, match="disk on fire"):
        model.save(tmp_path / "m.keras")
    assert os.listdir(tmp_path) == ["m.keras"] and (tmp_path / "m.keras").read_bytes() == before
    with pytest.raises(FileExistsError):
        model.save(tmp_path / "m.keras", overwrite=False)


def test_include_optimizer_false_leaves_the_state_out(tmp_path):
    model, _ = trained(mlp())
    model.save(tmp_path / "m.keras", include_optimizer=False)
    with zipfile.ZipFile(tmp_path / "m.keras") as archive:
        with h5py.File(io.BytesIO(archive.read("model.weights.h5")), "r") as f:
            assert "optimizer" not in f
    loaded = keras.models.load_model(tmp_path / "m.keras")
    assert loaded.optimizer.iterations == 0


# ------------------------------------------------------------------------------------------------ Keras 3 .h5 written
def test_h5_written_for_keras3_too(tmp_path):
    """Conv2DTranspose configs without groups and the loss spelled out, which tf_keras reads as well."""
    model = autoencoder()
    model.compile("adam", "mse", metrics=["mae"])
    model.save(tmp_path / "a.h5")
    with h5py.File(tmp_path / "a.h5", "r") as f:
        config = json.loads(f.attrs["model_config"])
        training = json.loads(f.attrs["training_config"])
    transposes = [layer for layer in config["config"]["layers"] if layer["class_name"] == "Conv2DTranspose"]
    assert transposes and all("groups" not in layer["config"] for layer in transposes)
    assert training["loss"] == "mean_squared_error"
    loaded = keras.models.load_model(tmp_path / "a.h5")
    assert loaded.loss == "mean_squared_error"


# ------------------------------------------------------------------------------------------------ edited files
def _zip(path, entries, **infos):
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in entries.items():
            info = zipfile.ZipInfo(name)
            for key, value in infos.get(name, {}).items():
                setattr(info, key, value)
            archive.writestr(info, data)
    return path


def _good_entries(tmp_path):
    mlp().save(tmp_path / "good.keras")
    with zipfile.ZipFile(tmp_path / "good.keras") as archive:
        return {name: archive.read(name) for name in archive.namelist()}


# ------------------------------------------------------------------------------------------------ code in files
def _payload(flag):
    """Bytecode that would create `flag` if anything ran it."""
    def evil(x):
        open(flag, "w").write("ran")  # noqa: SIM115
        return x
    return base64.b64encode(marshal.dumps(evil.__code__)).decode("ascii")


def _with_lambda(config, payload, keras3):
    layers_ = config["config"]["layers"]
    lam = {"class_name": "Lambda", "name": "sneaky", "inbound_nodes": layers_[-1]["inbound_nodes"],
           "config": {"name": "sneaky", "trainable": True, "dtype": "float32",
                      "function": ({"class_name": "__lambda__", "config": {"code": payload}} if keras3
                                   else [payload, None, None]), "function_type": "lambda"}}
    if keras3:
        lam.update(module="keras.layers", registered_name=None)
    layers_[-1] = lam
    return config


def test_lambda_bytecode_is_refused_in_keras_files(tmp_path):
    flag = tmp_path / "ran.txt"
    entries = _good_entries(tmp_path)
    config = _with_lambda(json.loads(entries["config.json"]), _payload(str(flag)), keras3=True)
    entries["config.json"] = json.dumps(config).encode()
    path = _zip(tmp_path / "m.keras", entries)
    with pytest.raises(ValueError, match="layer 'sneaky' \\(Lambda\\) holds a Python function serialised as "
                                         "bytecode.*safe_mode=True"):
        keras.models.load_model(path)
    with pytest.raises(ValueError, match="Unknown layer class 'Lambda'"):
        keras.models.load_model(path, safe_mode=False)  # minigraph has no Lambda layer to run it with
    assert not flag.exists()


def test_function_payload_is_refused_in_h5_files(tmp_path):
    flag = tmp_path / "ran.txt"
    mlp().save(tmp_path / "m.h5")
    with h5py.File(tmp_path / "m.h5", "r+") as f:
        config = json.loads(f.attrs["model_config"])
        config["config"]["layers"][-1]["config"]["function"] = [_payload(str(flag)), None, None]
        f.attrs["model_config"] = json.dumps(config).encode()
    with pytest.raises(ValueError, match="layer 'dense_2' \\(Dense\\) holds a Python function"):
        keras.models.load_model(tmp_path / "m.h5")
    assert not flag.exists()


# ------------------------------------------------------------------------------------------------ the oracle
_ORACLE_SCRIPT = textwrap.dedent("""
    import os, sys, json
    os.environ["KERAS_BACKEND"] = "tensorflow"
    os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
    import numpy as np
    which, folder, files = sys.argv[1], sys.argv[2], sys.argv[3:]
    if which == "keras3":
        import keras
        if not keras.__version__.startswith("3"):
            print("NO_KERAS3 " + keras.__version__)
            sys.exit(0)
    else:
        import tf_keras as keras
    out = {}
    for file in files:
        name = file.rsplit(".", 1)[0]
        model = keras.models.load_model(os.path.join(folder, file))
        data = np.load(os.path.join(folder, name + ".npz"))
        xs = [data[f"x{i}"] for i in range(len(model.inputs))]
        x = xs if len(xs) > 1 else xs[0]
        result = {"diff": float(np.abs(model.predict(x, verbose=0) - data["p0"]).max()),
                  "iterations": int(np.asarray(model.optimizer.iterations))}
        if which == "tf_keras" or file.endswith(".keras"):  # Keras 3.15 cannot train on after loading any .h5,
            model.train_on_batch(x, data["y0"])          # its own included (an 'Unknown variable' error)
            result["resumed"] = int(np.asarray(model.optimizer.iterations))
        out[file] = result
    print("RESULT " + json.dumps(out))
""")
_ORACLE_MODELS = {"mlp": mlp, "autoencoder": autoencoder, "nested": nested_autoencoder, "shared": shared_layers,
                  "sequential": sequential}
_FLAT = ("mlp", "autoencoder", "sequential")  # Keras 3 reads no nested model from a Keras 2 .h5


@pytest.fixture(scope="module")
def written(tmp_path_factory):
    """Every model trained 2 steps and saved as .keras and .h5, with its inputs, targets and predictions."""
    folder = tmp_path_factory.mktemp("oracle")
    for name, build in _ORACLE_MODELS.items():
        model, x = trained(build())
        xs = x if isinstance(x, list) else [x]
        pred = model.predict(x)
        model.save(folder / f"{name}.keras")
        model.save(folder / f"{name}.h5")
        np.savez(folder / f"{name}.npz", **{f"x{i}": a for i, a in enumerate(xs)}, p0=pred,
                 y0=np.random.default_rng(1).random(pred.shape, np.float32))
    (folder / "check.py").write_text(_ORACLE_SCRIPT)
    return folder


def _run_oracle(which, folder, files):
    if not os.path.exists(ORACLE):
        pytest.skip(f"no oracle interpreter at {ORACLE}")
    run = subprocess.run([ORACLE, str(folder / "check.py"), which, str(folder), *files], capture_output=True,
                         text=True, timeout=900)
    lines = [line for line in run.stdout.splitlines() if line.startswith("RESULT ")]
    module = "keras" if which == "keras3" else "tf_keras"
    if "NO_KERAS3" in run.stdout:
        pytest.skip(f"{ORACLE} has Keras {run.stdout.split()[-1]}, not Keras 3")
    if not lines and f"No module named '{module}'" in run.stderr:
        pytest.skip(f"{ORACLE} has no {module}")
    assert lines, run.stderr[-3000:]
    return json.loads(lines[0][len("RESULT "):])


@pytest.mark.skipif(not os.path.exists(ORACLE), reason=f"no oracle interpreter at {ORACLE} (Keras 3 absent)")
def test_keras3_loads_what_minigraph_writes(written):
    """Keras 3 loads minigraph's .keras files of every model and the .h5 files of the flat ones, compiled:
    the same predictions and the optimizer's iteration; from the .keras files, training resumes."""
    files = [f"{name}.keras" for name in _ORACLE_MODELS] + [f"{name}.h5" for name in _FLAT]
    result = _run_oracle("keras3", written, files)
    for file in files:
        assert result[file]["diff"] < 1e-5, (file, result[file])
        assert result[file]["iterations"] == 2, (file, result[file])
        assert result[file].get("resumed", 3) == 3, (file, result[file])
    assert all("resumed" in result[f"{name}.keras"] for name in _ORACLE_MODELS)


@pytest.mark.skipif(not os.path.exists(ORACLE), reason=f"no oracle interpreter at {ORACLE} (tf_keras absent)")
def test_tf_keras_still_loads_minigraph_h5(written):
    """What minigraph writes into .h5 for Keras 3's sake (no Conv2DTranspose groups, 'mean_squared_error')
    still loads in tf_keras 2.21, nested models included."""
    files = [f"{name}.h5" for name in _ORACLE_MODELS]
    result = _run_oracle("tf_keras", written, files)
    for file in files:
        assert result[file]["diff"] < 1e-5, (file, result[file])
        assert result[file]["iterations"] == 2 and result[file]["resumed"] == 3, (file, result[file])


def test_custom_layers_and_loss_objects_in_keras_files(tmp_path):
    from test_saving_api import Scaled, scaled_model
    model = scaled_model()
    model.compile(keras.optimizers.SGD(0.1), keras.losses.MeanAbsoluteError())
    model.save(tmp_path / "m.keras")
    with zipfile.ZipFile(tmp_path / "m.keras") as archive:
        config = json.loads(archive.read("config.json"))
    entry = next(layer for layer in config["config"]["layers"] if layer["name"] == "scaled")
    assert entry["class_name"] == "Scaled" and entry["registered_name"] == "Scaled"
    assert entry["module"] == Scaled.__module__
    assert config["compile_config"]["loss"] == {"module": "keras.losses", "class_name": "MeanAbsoluteError",
                                                "config": {"reduction": "sum_over_batch_size",
                                                           "name": "mean_absolute_error"},
                                                "registered_name": None}
    with pytest.raises(ValueError, match="Unknown layer class 'Scaled'"):
        keras.models.load_model(tmp_path / "m.keras")
    loaded = keras.models.load_model(tmp_path / "m.keras", custom_objects={"Scaled": Scaled})
    x = np.ones((2, 3), np.float32)
    np.testing.assert_array_equal(loaded.predict(x), model.predict(x))
    assert isinstance(loaded.loss, keras.losses.MeanAbsoluteError) and loaded.loss.reduction == "sum_over_batch_size"

    @keras.saving.register_keras_serializable(package="Tests", name="Tripler")
    class Tripler(layers.Layer):
        def call(self, inputs):
            return inputs * 3

    try:
        inputs = keras.Input(shape=(2,), name="i")
        keras.Model(inputs, Tripler(name="t")(inputs)).save(tmp_path / "r.keras")
        with zipfile.ZipFile(tmp_path / "r.keras") as archive:
            entry = json.loads(archive.read("config.json"))["config"]["layers"][1]
        assert entry["registered_name"] == "Tests>Tripler" and entry["class_name"] == "Tripler"
        again = keras.models.load_model(tmp_path / "r.keras")
        np.testing.assert_array_equal(again.predict(np.ones((1, 2))), [[3, 3]])
    finally:
        keras.saving.get_custom_objects().pop("Tests>Tripler", None)


def test_code_deep_in_a_config_is_refused(tmp_path):
    """A Lambda inside a nested model, and a function payload inside a wrapper layer's config, are found."""
    flag = tmp_path / "ran.txt"
    nested_autoencoder().save(tmp_path / "n.keras")
    with zipfile.ZipFile(tmp_path / "n.keras") as archive:
        entries = {name: archive.read(name) for name in archive.namelist()}
    config = json.loads(entries["config.json"])
    decoder_entry = next(layer for layer in config["config"]["layers"] if layer["name"] == "decoder")
    _with_lambda(decoder_entry, _payload(str(flag)), keras3=True)
    entries["config.json"] = json.dumps(config).encode()
    with pytest.raises(ValueError, match="layer 'sneaky' \\(Lambda\\)"):
        keras.models.load_model(_zip(tmp_path / "deep.keras", entries))
    wrapped = json.loads(entries["config.json"])
    decoder_entry = next(layer for layer in wrapped["config"]["layers"] if layer["name"] == "decoder")
    decoder_entry["config"]["layers"][-1] = {
        "class_name": "TimeDistributed", "name": "wrapper", "inbound_nodes": [],
        "config": {"name": "wrapper", "layer": {"class_name": "Custom", "config": {
            "name": "inner", "fn": {"class_name": "__lambda__", "config": {"code": _payload(str(flag))}}}}}}
    entries["config.json"] = json.dumps(wrapped).encode()
    with pytest.raises(ValueError, match="layer 'inner' \\(a function\\) holds a Python function"):
        keras.models.load_model(_zip(tmp_path / "wrapped.keras", entries))
    assert not flag.exists()


# ------------------------------------------------------------------------------------------------ SGD's state
def _sgd_script():
    """tests/data/keras3/make_sgd_files.py, the script that made the reference files: its training, here."""
    import importlib.util
    spec = importlib.util.spec_from_file_location("make_sgd_files", keras3_file("make_sgd_files", "py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


SGD_SCRIPT = _sgd_script()


def _sgd_trained(variant):
    return SGD_SCRIPT.train(keras, variant, np.load(keras3_file("sgd_start", "npz")))


def _keras_zip_weights(path, folder):
    with zipfile.ZipFile(path) as archive:
        archive.extract("model.weights.h5", folder)
    return os.path.join(folder, "model.weights.h5")


@pytest.mark.parametrize("variant", sorted(SGD_SCRIPT.variants(keras)))
def test_sgd_state_is_what_keras3_writes(tmp_path, variant):
    """The optimizer variables written (.weights.h5 and the .keras zip's model.weights.h5) are Keras 3's: no
    momentum slots without momentum, none for the learning rate under a schedule, the same values after the
    same steps (under use_ema the layout only: minigraph's moving average follows tf_keras 2, which starts it
    at the weights, where Keras 3 starts it at the first step's weights); and Keras 3's file loads back."""
    model = _sgd_trained(variant)
    model.save_weights(tmp_path / "ours.weights.h5")
    model.save(tmp_path / "ours.keras")
    theirs, their_groups = visit(keras3_file(f"sgd_{variant}", "weights.h5"))
    for path in (tmp_path / "ours.weights.h5", _keras_zip_weights(tmp_path / "ours.keras", tmp_path / "zip")):
        ours, _ = visit(path)
        assert sorted(ours) == sorted(theirs)
        for key, value in theirs.items():
            assert (ours[key].dtype, ours[key].shape) == (value.dtype, value.shape), key
            if "ema" not in variant or key in ("optimizer/vars/0", "optimizer/vars/1"):
                np.testing.assert_allclose(ours[key], value, rtol=1e-6, atol=1e-7, err_msg=key)
    fresh = _sgd_trained(variant)
    fresh.optimizer.iterations = 0
    for var in fresh.optimizer.variables[1:]:
        var.assign(np.zeros(var.shape, var.dtype))
    fresh.load_weights(keras3_file(f"sgd_{variant}", "weights.h5"))
    assert fresh.optimizer.iterations == 2
    saved = sorted((k for k in theirs if k.startswith("optimizer/")), key=lambda k: int(k.rsplit("/", 1)[1]))
    for got, key in zip(fresh.optimizer._own_variables(), saved):
        want = theirs[key]
        np.testing.assert_array_equal(got.value, want, err_msg=key)


_KERAS3_SGD_RESUME = KERAS3_PRELUDE + """
import json, warnings
start = np.load(sys.argv[2])
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    model = keras.saving.load_model(sys.argv[1])
loaded = int(model.optimizer.iterations)
model.fit(start["x"], start["y"], batch_size=4, epochs=1, shuffle=False, verbose=0)
print("RESULT " + json.dumps({"warnings": [str(w.message) for w in caught], "loaded": loaded,
                              "resumed": int(model.optimizer.iterations), "variables": len(model.optimizer.variables)}))
"""


@pytest.mark.skipif(not os.path.exists(ORACLE), reason=f"no oracle interpreter at {ORACLE} (Keras 3 absent)")
def test_keras3_resumes_plain_sgd_from_minigraph(tmp_path):
    """Keras 3 restores minigraph's SGD(momentum=0) state without skipping it (before, the extra momentum
    slots made it warn and start afresh), and training goes on from minigraph's step count."""
    _sgd_trained("plain").save(tmp_path / "plain.keras")
    (tmp_path / "resume.py").write_text(_KERAS3_SGD_RESUME)
    run = run_keras3(tmp_path / "resume.py", [tmp_path / "plain.keras", keras3_file("sgd_start", "npz")])
    lines = [line for line in run.stdout.splitlines() if line.startswith("RESULT ")]
    assert lines, run.stderr[-3000:]
    result = json.loads(lines[0][len("RESULT "):])
    assert not [w for w in result["warnings"] if "Skipping variable loading" in w], result
    assert (result["loaded"], result["resumed"], result["variables"]) == (2, 4, 2), result
