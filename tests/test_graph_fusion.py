"""The graph walk's fusion of a plain ReLU into the BatchNormalization before it (engine/functional.py,
`_fuse_relus`): the fused model computes what the same model computes unfused, in inference, in training
steps (weights and moving statistics) and with a frozen BatchNormalization; where another layer or an output
reads the normalised value, it stays unfused."""
import numpy as np
import pytest

import minigraph as keras
from minigraph import layers


class UnfusedReLU(layers.ReLU):
    """The same ReLU, with a call of its own: the graph walk leaves it alone."""

    def call(self, inputs):
        return super().call(inputs)


class UnfusedActivation(layers.Activation):
    def call(self, inputs):
        return super().call(inputs)


def relu_layer(kind, fused):
    """The ReLU under test, fusable or not: "ReLU", "ReLU6" (ReLU(6.0), MobileNetV2's), "Activation"
    (Activation("relu")) or "relu6" (Activation("relu6"))."""
    if kind in ("ReLU", "ReLU6"):
        cap = 6.0 if kind == "ReLU6" else None
        return layers.ReLU(cap) if fused else UnfusedReLU(cap)
    return layers.Activation(kind.lower() if kind == "relu6" else "relu") if fused else UnfusedActivation(
        "relu6" if kind == "relu6" else "relu")


def bn_cnn(kind, fused, frozen=False, branch=False):
    """frozen: True, a non-trainable BN; "call", a trainable one called with training=False (inference-mode
    statistics, gamma and beta still trained)."""
    inputs = keras.Input((8, 8, 3))
    x = layers.Conv2D(4, 3, padding="same", use_bias=False, name="conv")(inputs)
    bn = layers.BatchNormalization(name="bn")
    normalised = bn(x, training=False) if frozen == "call" else bn(x)
    x = relu_layer(kind, fused)(normalised)
    if branch:  # the normalised value read again: the ReLU cannot run inside the normalisation
        x = layers.add([x, normalised])
    x = layers.GlobalAveragePooling2D()(x)
    model = keras.Model(inputs, layers.Dense(3, name="logits")(x))
    bn.trainable = frozen is not True
    model.compile(optimizer=keras.optimizers.SGD(0.1),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    return model


def fused_steps(model):
    return sum(step.fused is not None for step in model._plan)


@pytest.mark.parametrize("kind", ["ReLU", "ReLU6", "Activation", "relu6"])
@pytest.mark.parametrize("frozen", [False, True, "call"])
@pytest.mark.parametrize("branch", [False, True])
def test_fused_relu_trains_as_the_unfused_model(kind, frozen, branch):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((16, 8, 8, 3)).astype(np.float32)
    y = rng.integers(0, 3, 16)
    fused, plain = bn_cnn(kind, True, frozen, branch), bn_cnn(kind, False, frozen, branch)
    assert fused_steps(fused) == (0 if branch else 1) and fused_steps(plain) == 0
    plain.set_weights(fused.get_weights())
    # a moving variance away from 1 and a shifted mean, so that the frozen case is not the identity
    bn_weights = fused.get_layer("bn").get_weights()
    bn_weights[2][:] = rng.standard_normal(4) * 0.2
    bn_weights[3][:] = rng.uniform(0.5, 2.0, 4)
    for model in (fused, plain):
        model.get_layer("bn").set_weights(bn_weights)
    x[0, :4] *= 20  # some normalised values past relu6's cap
    np.testing.assert_array_equal(fused.predict(x, verbose=0), plain.predict(x, verbose=0))
    np.testing.assert_array_equal(fused(x), plain(x))
    for _ in range(3):
        np.testing.assert_array_equal(fused.train_on_batch(x, y), plain.train_on_batch(x, y))
    for a, b in zip(fused.get_weights(), plain.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_no_fusion_where_the_normalised_value_is_an_output():
    inputs = keras.Input((4,))
    normalised = layers.BatchNormalization()(inputs)
    model = keras.Model(inputs, [layers.ReLU()(normalised), normalised])
    assert fused_steps(model) == 0
    x = np.random.default_rng(1).standard_normal((5, 4)).astype(np.float32)
    relu_out, bn_out = model.predict(x, verbose=0)
    np.testing.assert_array_equal(relu_out, np.maximum(bn_out, 0))
    assert (bn_out < 0).any()


def test_relus_with_a_slope_or_a_threshold_are_not_fused():
    inputs = keras.Input((4,))
    for relu in (layers.ReLU(negative_slope=0.1), layers.ReLU(threshold=0.5), layers.LeakyReLU()):
        assert fused_steps(keras.Model(inputs, relu(layers.BatchNormalization()(inputs)))) == 0


def test_fused_relu6_caps_and_keeps_nan():
    inputs = keras.Input((3,))
    bn = layers.BatchNormalization()
    model = keras.Model(inputs, layers.ReLU(6.0)(bn(inputs)))
    assert fused_steps(model) == 1
    bn.set_weights([np.ones(3), np.zeros(3), np.zeros(3), np.ones(3)])  # inference: x / sqrt(1 + 1e-3)
    x = np.array([[-2.0, 3.0, 9.0], [np.nan, 5.0, 0.0]], np.float32)
    y = model.predict(x, verbose=0)
    assert y[0, 0] == 0 and y[0, 2] == 6 and y[1, 2] == 0 and np.isnan(y[1, 0])
    np.testing.assert_allclose(y[:, 1], np.array([3.0, 5.0]) / np.sqrt(1.001), rtol=1e-6)
