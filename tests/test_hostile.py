"""Hostile files, graphs, configs and data (issue 16): each case runs in a child process with a timeout and an
address-space limit (tests/hostile_child.py), and must end in a clear error naming the culprit."""
import json
import os
import socket

import h5py
import numpy as np
import pytest

import minigraph as keras
from minigraph import layers
from hostile_child import expect_error, run_child

SMALL_MODEL = """
inputs = keras.Input((3,), name="x")
model = keras.Model(inputs, layers.Dense(2, name="dense")(inputs))
"""


@pytest.fixture
def saved(tmp_path):
    """A small model saved as .h5, .keras and .weights.h5 in tmp_path."""
    inputs = keras.Input((3,), name="x")
    model = keras.Model(inputs, layers.Dense(2, name="dense")(inputs))
    model.save(tmp_path / "m.h5")
    model.save(tmp_path / "m.keras")
    model.save_weights(tmp_path / "m.weights.h5")
    return tmp_path


# ------------------------------------------------------------------------------------------------ paths
@pytest.mark.parametrize("call", ["keras.models.load_model(path)", "model.load_weights(path)"])
def test_fifo_is_refused_before_reading(tmp_path, call):
    path = tmp_path / "model.h5"
    os.mkfifo(path)
    expect_error(SMALL_MODEL + f"path = {str(path)!r}\n{call}\n", tmp_path, "OSError", str(path), "FIFO",
                 timeout=60)


@pytest.mark.parametrize("path", ["/dev/zero", "/dev/null"])
@pytest.mark.parametrize("call", ["keras.models.load_model(path)", "model.load_weights(path)"])
def test_character_device_is_refused_before_reading(tmp_path, path, call):
    expect_error(SMALL_MODEL + f"path = {path!r}\n{call}\n", tmp_path, "OSError", path, "character device")


def test_socket_is_refused(tmp_path):
    path = tmp_path / "s.h5"
    server = socket.socket(socket.AF_UNIX)
    server.bind(str(path))
    try:
        expect_error(f"keras.models.load_model({str(path)!r})", tmp_path, "OSError", str(path), "socket")
    finally:
        server.close()


def test_directory_keeps_its_message(tmp_path):
    expect_error(f"keras.models.load_model({str(tmp_path)!r})", tmp_path, "IsADirectoryError", str(tmp_path),
                 "SavedModel")


@pytest.mark.parametrize("name", ["m.h5", "m.keras", "m.weights.h5"])
def test_save_through_symlink_writes_the_target(tmp_path, name):
    target_dir = tmp_path / "store"
    target_dir.mkdir()
    target = target_dir / name
    link = tmp_path / name
    inputs = keras.Input((3,), name="x")
    old = keras.Model(inputs, layers.Dense(2, name="dense")(inputs))
    (old.save_weights if name.endswith(".weights.h5") else old.save)(target)
    os.symlink(target, link)
    new = keras.models.clone_model(old)
    new.set_weights([w + 1.0 for w in old.get_weights()])
    (new.save_weights if name.endswith(".weights.h5") else new.save)(link)
    assert os.path.islink(link) and os.readlink(link) == str(target)
    assert sorted(os.listdir(target_dir)) == [name]  # no temporary file left beside the target
    if name.endswith(".weights.h5"):
        check = keras.models.clone_model(old)
        check.load_weights(target)
    else:
        check = keras.models.load_model(target)
    for got, want in zip(check.get_weights(), new.get_weights()):
        np.testing.assert_array_equal(got, want)


def test_out_of_space_save_keeps_the_old_file_and_names_the_cause(tmp_path):
    path = tmp_path / "m.h5"
    body = SMALL_MODEL + f"""
model.save({str(path)!r})
before = open({str(path)!r}, "rb").read()
big = keras.Model(inputs, layers.Dense(20000, name="wide")(inputs))
import signal
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails with EFBIG instead of killing
resource.setrlimit(resource.RLIMIT_FSIZE, (len(before) + 4096, len(before) + 4096))
try:
    big.save({str(path)!r})
finally:
    assert open({str(path)!r}, "rb").read() == before, "the old file changed"
    assert os.listdir({str(tmp_path)!r}) == ["m.h5"], os.listdir({str(tmp_path)!r})
"""
    expect_error(body, tmp_path, "OSError", str(path), "File too large", "left as it was")


