"""ONNX export (`model.export(path, format="onnx")`): every exported model passes onnx.checker, and ONNX
Runtime's outputs equal `model.predict` on batch sizes other than any traced one."""
import os
import re

import numpy as np
import pytest

import minigraph as keras
from minigraph import layers

from keras_oracle import KERAS3_PRELUDE, ORACLE, run_keras3
from guide_models_path import guide_models
from onnx_check import export_and_compare, floats, onnx, session as _session
from onnx_check import randomize as _randomize


# ------------------------------------------------------------------------------------------------ the seed's models
mlp = guide_models.mnist_mlp


def encoder_layers(x):
    x = layers.Conv2D(16, 3, activation="relu")(x)
    x = layers.Conv2D(32, 3, activation="relu")(x)
    x = layers.MaxPooling2D(3)(x)
    x = layers.Conv2D(32, 3, activation="relu")(x)
    x = layers.Conv2D(16, 3, activation="relu")(x)
    return layers.GlobalMaxPooling2D()(x)


def decoder_layers(x):
    x = layers.Reshape((4, 4, 1))(x)
    x = layers.Conv2DTranspose(16, 3, activation="relu")(x)
    x = layers.Conv2DTranspose(32, 3, activation="relu")(x)
    x = layers.UpSampling2D(3)(x)
    x = layers.Conv2DTranspose(16, 3, activation="relu")(x)
    return layers.Conv2DTranspose(1, 3, activation="relu")(x)


def test_mlp(tmp_path):
    model = mlp()
    _randomize(model)
    proto = export_and_compare(model, lambda b: np.random.default_rng(b).random((b, 784), dtype=np.float32),
                               tmp_path)
    assert proto.opset_import[0].version == 17
    graph = proto.graph
    assert [o.name for o in graph.output] == model.output_names
    assert [i.name for i in graph.input] == ["img"]
    assert graph.input[0].type.tensor_type.shape.dim[0].dim_param == "batch"
    assert graph.input[0].type.tensor_type.shape.dim[1].dim_value == 784
    assert graph.output[0].type.tensor_type.shape.dim[0].dim_param == "batch"
    assert sorted({n.op_type for n in graph.node}) == ["Add", "Identity", "MatMul", "Relu", "Softmax"]


def test_autoencoder_flat(tmp_path):
    inputs = keras.Input(shape=(28, 28, 1), name="img")
    model = keras.Model(inputs, decoder_layers(encoder_layers(inputs)), name="autoencoder")
    _randomize(model)
    export_and_compare(model, lambda b: np.random.default_rng(b).random((b, 28, 28, 1), dtype=np.float32),
                       tmp_path)


def test_autoencoder_nested(tmp_path):
    encoder_input = keras.Input(shape=(28, 28, 1), name="original_img")
    encoder = keras.Model(encoder_input, encoder_layers(encoder_input), name="encoder")
    decoder_input = keras.Input(shape=(16,), name="encoded_img")
    decoder = keras.Model(decoder_input, decoder_layers(decoder_input), name="decoder")
    inputs = keras.Input(shape=(28, 28, 1), name="img")
    model = keras.Model(inputs, decoder(encoder(inputs)), name="autoencoder")
    _randomize(model)
    proto = export_and_compare(model, lambda b: np.random.default_rng(b).random((b, 28, 28, 1), dtype=np.float32),
                               tmp_path)
    assert [o.name for o in proto.graph.output] == ["decoder"]  # the outer model's output name


def test_ensemble_of_shared_and_sequential_models(tmp_path):
    def get_model():
        inputs = keras.Input(shape=(128,))
        return keras.Model(inputs, layers.Dense(1, activation="sigmoid")(inputs))
    model1, model2 = get_model(), get_model()
    model3 = keras.Sequential([keras.Input(shape=(128,)), layers.Dense(4, activation="relu"), layers.Dense(1)])
    inputs = keras.Input(shape=(128,), name="features")
    outputs = layers.average([model1(inputs), model1(inputs), model2(inputs), model3(inputs)])
    model = keras.Model(inputs=inputs, outputs=outputs, name="ensemble")
    _randomize(model)
    proto = export_and_compare(model, floats(128), tmp_path)
    assert len(proto.graph.initializer) == 2 + 2 + 4  # model1's weights once, though it is called twice


