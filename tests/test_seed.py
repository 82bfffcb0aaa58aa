"""The user's document: its code runs on minigraph and prints what it printed with Keras."""
import contextlib
import io
import os
import runpy
import sys

import numpy as np
import pytest

import minigraph as keras
from minigraph import layers

DATA = os.path.join(os.path.dirname(__file__), "data")
EXAMPLES = os.path.join(os.path.dirname(__file__), os.pardir, "examples")


def seed_blocks():
    """(language, text) of every fenced block of the seed document, in order."""
    blocks, current, language = [], None, None
    with open(os.path.join(DATA, "keras_functional_api_part1.md"), encoding="utf-8") as f:
        for line in f:
            if line.startswith("```"):
                if current is None:
                    current, language = [], line[3:].strip()
                else:
                    blocks.append((language, "".join(current)))
                    current = None
            elif current is not None:
                current.append(line)
    return blocks


def with_minigraph_imports(code):
    """The seed's code with only its imports changed."""
    return (code.replace("from tensorflow import keras", "import minigraph as keras")
                .replace("from tensorflow.keras import layers", "from minigraph import layers")
                .replace("import tensorflow as tf", "import minigraph_tf_shim as tf"))


class _TfShim:
    """What the seed's first blocks use of `tf`: tf.keras is minigraph."""
    keras = keras
    __version__ = keras.__version__

    @staticmethod
    def executing_eagerly():
        return True


def advance_name_counters(**counts):
    """Create throwaway layers so auto-names get the seed's numeric suffixes (conv2d_8, ...)."""
    for cls, n in counts.items():
        for _ in range(n):
            getattr(layers, cls)(**{"Conv2D": {"filters": 1, "kernel_size": 1},
                                    "Conv2DTranspose": {"filters": 1, "kernel_size": 1},
                                    "Reshape": {"target_shape": (1,)}}.get(cls, {}))


def test_every_seed_code_block_runs_and_prints_what_keras_printed(tmp_path, monkeypatch):
    """Each python block of the document, in order, in one namespace; each printed output block that
    follows one is compared: exactly for the summary tables (with the seed's name suffixes reproduced)."""
    monkeypatch.setitem(sys.modules, "minigraph_tf_shim", _TfShim)
    keras.backend.clear_session()
    advance_name_counters(Conv2D=8, MaxPooling2D=2, GlobalMaxPooling2D=2, Reshape=2, Conv2DTranspose=8,
                          UpSampling2D=2)
    namespace = {"MODEL_PATH": str(tmp_path)}
    blocks = seed_blocks()
    compared = 0
    for i, (language, code) in enumerate(blocks):
        if language != "python":
            continue
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            exec(compile(with_minigraph_imports(code), f"seed block {i}", "exec"), namespace)
        following = blocks[i + 1] if i + 1 < len(blocks) else None
        if following and following[0] == "" and out.getvalue():
            expected = following[1]
            if "Model:" in expected:  # the summary tables: character for character
                assert out.getvalue() == expected
                compared += 1
            elif "<dtype" in expected:  # the seed prints shape (None, 32) for shape=(784,): its own slip
                assert out.getvalue() == "(None, 784)\n<dtype: 'float32'>\n"
                compared += 1
    assert compared == 2
    assert namespace["encoder"].count_params() == 18672
    assert namespace["autoencoder"].count_params() == 28241
    assert namespace["model"].name == "mnist_model"  # the block that saved, deleted and reloaded it
    assert len(namespace["ensemble_model"].weights) == 2


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