# ------------------------------------------------------------------------------------------------ HDF5 links
def _add_to_weights(path, build):
    with h5py.File(path, "a") as f:
        build(f)


def foreign_data_adder(kind, folder):
    """A function adding to an h5py file the dataset 'stolen' whose bytes live in another file of `folder`: an
    external link, external raw storage, or a virtual dataset."""
    other = folder / "secret.h5"
    with h5py.File(other, "w") as g:
        g["d"] = np.arange(6, dtype="float32")
    raw = folder / "raw.bin"
    raw.write_bytes(np.arange(6, dtype="float32").tobytes())

    def add(f):
        if kind == "external_link":
            f["stolen"] = h5py.ExternalLink(str(other), "/d")
        elif kind == "external_storage":
            f.create_dataset("stolen", shape=(6,), dtype="float32", external=[(str(raw), 0, 24)])
        else:
            layout = h5py.VirtualLayout(shape=(6,), dtype="float32")
            layout[:] = h5py.VirtualSource(str(other), "d", shape=(6,))
            f.create_virtual_dataset("stolen", layout)
    return add


@pytest.mark.parametrize("kind", ["external_link", "external_storage", "virtual"])
@pytest.mark.parametrize("fmt", ["m.h5", "m.weights.h5"])
def test_hdf5_reading_other_files_is_refused(saved, kind, fmt):
    path = saved / fmt
    _add_to_weights(path, foreign_data_adder(kind, saved))
    word = {"external_link": "external link", "external_storage": "external file", "virtual": "virtual"}[kind]
    call = "keras.models.load_model(path)" if fmt == "m.h5" else "model.load_weights(path)"
    expect_error(SMALL_MODEL + f"path = {str(path)!r}\n{call}\n", saved, "ValueError", "stolen", word)


def test_external_link_to_a_fifo_does_not_hang(saved):
    fifo = saved / "pipe.h5"
    os.mkfifo(fifo)
    _add_to_weights(saved / "m.h5", lambda f: f["model_weights"]["dense"].__setitem__(
        "dense/kernel:0_link", h5py.ExternalLink(str(fifo), "/d")))
    expect_error(f"keras.models.load_model({str(saved / 'm.h5')!r})", saved, "ValueError", "external link",
                 timeout=60)


# ------------------------------------------------------------------------------------------------ sizes
def _edit_config(path, edit, attr="model_config"):
    with h5py.File(path, "a") as f:
        config = json.loads(f.attrs[attr])
        edit(config)
        f.attrs[attr] = json.dumps(config).encode("utf8")


def _layer(config, name):
    return next(layer for layer in config["config"]["layers"] if layer["config"]["name"] == name)


@pytest.mark.parametrize("call", ["keras.models.load_model(path)", "model.load_weights(path)"])
def test_layer_names_far_beyond_the_model_are_refused_before_reading(saved, call):
    path = saved / ("m.h5" if "load_model" in call else "legacy.h5")
    if "load_weights" in call:
        keras.models.load_model(saved / "m.h5").save_weights(path)
    with h5py.File(path, "a") as f:
        group = f["model_weights"] if "model_weights" in f else f
        names = [b"dense"] + [f"ghost_{i}".encode() for i in range(200_000)]
        del group.attrs["layer_names"]
        hdf5_chunks = np.array_split(np.array(names), 40)
        for i, chunk in enumerate(hdf5_chunks):
            group.attrs[f"layer_names{i}"] = chunk
    expect_error(SMALL_MODEL + f"path = {str(path)!r}\n{call}\n", saved, "ValueError", "200001 layers",
                 "nothing was read", timeout=60)


