"""Every ONNX converter through one check (onnx_check.export_and_compare): a table of small models, one
or more per layer class and option, and a test that the table reaches every class of the CONVERTERS table
and every activation name."""
import numpy as np
import pytest

import minigraph as keras
from minigraph import layers
from onnx_check import export_and_compare, floats, randomize, session

from minigraph.saving import onnx_layers

ACTIVATIONS = ["relu", "relu6", "swish", "silu", "gelu", "hard_sigmoid", "elu", "selu", "softplus", "softsign",
               "exponential", "leaky_relu", "tanh", "sigmoid", "softmax", "linear"]


def _model(shape, make_outputs, dtype="float32"):
    inputs = keras.Input(shape=shape, name="x", dtype=dtype)
    outputs = make_outputs(inputs)
    return keras.Model(inputs, outputs)


def ints(*shape, high=10, seed=0):
    return lambda batch: np.random.default_rng(seed + batch).integers(0, high, (batch,) + shape).astype(np.int32)


def _adapted_normalization(**kwargs):
    layer = layers.Normalization(**kwargs)
    layer.adapt(np.random.default_rng(3).standard_normal((20, 4, 3)) * 3 + 1)
    return layer


def _each(shape, *made):
    """A model applying each layer of `made` to the input: several outputs."""
    return lambda: _model(shape, lambda x: [layer(x) for layer in made])


def _windows_1d(padding):
    return _each((9, 4),
                 layers.Conv1D(4, 3, padding=padding, dilation_rate=2),
                 layers.Conv1D(4, 2, padding=padding, groups=2, activation="tanh"),
                 *([layers.Conv1D(3, 3, strides=2, padding=padding)] if padding != "causal" else []),
                 *([layers.AveragePooling1D(3, strides=2, padding=padding), layers.MaxPooling1D(2, padding=padding),
                    layers.AveragePooling1D(2, padding=padding)] if padding != "causal" else []))


def _windows_2d(padding):
    return _each((7, 6, 4),
                 layers.Conv2D(4, 3, padding=padding, dilation_rate=(2, 1), groups=2),
                 layers.DepthwiseConv2D(3, padding=padding, depth_multiplier=2, activation="relu"),
                 layers.DepthwiseConv2D((2, 3), strides=2, padding=padding, use_bias=False),
                 layers.DepthwiseConv2D(3, padding=padding, dilation_rate=2, activation="relu6"),
                 layers.SeparableConv2D(5, 3, strides=2, padding=padding, depth_multiplier=2, activation="swish"),
                 layers.SeparableConv2D(3, (1, 2), padding=padding, dilation_rate=2, use_bias=False),
                 layers.AveragePooling2D(3, strides=2, padding=padding),
                 layers.AveragePooling2D((2, 3), strides=(1, 2), padding=padding),
                 layers.MaxPooling2D(3, strides=2, padding=padding))


def _merged(a, b):
    return [layers.add([a, b]), layers.subtract([a, b]), layers.multiply([a, b, a]), layers.average([a, b]),
            layers.maximum([a, b]), layers.minimum([a, b]), layers.concatenate([a, b]), layers.add([a])]


def _recurrent_zoo():
    def outputs(x):
        seq = layers.Bidirectional(layers.GRU(3, return_sequences=True))(x)
        return [layers.SimpleRNN(3)(x), layers.LSTM(3, go_backwards=True)(x), layers.GRU(2)(x), seq,
                layers.RNN(layers.LSTMCell(2))(seq), layers.TimeDistributed(layers.Dense(2))(seq)]
    return _model((5, 3), outputs)


