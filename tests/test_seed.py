"""The user's document: its code runs on minigraph and prints what it printed with Keras."""
import contextlib
import io
import os
import runpy

import numpy as np
import pytest

import minigraph as keras
from minigraph import layers

DATA = os.path.join(os.path.dirname(__file__), "data")
EXAMPLES = os.path.join(os.path.dirname(__file__), os.pardir, "examples")


def seed_output_blocks():
    """The plain (output) code blocks of the seed document, in order."""
    blocks, current, language = [], None, None
    with open(os.path.join(DATA, "keras_functional_api_part1.md"), encoding="utf-8") as f:
        for line in f:
            if line.startswith("```"):
                if current is None:
                    current, language = [], line[3:].strip()
                else:
                    if not language:
                        blocks.append("".join(current))
                    current = None
            elif current is not None:
                current.append(line)
    return blocks


def advance_name_counters(**counts):
    """Create throwaway layers so auto-names get the seed's numeric suffixes (conv2d_8, ...)."""
    keras.backend.clear_session()
    for cls, n in counts.items():
        for _ in range(n):
            getattr(layers, cls)(**{"Conv2D": {"filters": 1, "kernel_size": 1},
                                    "Conv2DTranspose": {"filters": 1, "kernel_size": 1},
                                    "Reshape": {"target_shape": (1,)}}.get(cls, {}))


def test_encoder_and_autoencoder_summaries_match_the_seed_exactly():
    expected = next(b for b in seed_output_blocks() if 'Model: "encoder"' in b)
    advance_name_counters(Conv2D=8, MaxPooling2D=2, GlobalMaxPooling2D=2, Reshape=2, Conv2DTranspose=8,
                          UpSampling2D=2)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        encoder_input = keras.Input(shape=(28, 28, 1), name="img")
        x = layers.Conv2D(16, 3, activation="relu")(encoder_input)
        x = layers.Conv2D(32, 3, activation="relu")(x)
        x = layers.MaxPooling2D(3)(x)
        x = layers.Conv2D(32, 3, activation="relu")(x)
        x = layers.Conv2D(16, 3, activation="relu")(x)
        encoder_output = layers.GlobalMaxPooling2D()(x)
        encoder = keras.Model(encoder_input, encoder_output, name="encoder")
        encoder.summary()
        x = layers.Reshape((4, 4, 1))(encoder_output)
        x = layers.Conv2DTranspose(16, 3, activation="relu")(x)
        x = layers.Conv2DTranspose(32, 3, activation="relu")(x)
        x = layers.UpSampling2D(3)(x)
        x = layers.Conv2DTranspose(16, 3, activation="relu")(x)
        decoder_output = layers.Conv2DTranspose(1, 3, activation="relu")(x)
        autoencoder = keras.Model(encoder_input, decoder_output, name="autoencoder")
        autoencoder.summary()
    assert out.getvalue() == expected
    assert encoder.count_params() == 18672 and autoencoder.count_params() == 28241


def test_input_shape_and_dtype_print_as_in_keras():
    inputs = keras.Input(shape=(784,))
    assert str(inputs.shape) == "(None, 784)"
    assert str(inputs.dtype) == "<dtype: 'float32'>"
    assert keras.Input(shape=(32, 32, 3)).shape == (None, 32, 32, 3)


def test_walkthrough_runs_and_nested_models_share_weights():
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        ns = runpy.run_path(os.path.join(EXAMPLES, "seed_walkthrough.py"))
    text = out.getvalue()
    assert "Total params: 18,672" in text and "Total params: 28,241" in text
    autoencoder, encoder, decoder = ns["autoencoder"], ns["encoder"], ns["decoder"]
    assert [type(layer).__name__ for layer in autoencoder.layers] == ["InputLayer", "Functional", "Functional"]
    assert autoencoder.count_params() == 28241
    # calling a model nests it: the weights are the same objects, not copies
    assert autoencoder.layers[1] is encoder
    assert {id(w) for w in autoencoder.weights} == {id(w) for w in encoder.weights + decoder.weights}
    x = np.random.default_rng(0).random((3, 28, 28, 1), dtype=np.float32)
    np.testing.assert_allclose(autoencoder.predict(x), decoder.predict(encoder.predict(x)), rtol=1e-6)
    # the ensemble calls model1 three times: one weight set, average of three equal outputs
    ensemble, model1 = ns["ensemble_model"], ns["model1"]
    assert len(ensemble.weights) == 2 and ensemble.weights[0] is model1.weights[0]
    x = np.random.default_rng(1).random((4, 128), dtype=np.float32)
    np.testing.assert_allclose(ensemble.predict(x), model1.predict(x), rtol=1e-6)
    loaded = ns["model"]
    assert loaded.name == "mnist_model" and loaded.count_params() == 55050


@pytest.mark.parametrize("n_calls", [1, 3])
def test_shared_model_gradients_add_up(n_calls):
    """A model called n times in a graph gets n times the gradient of one call (same inputs)."""
    keras.utils.set_random_seed(3)
    inner_in = keras.Input(shape=(5,))
    inner = keras.Model(inner_in, layers.Dense(1)(inner_in))
    inputs = keras.Input(shape=(5,))
    outs = [inner(inputs) for _ in range(n_calls)]
    outer = keras.Model(inputs, layers.add(outs) if n_calls > 1 else outs[0])
    x = np.random.default_rng(0).random((8, 5), dtype=np.float32)
    with keras.autodiff.Tape() as tape:
        loss = keras.ops.sum(outer(x))
    grads = tape.gradient(loss, inner.trainable_weights)
    np.testing.assert_allclose(grads[0], n_calls * x.sum(axis=0)[:, None], rtol=1e-5)
    np.testing.assert_allclose(grads[1], [n_calls * 8.0], rtol=1e-6)