def test_toy_resnet(tmp_path):
    export_and_compare(guide_models.toy_resnet(), floats(32, 32, 3), tmp_path, batches=(1, 3))


def test_multi_input_multi_output(tmp_path):
    # the functional guide's ticket model, with the merges, Flatten and Concatenate on the way
    title = keras.Input(shape=(12,), name="title")
    body = keras.Input(shape=(6, 4), name="body")
    tags = keras.Input(shape=(12,), name="tags")
    t = layers.Dense(8, activation="tanh")(title)
    b = layers.Flatten()(layers.Dense(2, activation="sigmoid")(body))
    g = layers.Dense(8)(tags)
    merged = [layers.add([t, g]), layers.subtract([t, g]), layers.multiply([t, g, t]),
              layers.average([t, g]), layers.maximum([t, g]), layers.minimum([t, g]), b]
    x = layers.concatenate(merged)
    priority = layers.Dense(1, name="priority")(x)
    department = layers.Dense(4, activation="softmax", name="department")(x)
    model = keras.Model([title, body, tags], [priority, department], name="tickets")
    _randomize(model)
    proto = export_and_compare(model, lambda batch: [floats(12, seed=1)(batch), floats(6, 4, seed=2)(batch),
                                                     floats(12, seed=3)(batch)], tmp_path)
    assert [i.name for i in proto.graph.input] == ["title", "body", "tags"]
    assert [o.name for o in proto.graph.output] == ["priority", "department"]


def test_shared_layer_weights_stored_once(tmp_path):
    shared = layers.Dense(5, activation="tanh")
    a, b = keras.Input(shape=(3,), name="a"), keras.Input(shape=(3,), name="b")
    model = keras.Model([a, b], layers.concatenate([shared(a), shared(b)]), name="siamese")
    _randomize(model)
    proto = export_and_compare(model, lambda batch: [floats(3, seed=1)(batch), floats(3, seed=2)(batch)], tmp_path)
    assert len(proto.graph.initializer) == 2  # one kernel, one bias


def test_sequential_and_activation_layers(tmp_path):
    model = keras.Sequential([keras.Input(shape=(6,)), layers.Dense(5), layers.Activation("sigmoid"),
                              layers.Dense(4), layers.Activation("tanh"), layers.Dense(3, activation="linear"),
                              layers.Activation("relu"), layers.Reshape((3, 1)), layers.Activation("softmax")],
                             name="seq")
    _randomize(model)
    export_and_compare(model, floats(6), tmp_path)


@pytest.mark.parametrize("padding", ["valid", "same"])
@pytest.mark.parametrize("strides", [1, 2, 3])
@pytest.mark.parametrize("kernel", [1, 2, 3, 4])
def test_conv2d_transposes_and_pools(tmp_path, padding, strides, kernel):
    inputs = keras.Input(shape=(5, 6, 2), name="x")
    outs = [layers.Conv2D(3, kernel, strides=strides, padding=padding, name="conv")(inputs),
            layers.MaxPooling2D(kernel, strides=strides, padding=padding, name="pool")(inputs)]
    for op in [None] + list(range(strides)):
        layer = layers.Conv2DTranspose(3, kernel, strides=strides, padding=padding, output_padding=op,
                                       name=f"deconv_{op}")
        try:  # some sizes have no output size that maps back (Keras refuses them too)
            layer.compute_output_shape((None, 5, 6, 2))
            model = keras.Model(inputs, layer(inputs))
            model.predict(np.zeros((1, 5, 6, 2), np.float32), verbose=0)
        except ValueError:
            continue
        outs.append(layer.output)
    model = keras.Model(inputs, outs, name="windows")
    _randomize(model)
    export_and_compare(model, floats(5, 6, 2), tmp_path, batches=(2,))