CASES = {
    "dense_activations": (_each((6,), *[layers.Dense(4, activation=a) for a in ACTIVATIONS]), floats(6, scale=2)),
    "activation_layers": (_each((3, 4), *[layers.Activation(a) for a in ACTIVATIONS]), floats(3, 4, scale=3)),
    "relu_options": (_each((4, 3), layers.ReLU(), layers.ReLU(max_value=1.5), layers.ReLU(negative_slope=0.1),
                           layers.ReLU(threshold=0.5), layers.ReLU(max_value=6.0),
                           layers.ReLU(max_value=1.2, negative_slope=0.2, threshold=0.3)), floats(4, 3, scale=2)),
    "activation_classes": (_each((4, 3), layers.LeakyReLU(), layers.LeakyReLU(negative_slope=0.05), layers.ELU(),
                                 layers.ELU(alpha=0.7), layers.PReLU(), layers.PReLU(shared_axes=[1]),
                                 layers.Softmax(), layers.Softmax(axis=1), layers.Softmax(axis=[1, 2])),
                           floats(4, 3, scale=2)),
    "windows_1d_valid": (_windows_1d("valid"), floats(9, 4)),
    "windows_1d_same": (_windows_1d("same"), floats(9, 4)),
    "windows_1d_causal": (_windows_1d("causal"), floats(9, 4)),
    "windows_2d_valid": (_windows_2d("valid"), floats(7, 6, 4)),
    "windows_2d_same": (_windows_2d("same"), floats(7, 6, 4)),
    "transposed_conv": (_each((4, 5, 2), layers.Conv2DTranspose(3, 3, strides=2, padding="same"),
                              layers.Conv2DTranspose(2, 3, dilation_rate=2),
                              layers.Conv2DTranspose(2, (3, 2), dilation_rate=(2, 3), padding="same")),
                        floats(4, 5, 2)),
    "transposed_conv_1d": (_each((6, 2), layers.Conv1DTranspose(3, 3, strides=2, padding="same"),
                                 layers.Conv1DTranspose(2, 3, dilation_rate=2, activation="relu"),
                                 layers.Conv1DTranspose(2, 2, strides=3, output_padding=1, use_bias=False)),
                           floats(6, 2)),
    "global_pools": (_each((5, 4), layers.GlobalMaxPooling1D(), layers.GlobalAveragePooling1D(keepdims=True),
                           layers.Reshape((5, 2, 2)), layers.Flatten()), floats(5, 4)),
    "global_pools_2d": (_each((5, 4, 3), layers.GlobalMaxPooling2D(), layers.GlobalAveragePooling2D()),
                        floats(5, 4, 3)),
    "padding_and_cropping_1d": (_each((6, 3), layers.ZeroPadding1D(), layers.ZeroPadding1D((2, 0)),
                                      layers.Cropping1D(), layers.Cropping1D((0, 2)), layers.UpSampling1D(3)),
                                floats(6, 3)),
    "padding_and_cropping_2d": (_each((5, 6, 2), layers.ZeroPadding2D(), layers.ZeroPadding2D(((1, 0), (2, 3))),
                                      layers.Cropping2D(((1, 0), (2, 1))), layers.Cropping2D(1)), floats(5, 6, 2)),
    "upsampling_2d": (_each((3, 4, 2), layers.UpSampling2D(), layers.UpSampling2D((2, 3), interpolation="bilinear"),
                            layers.UpSampling2D(3, interpolation="bilinear")), floats(3, 4, 2)),
    "resizing": (_each((6, 8, 2), layers.Resizing(9, 11), layers.Resizing(4, 3), layers.Resizing(6, 8),
                       layers.Resizing(5, 13, interpolation="nearest"), layers.Resizing(3, 5, interpolation="nearest"),
                       layers.Resizing(5, 5, crop_to_aspect_ratio=True), layers.CenterCrop(4, 5),
                       layers.CenterCrop(7, 7)), floats(6, 8, 2)),
    "shapes": (_each((4, 3), layers.Permute((2, 1)), layers.Reshape((-1,)), layers.Reshape((2, -1, 3)),
                     layers.Flatten(), layers.Flatten(data_format="channels_first")), floats(4, 3)),
    "repeat_vector": (_each((3,), layers.RepeatVector(4)), floats(3)),
    "inference_identities": (_each((4, 4, 2), layers.Dropout(0.5), layers.SpatialDropout2D(0.3),
                                   layers.GaussianNoise(1.0), layers.GaussianDropout(0.4),
                                   layers.ActivityRegularization(l1=0.1)), floats(4, 4, 2)),
    "rescaling_integers": (lambda: _model((4, 3), lambda x: layers.Rescaling(1 / 255, offset=-0.5)(x), "int32"),
                           ints(4, 3, high=256)),
    "normalizations": (_each((4, 3), layers.Rescaling(2.0, offset=1.0), _adapted_normalization(),
                             _adapted_normalization(axis=(1, 2), invert=True),
                             layers.Normalization(axis=None, mean=2.0, variance=4.0),
                             layers.UnitNormalization(), layers.UnitNormalization(axis=[1, 2]),
                             layers.LayerNormalization(), layers.BatchNormalization()), floats(4, 3, scale=3)),
    "group_normalization": (_each((3, 4, 6), layers.GroupNormalization(groups=3), layers.GroupNormalization(
        groups=3, axis=1, center=False), layers.GroupNormalization(groups=6, scale=False)), floats(3, 4, 6)),
    "group_normalization_dynamic_steps": (_each((None, 4), layers.GroupNormalization(groups=2)),
                                          lambda batch: floats(3 + batch, 4)(batch)),
    "merges": (lambda: _model((3,), lambda x: _merged(x, layers.Dense(3)(x))), floats(3)),
    "recurrent": (_recurrent_zoo, floats(5, 3)),
    "embedding_and_masks": (lambda: _model((6,), lambda x: [
        layers.GlobalAveragePooling1D()(layers.Dense(3)(layers.Embedding(10, 4, mask_zero=True)(x))),
        layers.Embedding(10, 2)(x)], "int32"), ints(6, high=3)),
    "masking": (lambda: _model((5, 2), lambda x: [layers.Masking(0.5)(x), layers.Masking()(x),
                                                  layers.GlobalAveragePooling1D()(layers.Masking(0.5)(x))]),
                lambda batch: np.where(floats(5, 1)(batch) > 0, 0.5, floats(5, 2, seed=4)(batch)).astype(np.float32)),
}