def test_by_name_reads_only_the_models_layers(saved):
    path = saved / "legacy.h5"
    inputs = keras.Input((3,), name="x")
    model = keras.Model(inputs, layers.Dense(2, name="dense")(inputs))
    model.save_weights(path)
    with h5py.File(path, "a") as f:  # a layer the model does not have, whose weights are not numbers
        names = [n if isinstance(n, bytes) else n.encode() for n in f.attrs["layer_names"]] + [b"other"]
        f.attrs["layer_names"] = np.array(names)
        f.create_group("other").attrs["weight_names"] = [b"other/w:0"]
        f["other"].create_dataset("other/w:0", data=np.array([b"not a number"]))
    fresh = keras.models.clone_model(model)
    fresh.load_weights(path, by_name=True)
    for got, want in zip(fresh.get_weights(), model.get_weights()):
        np.testing.assert_array_equal(got, want)
    with pytest.raises(ValueError, match="other"):
        fresh.load_weights(path)  # by order every listed layer is read


@pytest.mark.parametrize("fmt", ["m.h5", "m.weights.h5"])
def test_weight_dataset_larger_than_its_file_is_refused_before_reading(saved, fmt):
    path = saved / fmt
    with h5py.File(path, "a") as f:
        name = "model_weights/dense/dense/kernel:0" if fmt == "m.h5" else "layers/dense/vars/0"
        del f[name]
        f.create_dataset(name, shape=(2**20, 2**20), dtype="float32", chunks=(1024, 1024))
    call = "keras.models.load_model(path)" if fmt == "m.h5" else "model.load_weights(path)"
    expect_error(SMALL_MODEL + f"path = {str(path)!r}\n{call}\n", saved, "ValueError", "(1048576, 1048576)",
                 "more than its file")


@pytest.mark.parametrize("layer, name", [
    ({"class_name": "Dense", "config": {"name": "huge", "units": 10**12}}, "huge"),
    ({"class_name": "Conv1D", "config": {"name": "wide", "filters": 10**9, "kernel_size": [3]}}, "wide"),
    ({"class_name": "Conv1D", "config": {"name": "vast", "filters": 1, "kernel_size": [10**6 * 10**6]}}, "vast"),
    ({"class_name": "Embedding", "config": {"name": "table", "input_dim": 10**6, "output_dim": 10**6}}, "table"),
])
def test_huge_layer_in_a_file_is_refused_before_allocating(saved, layer, name):
    def edit(config):
        dense = _layer(config, "dense")
        dense["class_name"] = layer["class_name"]
        dense["config"].update(layer["config"])
        dense["name"] = name
        for node in config["config"]["output_layers"]:
            node[0] = name
    _edit_config(saved / "m.h5", edit)
    expect_error(f"keras.models.load_model({str(saved / 'm.h5')!r})", saved, "ValueError", f"'{name}'",
                 "set_max_weight_bytes", "bytes")


def test_weight_cap_is_overridable(saved):
    path = saved / "m.h5"
    _edit_config(path, lambda config: _layer(config, "dense")["config"].update(units=200))
    expect_error(f"keras.saving.set_max_weight_bytes(100)\nkeras.models.load_model({str(path)!r})", saved,
                 "ValueError", "'dense'", "800 bytes", "limit of 100 bytes")
    # under the default cap the same file is refused only for its weights' shapes, after the config passed
    expect_error(f"keras.models.load_model({str(path)!r})", saved, "ValueError", "Shape mismatch", "dense")


def test_model_from_json_refuses_a_huge_layer():
    config = {"class_name": "Sequential", "config": {"name": "s", "layers": [
        {"class_name": "InputLayer", "config": {"batch_input_shape": [None, 3], "name": "in"}},
        {"class_name": "Dense", "config": {"name": "huge", "units": 10**12}}]}}
    with pytest.raises(ValueError, match="'huge'.*at least 1000000000000 elements"):
        keras.models.model_from_json(json.dumps(config))


def test_layer_too_large_for_memory_in_code_names_itself(tmp_path):
    """Built in code (no file, so no cap): numpy's MemoryError comes out naming the layer, the weight and the size."""
    expect_error("layers.Dense(10**12, name='big')(keras.Input((3,)))", tmp_path, "MemoryError",
                 "Layer 'big' (Dense): its weight 'kernel' of shape (3, 1000000000000)", "12000000000000 bytes",
                 budget=256 << 20)