@pytest.mark.parametrize("padding", ["valid", "same"])
def test_dilated_and_grouped_convolutions(tmp_path, padding):
    """dilation_rate (Conv1D, Conv2D, Conv2DTranspose) and groups (Conv2D) reach ONNX's dilations and group."""
    inputs = keras.Input(shape=(7, 8, 4), name="x")
    outs = [layers.Conv2D(3, 3, dilation_rate=2, padding=padding)(inputs),
            layers.Conv2D(6, (2, 3), dilation_rate=(3, 1), groups=2, padding=padding)(inputs),
            layers.Conv2DTranspose(3, (3, 2), dilation_rate=(2, 3), padding=padding)(inputs),
            layers.Conv2DTranspose(2, 2, dilation_rate=2, padding=padding, activation="relu")(inputs)]
    steps = keras.Input(shape=(9, 2), name="steps")
    outs.append(layers.Conv1D(3, 3, dilation_rate=2, padding="causal" if padding == "same" else padding)(steps))
    model = keras.Model([inputs, steps], outs, name="dilated")
    _randomize(model)
    export_and_compare(model, lambda n: [floats(7, 8, 4)(n), floats(9, 2, seed=1)(n)], tmp_path, batches=(2,))


@pytest.mark.parametrize("padding", ["valid", "same", "causal"])
def test_conv1d_and_1d_pools(tmp_path, padding):
    inputs = keras.Input(shape=(9, 3), name="x")
    x = layers.Conv1D(4, 3, strides=1 if padding == "causal" else 2, padding=padding, activation="relu")(inputs)
    outs = [x, layers.MaxPooling1D(2, padding="same" if padding == "same" else "valid")(x),
            layers.GlobalMaxPooling1D()(x), layers.GlobalAveragePooling1D(keepdims=True)(x),
            layers.GlobalMaxPooling2D(keepdims=True)(layers.Reshape((1, -1, 4))(x))]
    model = keras.Model(inputs, outs, name="conv1d")
    _randomize(model)
    export_and_compare(model, floats(9, 3), tmp_path)


@pytest.mark.parametrize("kwargs", [{"strides": 2}, {"strides": 3, "padding": "same", "output_padding": 1},
                                    {"dilation_rate": 2, "padding": "same", "activation": "relu"}])
def test_conv1d_transpose(tmp_path, kwargs):
    inputs = keras.Input(shape=(7, 3), name="x")
    model = keras.Model(inputs, layers.Conv1DTranspose(4, 3, **kwargs)(inputs), name="deconv1d")
    _randomize(model)
    export_and_compare(model, floats(7, 3), tmp_path)


# ------------------------------------------------------------------------------------------------ sequences
def ids(steps, vocab, seed=0):
    return lambda batch: np.random.default_rng(seed + batch).integers(0, vocab, (batch, steps)).astype(np.int32)