def _layer_classes(layer_list):
    for layer in layer_list:
        yield type(layer)
        if isinstance(layer, layers.TimeDistributed):
            yield from _layer_classes([layer.layer])


_BUILT = {}


def built(case):
    """The case's model, made once (the table holds its layers, which one model then owns)."""
    if case not in _BUILT:
        _BUILT[case] = CASES[case][0]()
        _BUILT[case]._name = case
    return _BUILT[case]


@pytest.mark.parametrize("case", sorted(CASES))
def test_converter(tmp_path, case):
    model, make_inputs = built(case), CASES[case][1]
    randomize(model)
    for layer in model.layers:  # moving statistics off their initial 0 and 1
        if isinstance(layer, layers.BatchNormalization):
            layer.moving_variance.assign(np.abs(layer.moving_variance.numpy()) + 0.5)
            layer.moving_mean.assign(layer.moving_mean.numpy() + 0.3)
    export_and_compare(model, make_inputs, tmp_path, batches=(1, 3))


def test_the_table_reaches_every_converter_and_activation():
    used = set()
    for case in CASES:
        used.update(_layer_classes(built(case).layers))
    missing = {cls.__name__ for cls in onnx_layers.CONVERTERS} - {cls.__name__ for cls in used}
    assert not missing, f"converters no case exercises: {sorted(missing)}"
    assert sorted(onnx_layers._ACTIVATIONS) == sorted(ACTIVATIONS)


# ------------------------------------------------------------------------------------------------ masked RNNs
def padded_ids(steps, vocab, seed=0):
    """Ids with padding (0) anywhere: at the ends, in the middle, and a row of padding only."""
    def make(batch):
        rng = np.random.default_rng(seed + batch)
        x = rng.integers(1, vocab, (batch, steps)) * (rng.random((batch, steps)) > 0.4)
        x[0, -2:] = 0  # right-padded
        if batch > 2:
            x[1] = 0  # nothing kept
            x[2, :3] = 0  # left-padded
        return x.astype(np.int32)
    return make


@pytest.mark.parametrize("cls", [layers.SimpleRNN, layers.LSTM, layers.GRU])
def test_masked_recurrent_layers_match_on_any_mask(tmp_path, cls):
    """Any mask, not only right padding: the kept steps run first (ONNX's sequence_lens), and the outputs go
    back to their steps, as Keras's per-step mask rule gives them."""
    tokens = keras.Input(shape=(7,), dtype="int32", name="tokens")
    x = layers.Embedding(6, 3, mask_zero=True)(tokens)
    outs = []
    for k, (backwards, sequences) in enumerate([(False, True), (True, True), (False, False), (True, False)]):
        outs.extend(cls(4, go_backwards=backwards, return_sequences=sequences, return_state=True,
                        name=f"rnn_{k}")(x))
    stacked = cls(3, return_sequences=True, name="first")(x)  # the mask passes on to the next layer
    outs.append(cls(2, name="second")(stacked))
    outs.append(layers.GlobalAveragePooling1D()(stacked))
    both = layers.Bidirectional(cls(2, return_sequences=True))(x)
    outs.append(both)
    outs.append(layers.Bidirectional(cls(2), merge_mode="sum")(both))
    model = keras.Model(tokens, outs, name=f"masked_{cls.__name__.lower()}")
    randomize(model)
    proto = export_and_compare(model, padded_ids(7, 6), tmp_path, batches=(3, 5))
    assert all(len(n.input) > 4 and n.input[4] for n in proto.graph.node if n.op_type == cls.__name__.replace(
        "SimpleRNN", "RNN"))  # every recurrent op has its sequence_lens


