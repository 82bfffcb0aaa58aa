"""Files minigraph writes with the vision layers load in tf_keras 2.21 and predict the same.

Runs tf_keras in a subprocess (tests/keras_oracle.py); skips, naming the reason, when it is absent.
"""
import numpy as np
import pytest

import minigraph as keras
from keras_oracle import predict_in_tf_keras, skip_reason
from minigraph import layers

def _vision_model():
    inputs = keras.Input((12, 12, 3), name="img")
    x = layers.Rescaling(0.5, offset=-0.25)(inputs)
    x = layers.ZeroPadding2D(((1, 0), (0, 1)))(x)
    x = layers.Conv2D(6, 3, use_bias=False)(x)
    x = layers.BatchNormalization()(x)
    x = layers.ReLU(max_value=6.0)(x)
    x = layers.DepthwiseConv2D(3, depth_multiplier=2, padding="same", activation="swish")(x)
    x = layers.BatchNormalization(momentum=0.9, epsilon=1e-2)(x)
    x = layers.LeakyReLU(0.1)(x)
    x = layers.AveragePooling2D(2, padding="same")(x)
    x = layers.SeparableConv2D(8, 3, padding="same", activation="gelu")(x)
    x = layers.UpSampling2D(interpolation="bilinear")(x)
    x = layers.Cropping2D(((1, 1), (2, 0)))(x)
    x = layers.PReLU(shared_axes=[1, 2])(x)
    x = layers.LayerNormalization()(x)
    x = layers.GroupNormalization(groups=4)(x)
    x = layers.ELU(0.5)(x)
    x = layers.SpatialDropout2D(0.2)(x)
    x = layers.GlobalAveragePooling2D()(x)
    x = layers.UnitNormalization()(x)
    x = layers.Dense(4)(x)
    outputs = layers.Softmax()(x)
    return keras.Model(inputs, outputs)


def test_vision_model_file_loads_in_tf_keras(tmp_path):
    reason = skip_reason()
    if reason:
        pytest.skip(reason)
    rng = np.random.default_rng(5)
    x = rng.standard_normal((8, 12, 12, 3)).astype("float32")
    model = _vision_model()
    model.compile(optimizer="adam", loss="categorical_crossentropy")
    model.fit(x, np.eye(4, dtype="float32")[rng.integers(0, 4, 8)], epochs=2, batch_size=4, verbose=0)
    assert not np.allclose(model.layers[4].moving_mean.value, 0)  # trained: moving statistics in the file
    predicted, names = predict_in_tf_keras(model, x, tmp_path)
    assert names == [type(layer).__name__ for layer in model.layers]
    np.testing.assert_allclose(predicted, model.predict(x, verbose=0), rtol=1e-5, atol=1e-5)


if __name__ == "__main__":
    sys.exit(pytest.main([__file__, "-q"]))