# ------------------------------------------------------------------------------------------------ JSON
def test_deeply_nested_json_is_not_valid_json_everywhere(saved, tmp_path):
    deep = "[" * 10_000 + "]" * 10_000
    expect_error(f"keras.models.model_from_json({deep!r})", tmp_path, "ValueError", "not valid JSON",
                 "model_from_json")
    with h5py.File(saved / "m.h5", "a") as f:
        f.attrs["model_config"] = deep.encode()
    expect_error(f"keras.models.load_model({str(saved / 'm.h5')!r})", tmp_path, "ValueError", "not valid JSON",
                 "m.h5")


def test_config_nested_hundreds_deep_inside_a_layer_is_refused_when_parsed(saved, tmp_path):
    """Valid JSON (Python's parser takes it) that would overflow the recursion of the code building the model."""
    nested = json.loads("[" * 700 + "]" * 700)
    _edit_config(saved / "m.h5", lambda config: _layer(config, "dense")["config"].update(extra=nested))
    expect_error(f"keras.models.load_model({str(saved / 'm.h5')!r})", tmp_path, "ValueError",
                 f"The model_config attribute of {saved / 'm.h5'} nests more than 100 levels deep")
    config = json.loads(keras.models.load_model(saved / "m.keras").to_json())
    _layer(config, "dense")["config"]["extra"] = nested
    with pytest.raises(ValueError, match="model_from_json: the string nests more than 100 levels deep"):
        keras.models.model_from_json(json.dumps(config))


# ------------------------------------------------------------------------------------------------ graphs
GRAPH = """
a = keras.Input((3,), name="a")
b = keras.Input((3,), name="b")
"""


@pytest.mark.parametrize("inputs, positions", [("[a, a]", "0 and 1"), ("[a, b, a]", "0 and 2"),
                                              ("{'p': a, 'q': a}", "0 and 1")])
def test_input_listed_twice_is_refused(tmp_path, inputs, positions):
    expect_error(GRAPH + f"keras.Model({inputs}, layers.Dense(2)(a))", tmp_path, "ValueError",
                 "the input tensor 'a' is listed twice", f"(positions {positions})")


HAND_MADE = GRAPH + "loose = layers.KerasTensor((None, 3), 'float32', name='loose')\n"


@pytest.mark.parametrize("outputs, named", [("loose", "'loose'"), ("layers.Dense(2, name='head')(loose)", "'head/0/0'"),
                                            ("layers.Add(name='joined')([a, loose])", "'joined/0/0'"),
                                            ("[layers.Dense(2)(a), loose]", "'loose'")])
def test_output_from_a_tensor_no_layer_made_is_refused(tmp_path, outputs, named):
    """An output that no keras.Input determines (it comes from a KerasTensor made by hand) is refused, naming
    the output and the loose tensor, before the graph is walked."""
    expect_error(HAND_MADE + f"keras.Model(a, {outputs})", tmp_path, "ValueError", f"the output {named}",
                 "from the tensor(s) ['loose'], which no layer made", "no input of ['a']")


def test_output_of_a_node_without_inputs_is_refused(tmp_path):
    """A node with no input tensors that is not an Input (a constant): its output depends on no input."""
    code = HAND_MADE + "layers.Node(layers.Dense(2, name='const'), (), {}, [loose])\nkeras.Model(a, loose)"
    expect_error(code, tmp_path, "ValueError", "the output 'loose' does not depend on any of the model's inputs "
                                               "['a']")


def test_input_that_no_layer_made_is_refused(tmp_path):
    expect_error(HAND_MADE + "keras.Model(loose, layers.Dense(2)(a))", tmp_path, "ValueError",
                 "input tensors must come from keras.Input, got the tensor 'loose', made by no layer")


@pytest.mark.parametrize("outputs", ["b", "layers.Dense(2, name='head')(b)", "layers.Add(name='joined')([a, b])",
                                     "[layers.Dense(2)(a), b]"])
def test_output_from_an_input_not_given_names_that_input(tmp_path, outputs):
    expect_error(GRAPH + f"keras.Model(a, {outputs})", tmp_path, "ValueError", "Graph disconnected", "['b']",
                 "not among the model's inputs ['a']")


def test_input_list_keeps_each_value(tmp_path):
    """The correct model of two inputs uses each one's own data (the duplicate-input bug used x2 for both)."""
    a = keras.Input((3,), name="a")
    b = keras.Input((3,), name="b")
    model = keras.Model([a, b], layers.Subtract()([a, b]))
    x1, x2 = np.ones((2, 3), "float32"), np.full((2, 3), 5.0, "float32")
    np.testing.assert_array_equal(model.predict([x1, x2], verbose=0), x1 - x2)