def test_masked_rnn_zero_output_and_initial_states(tmp_path):
    tokens = keras.Input(shape=(6,), dtype="int32", name="tokens")
    h, c = keras.Input(shape=(3,), name="h"), keras.Input(shape=(3,), name="c")
    x = layers.Embedding(5, 2, mask_zero=True)(tokens)
    zeroed = layers.RNN(layers.LSTMCell(3), return_sequences=True, zero_output_for_mask=True)(x)
    last = layers.RNN(layers.GRUCell(3), zero_output_for_mask=True, go_backwards=True)(x)
    started = layers.LSTM(3, return_state=True)(x, initial_state=[h, c])
    model = keras.Model([tokens, h, c], [zeroed, last] + started, name="masked_options")
    randomize(model)
    export_and_compare(model, lambda batch: [padded_ids(6, 5)(batch), floats(3, seed=2)(batch),
                                             floats(3, seed=3)(batch)], tmp_path, batches=(4,))


def test_masking_layer_feeds_an_lstm(tmp_path):
    series = keras.Input(shape=(6, 2), name="series")
    x = layers.Masking(mask_value=-1.0)(series)
    model = keras.Model(series, layers.LSTM(3, return_sequences=True)(x), name="masking_lstm")
    randomize(model)

    def make(batch):
        x = floats(6, 2)(batch)
        x[:, 1] = -1.0
        x[0, 4:] = -1.0
        return x
    export_and_compare(model, make, tmp_path, batches=(1, 3))


def test_a_mask_with_no_onnx_form_is_refused(tmp_path):
    tokens = keras.Input(shape=(5,), dtype="int32", name="tokens")
    x = layers.Embedding(9, 4, mask_zero=True)(tokens)
    model = keras.Model(tokens, layers.Softmax(name="scores")(x))
    with pytest.raises(ValueError, match=r"layer 'scores' \(Softmax\) is called with a mask"):
        model.export(tmp_path / "a.onnx")
    scores, keep = keras.Input(shape=(5,), name="scores"), keras.Input(shape=(5,), dtype="bool", name="keep")
    given = keras.Model([scores, keep], layers.Softmax(name="given")(scores, mask=keep))
    with pytest.raises(ValueError, match=r"layer 'given' \(Softmax\) is called with a mask"):
        given.export(tmp_path / "b.onnx")
    assert list(tmp_path.iterdir()) == []


# ------------------------------------------------------------------------------------------------ applications
@pytest.mark.parametrize("name", ["MobileNetV2", "ResNet50"])
def test_applications(tmp_path, name):
    model = getattr(keras.applications, name)(weights=None, input_shape=(32, 32, 3), classes=5)
    randomize(model, seed=2)
    for layer in model.layers:
        if isinstance(layer, layers.BatchNormalization):
            layer.moving_variance.assign(np.abs(layer.moving_variance.numpy()) + 0.5)
    proto = export_and_compare(model, floats(32, 32, 3), tmp_path, batches=(2,))
    assert proto.graph.input[0].name == model.input_names[0]


def test_masks_at_nested_model_boundaries_as_predict(tmp_path):
    """At a nested model's boundary a mask goes on as in the model's own run: today minigraph's nested
    models neither take an outer mask nor give theirs out (Keras passes both), and the export does the same."""
    steps = keras.Input(shape=(6, 3), name="steps")
    reader = keras.Model(steps, layers.GRU(2, return_sequences=True)(steps), name="reader")
    tokens = keras.Input(shape=(6,), dtype="int32", name="tokens")
    embedder = keras.Model(tokens, layers.Embedding(5, 3, mask_zero=True)(tokens), name="embedder")
    outer = keras.Input(shape=(6,), dtype="int32", name="ids")
    x = layers.Embedding(5, 3, mask_zero=True)(outer)
    model = keras.Model(outer, [reader(x), layers.LSTM(2)(embedder(outer))], name="nested_masks")
    randomize(model)
    export_and_compare(model, padded_ids(6, 5), tmp_path, batches=(4,))