def test_embedding_lstm_text_model(tmp_path):
    tokens = keras.Input(shape=(None,), dtype="int32", name="tokens")
    x = layers.Embedding(50, 8)(tokens)
    x = layers.LSTM(6, return_sequences=True)(x)
    x = layers.LSTM(5)(x)
    outputs = layers.Dense(3, activation="softmax")(x)
    model = keras.Model(tokens, outputs, name="text")
    _randomize(model)
    proto = export_and_compare(model, ids(11, 50), tmp_path)
    assert {"Gather", "LSTM"} <= {n.op_type for n in proto.graph.node}
    session = _session(tmp_path / "text.onnx")  # the sequence length is dynamic too
    x = ids(4, 50, seed=9)(2)
    np.testing.assert_allclose(session.run(None, {"tokens": x})[0], model.predict(x, verbose=0),
                               rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("reset_after", [True, False])
def test_gru(tmp_path, reset_after):
    inputs = keras.Input(shape=(7, 4), name="series")
    seq = layers.GRU(5, return_sequences=True, reset_after=reset_after)(inputs)
    last = layers.GRU(3, go_backwards=True, reset_after=reset_after)(seq)
    model = keras.Model(inputs, [seq, last], name="gru")
    _randomize(model)
    proto = export_and_compare(model, floats(7, 4), tmp_path)
    assert all(a.i == int(reset_after) for n in proto.graph.node if n.op_type == "GRU"
               for a in n.attribute if a.name == "linear_before_reset")


@pytest.mark.parametrize("cls", [layers.SimpleRNN, layers.LSTM, layers.GRU])
def test_recurrent_options(tmp_path, cls):
    inputs = keras.Input(shape=(6, 3), name="x")
    outs = []
    for k, (backwards, sequences) in enumerate([(False, True), (True, True), (True, False)]):
        y = cls(4, go_backwards=backwards, return_sequences=sequences, return_state=True, name=f"rnn_{k}")(inputs)
        outs.extend(y)
    relu = cls(4, activation="relu", name="relu_rnn")(inputs)
    linear = cls(4, activation="linear", use_bias=False, name="linear_rnn")(inputs)
    model = keras.Model(inputs, outs + [relu, linear], name=cls.__name__.lower())
    _randomize(model)
    export_and_compare(model, floats(6, 3), tmp_path)


@pytest.mark.parametrize("merge_mode", ["concat", "sum", "mul", "ave", None])
def test_bidirectional(tmp_path, merge_mode):
    inputs = keras.Input(shape=(5, 3), name="x")
    seq = layers.Bidirectional(layers.LSTM(4, return_sequences=True), merge_mode=merge_mode)(inputs)
    seq = layers.concatenate(seq) if merge_mode is None else seq
    last = layers.Bidirectional(layers.GRU(3), merge_mode=merge_mode)(seq)
    last = layers.concatenate(last) if merge_mode is None else last
    model = keras.Model(inputs, [seq, last], name="bidirectional")
    _randomize(model)
    export_and_compare(model, floats(5, 3), tmp_path)


def test_initial_state_from_inputs(tmp_path):
    x = keras.Input(shape=(4, 3), name="x")
    h, c = keras.Input(shape=(5,), name="h"), keras.Input(shape=(5,), name="c")
    model = keras.Model([x, h, c], layers.LSTM(5)(x, initial_state=[h, c]), name="stateful_start")
    _randomize(model)
    export_and_compare(model, lambda batch: [floats(4, 3)(batch), floats(5, seed=3)(batch), floats(5, seed=5)(batch)],
                       tmp_path)


# ------------------------------------------------------------------------------------------------ refusals
def test_time_distributed(tmp_path):
    inputs = keras.Input(shape=(None, 4, 4, 2), name="frames")
    x = layers.TimeDistributed(layers.Conv2D(3, 3, padding="same", activation="relu"))(inputs)
    x = layers.TimeDistributed(layers.GlobalAveragePooling2D())(x)
    x = layers.TimeDistributed(layers.Dense(2, activation="softmax"))(x)
    model = keras.Model(inputs, x, name="per_frame")
    _randomize(model)
    export_and_compare(model, lambda batch: floats(5, 4, 4, 2)(batch), tmp_path)
    session = _session(tmp_path / "per_frame.onnx")  # another number of steps
    x = floats(2, 4, 4, 2, seed=4)(3)
    np.testing.assert_allclose(session.run(None, {"frames": x})[0], model.predict(x, verbose=0),
                               rtol=1e-4, atol=1e-5)


def test_float64_model(tmp_path):
    inputs = keras.Input(shape=(5,), dtype="float64", name="x")
    model = keras.Model(inputs, layers.Dense(3, activation="tanh", dtype="float64")(inputs), name="f64")
    _randomize(model)
    proto = export_and_compare(model, lambda batch: floats(5)(batch).astype(np.float64), tmp_path)
    assert {i.data_type for i in proto.graph.initializer} == {onnx.TensorProto.DOUBLE}


def test_layer_without_onnx_form_is_named(tmp_path):
    class Doubling(layers.Layer):
        def call(self, inputs):
            return inputs * 2
    inputs = keras.Input(shape=(4, 3), name="x")
    x = Doubling(name="twice")(inputs)
    model = keras.Model(inputs, x)
    with pytest.raises(ValueError, match=r"layer 'twice' \(Doubling\) has no ONNX form"):
        model.export(tmp_path / "m.onnx")
    assert not (tmp_path / "m.onnx").exists()


def test_ops_layer_own_cell_and_activation_are_refused(tmp_path):
    inputs = keras.Input(shape=(4,), name="x")
    model = keras.Model(inputs, keras.ops.exp(layers.Dense(2)(inputs)))
    with pytest.raises(ValueError, match=r"\(OpLambda\) has no ONNX form"):
        model.export(tmp_path / "a.onnx")
    class Doubling(layers.LSTMCell):
        def call(self, inputs, states, training=None):
            h, new_states = super().call(inputs, states, training)
            return h * 2, new_states
    sequences = keras.Input(shape=(5, 3))
    own_cell = keras.Model(sequences, layers.RNN(Doubling(2), name="doubled")(sequences))
    with pytest.raises(ValueError, match=r"layer 'doubled' \(RNN\) runs the cell Doubling"):
        own_cell.export(tmp_path / "d.onnx")
    custom = keras.Model(inputs, layers.Dense(2, activation=lambda v: v * 2, name="odd")(inputs))
    with pytest.raises(ValueError, match=r"layer 'odd' \(Dense\) has the activation"):
        custom.export(tmp_path / "c.onnx")
    assert list(tmp_path.iterdir()) == []


def test_export_arguments(tmp_path):
    model = mlp()
    with pytest.raises(ValueError, match="format='tf_saved_model' is not supported"):
        model.export(tmp_path / "m", format="tf_saved_model")
    with pytest.raises(TypeError, match="unexpected keyword argument"):
        model.export(tmp_path / "m.onnx", dynamic_axes=True)
    with pytest.raises(ValueError, match="opset_version"):
        model.export(tmp_path / "m.onnx", opset_version=13)
    with pytest.raises(ValueError, match="input_signature"):
        model.export(tmp_path / "m.onnx", input_signature=[(None, 784)])
    proto = export_and_compare(model, floats(784), tmp_path, opset_version=18)
    assert proto.opset_import[0].version == 18


def test_global_pools_at_opset_18(tmp_path):
    inputs = keras.Input(shape=(6, 6, 2), name="x")
    model = keras.Model(inputs, [layers.GlobalMaxPooling2D()(inputs), layers.GlobalAveragePooling2D()(inputs)],
                        name="pools")
    export_and_compare(model, floats(6, 6, 2), tmp_path, opset_version=18)


# ------------------------------------------------------------------------------------------------ the README
_README = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "README.md")