@pytest.mark.parametrize("layer", ["layers.Flatten(name='flat')", "layers.Reshape((-1,), name='flat')",
                                   "layers.Reshape((2**40, 2**40), name='flat')"])
def test_flatten_reshape_overflow_is_refused(tmp_path, layer):
    expect_error(f"x = keras.Input((2**32, 2**32, 4))\n{layer}(x)", tmp_path, "ValueError", "'flat'",
                 "73786976294838206464 values per sample", "int64")


def test_reshape_target_overflow_is_refused(tmp_path):
    expect_error("x = keras.Input((4,))\nlayers.Reshape((2**32, 2**32, 4), name='re')(x)", tmp_path, "ValueError",
                 "'re'", "target_shape", "int64")


# ------------------------------------------------------------------------------------------------ training config
@pytest.mark.parametrize("change, entry", [
    ({"loss": "Dense"}, "'Dense'"),
    ({"loss": {"class_name": "Dense", "config": {"units": 2}}}, "'Dense' is a Dense, not a loss"),
    ({"metrics": ["nonsense"]}, "Unknown metric entry 'nonsense'"),
    ({"metrics": [{"class_name": "Dense", "config": {"units": 3}}]}, "'Dense'"),
    ({"optimizer_config": {"class_name": "Dense", "config": {"units": 2}}}, "optimizer Dense"),
    ({"optimizer_config": {"class_name": "Nope", "config": {}}}, "optimizer Nope"),
])
def test_training_config_naming_a_non_loss_is_refused(tmp_path, change, entry):
    inputs = keras.Input((3,), name="x")
    model = keras.Model(inputs, layers.Dense(2, name="dense")(inputs))
    model.compile("adam", "mse", metrics=["mae"])
    path = tmp_path / "t.h5"
    model.save(path)
    _edit_config(path, lambda config: config.update(change), attr="training_config")
    message = expect_error(f"keras.models.load_model({str(path)!r})", tmp_path, "ValueError", str(path),
                           "training_config", entry, "compile=False")
    assert "compile=False" in message
    # compile=False still loads the architecture and weights
    loaded = keras.models.load_model(path, compile=False)
    np.testing.assert_array_equal(loaded.get_weights()[0], model.get_weights()[0])


def test_inbound_node_with_unknown_keyword_is_refused_at_load(saved):
    def edit(config):
        _layer(config, "dense")["inbound_nodes"][0][0][3] = {"bogus": 1}
    _edit_config(saved / "m.h5", edit)
    expect_error(f"keras.models.load_model({str(saved / 'm.h5')!r})", saved, "ValueError", str(saved / "m.h5"),
                 "Layer 'dense' (Dense): call() got unexpected keyword argument(s) ['bogus']; it takes ['inputs']")


def test_unknown_call_keyword_names_the_layer():
    inputs = keras.Input((3,), name="x")
    with pytest.raises(TypeError, match=r"Layer 'proj' \(Dense\): call\(\) got unexpected keyword argument\(s\) "
                                        r"\['bogus'\]"):
        layers.Dense(2, name="proj")(inputs, bogus=1)
    with pytest.raises(TypeError, match=r"Layer 'drop' \(Dropout\).*\['noise'\]; it takes \['inputs', 'training'\]"):
        layers.Dropout(0.5, name="drop")(np.ones((2, 3), "float32"), noise=2)


# ------------------------------------------------------------------------------------------------ labels
@pytest.mark.parametrize("labels, fragments", [
    ("np.array([0, 1, 2, 5, 0, 1])", ("labels must lie in [0, 3)", "(6, 3)", "0 to 5")),
    ("np.array([0, 1, -1, 0, 0, 0])", ("labels must lie in [0, 3)", "-1 to 1")),
    ("np.eye(3)[[0, 1, 2, 0, 1, 2]]", ("y_true of shape (6, 3)", "one-hot", "categorical_crossentropy")),
])
def test_sparse_loss_names_itself_and_the_shapes(tmp_path, labels, fragments):
    code = f"keras.losses.SparseCategoricalCrossentropy()({labels}, np.full((6, 3), 1 / 3, 'float32'))"
    expect_error(code, tmp_path, "ValueError", "sparse_categorical_crossentropy", *fragments)
    fit = (SMALL_MODEL.replace("Dense(2", "Dense(3") + "model.compile('sgd', 'sparse_categorical_crossentropy')\n"
           f"model.fit(np.ones((6, 3), 'float32'), {labels}, verbose=0)\n")
    expect_error(fit, tmp_path, "ValueError", "sparse_categorical_crossentropy", *fragments)