def readme_blocks():
    """The python blocks of the README's section "When a model outgrows this machine", in order."""
    text = open(_README, encoding="utf-8").read()
    section = text.split("## When a model outgrows this machine", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```python\n(.*?)```", section, flags=re.S)


def _train_here(folder, monkeypatch):
    """The README's first block, run in `folder` on the MLP with MNIST-shaped data; returns the model."""
    monkeypatch.chdir(folder)
    model = mlp()
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    rng = np.random.default_rng(0)
    x_train, y_train = rng.random((64, 784), dtype=np.float32), rng.integers(0, 10, 64)
    exec(readme_blocks()[0], {"model": model, "x_train": x_train, "y_train": y_train})
    np.savez(folder / "data.npz", x_train=x_train, y_train=y_train)
    return model


def test_readme_blocks_are_the_three_tested_here():
    blocks = readme_blocks()
    assert len(blocks) == 3
    assert 'model.export("m.onnx", format="onnx")' in blocks[0] and "keras.saving.load_model" in blocks[1]
    assert "ort.InferenceSession" in blocks[2]


def test_readme_onnxruntime_serving(tmp_path, monkeypatch):
    model = _train_here(tmp_path, monkeypatch)
    x_test = np.random.default_rng(5).random((13, 784), dtype=np.float32)
    scope = {"x_test": x_test}
    exec(readme_blocks()[2], scope)
    np.testing.assert_allclose(scope["probabilities"], model.predict(x_test, verbose=0), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(keras.models.load_model("m.keras").predict(x_test, verbose=0),
                               model.predict(x_test, verbose=0), rtol=0, atol=0)


_KERAS3_RUN = KERAS3_PRELUDE + """
data = np.load("data.npz")
x_train, y_train = data["x_train"], data["y_train"]
scope = {"x_train": x_train, "y_train": y_train}
exec(open("block.py").read(), scope)
np.save("keras3_predictions.npy", scope["model"].predict(x_train, verbose=0))
print("RAN " + str(int(np.asarray(scope["model"].optimizer.iterations))))
"""


@pytest.mark.skipif(not os.path.exists(ORACLE), reason=f"no Keras 3 interpreter at {ORACLE}")
def test_readme_keras3_round_trip(tmp_path, monkeypatch):
    """Keras 3 runs the README's second block on minigraph's .keras file (fit resumes: the Adam step count
    goes on from minigraph's), and minigraph's load_weights of what Keras 3 saved predicts as Keras 3 does."""
    model = _train_here(tmp_path, monkeypatch)
    (tmp_path / "block.py").write_text(readme_blocks()[1])
    (tmp_path / "run.py").write_text(_KERAS3_RUN)
    run = run_keras3("run.py", cwd=tmp_path)
    assert "RAN " in run.stdout, run.stderr[-3000:]
    assert int(run.stdout.split("RAN ")[1].split()[0]) == 2 * 2  # 2 steps here, then 2 more in Keras 3
    before = model.predict(np.load(tmp_path / "data.npz")["x_train"], verbose=0)
    model.load_weights("m.weights.h5")
    expected = np.load(tmp_path / "keras3_predictions.npy")
    after = model.predict(np.load(tmp_path / "data.npz")["x_train"], verbose=0)
    np.testing.assert_allclose(after, expected, rtol=1e-5, atol=1e-6)
    assert np.abs(after - before).max() > 1e-4  # the weights did change in Keras 3


@pytest.mark.parametrize("center, scale", [(True, True), (False, True), (True, False)])
def test_batch_and_layer_normalization(tmp_path, center, scale):
    inputs = keras.Input((6, 6, 3), name="img")
    x = layers.Conv2D(4, 3, use_bias=False)(inputs)
    x = layers.BatchNormalization(center=center, scale=scale)(x)
    x = layers.Activation("relu")(x)
    x = layers.LayerNormalization(center=center, scale=scale)(x)
    x = layers.LayerNormalization(axis=[2, 3])(x)
    x = layers.BatchNormalization(axis=1)(x)
    model = keras.Model(inputs, layers.GlobalAveragePooling2D()(x), name=f"norms_{center}_{scale}")
    _randomize(model)
    for layer in model.layers:  # moving statistics away from their initial 0 and 1
        if isinstance(layer, layers.BatchNormalization):
            layer.moving_variance.assign(np.abs(layer.moving_variance.numpy()) + 0.5)
    export_and_compare(model, floats(6, 6, 3), tmp_path)


def test_layer_normalization_over_inner_axes_has_no_onnx_form(tmp_path):
    inputs = keras.Input((4, 3))
    model = keras.Model(inputs, layers.LayerNormalization(axis=1)(inputs))
    with pytest.raises(ValueError, match="not the trailing axes"):
        model.export(tmp_path / "m.onnx")