def test_sparse_loss_accepts_a_trailing_axis_of_one():
    loss = keras.losses.SparseCategoricalCrossentropy()
    value = loss(np.array([[0], [2]]), np.array([[0.5, 0.25, 0.25], [0.25, 0.25, 0.5]], "float32"))
    np.testing.assert_allclose(float(value), -np.log(0.5), rtol=1e-6)


# ------------------------------------------------------------------------------------------------ data
def test_predict_casts_a_large_uint8_input_per_batch(tmp_path):
    """256k MNIST-sized uint8 samples (200 MB): a float32 copy of them all (800 MB) does not fit the child's
    budget, batches do; the answers are those of the same data given as float32."""
    body = """
rng = np.random.default_rng(0)
inputs = keras.Input((784,))
model = keras.Model(inputs, layers.Dense(2, name="dense")(inputs))
x = np.zeros((262144, 784), np.uint8)
x[:64] = rng.integers(0, 256, (64, 784), dtype=np.uint8)
out = model.predict(x, batch_size=4096, verbose=0)
assert out.shape == (262144, 2), out.shape
np.testing.assert_allclose(out[:64], model.predict(x[:64].astype(np.float32), verbose=0), rtol=1e-5, atol=1e-3)
np.testing.assert_allclose(out[64:], np.broadcast_to(model.get_weights()[1], (262144 - 64, 2)), rtol=1e-6)
"""
    outcome = run_child(body, tmp_path, budget=600 << 20, timeout=180)
    assert outcome["type"] is None, outcome


def test_predict_per_batch_keeps_input_checks():
    inputs = keras.Input((4,), name="x")
    model = keras.Model(inputs, layers.Dense(2)(inputs))
    with pytest.raises(ValueError, match="'x'"):
        model.predict(np.zeros((70000, 5), np.uint8), verbose=0)


@pytest.mark.parametrize("name", ["m.h5", "m.keras", "m.weights.h5"])
def test_no_space_left_keeps_the_old_file(tmp_path, monkeypatch, name):
    import errno
    inputs = keras.Input((3,), name="x")
    model = keras.Model(inputs, layers.Dense(2, name="dense")(inputs))
    path = tmp_path / name
    save = model.save_weights if name.endswith(".weights.h5") else model.save
    save(path)
    before = path.read_bytes()

    def full_disk(fd):
        raise OSError(errno.ENOSPC, "No space left on device")
    monkeypatch.setattr(os, "fsync", full_disk)
    model.set_weights([w + 1.0 for w in model.get_weights()])
    with pytest.raises(OSError, match=f"Cannot save to {path}: No space left on device") as caught:
        save(path)
    assert caught.value.errno == errno.ENOSPC
    assert path.read_bytes() == before and os.listdir(tmp_path) == [name]


def test_weight_cap_from_the_environment(saved, monkeypatch):
    monkeypatch.setenv("MINIGRAPH_MAX_WEIGHT_BYTES", "4")
    with pytest.raises(ValueError, match="'dense'.*8 bytes.*limit of 4 bytes"):
        keras.models.load_model(saved / "m.h5")
    monkeypatch.setenv("MINIGRAPH_MAX_WEIGHT_BYTES", "lots")
    with pytest.raises(ValueError, match="MINIGRAPH_MAX_WEIGHT_BYTES must be an int"):
        keras.models.load_model(saved / "m.h5")
    monkeypatch.delenv("MINIGRAPH_MAX_WEIGHT_BYTES")
    assert keras.models.load_model(saved / "m.h5").get_weights()[0].shape == (3, 2)
    with pytest.raises(ValueError, match="positive int"):
        keras.saving.set_max_weight_bytes(0)
