"""Files minigraph writes with the vision layers load in tf_keras 2.21 and predict the same.

Runs tf_keras in a subprocess with the interpreter named by MINIGRAPH_ORACLE_PYTHON (default
/work/oracle/bin/python); skips, naming the reason, when it is absent or has no tf_keras.
"""
import json
import os
import subprocess
import sys

import numpy as np
import pytest

import minigraph as keras
from minigraph import layers

ORACLE = os.environ.get("MINIGRAPH_ORACLE_PYTHON", "/work/oracle/bin/python")

_LOAD = """
import json, sys
import numpy as np
import tf_keras as keras
path, x_path, out_path = sys.argv[1:4]
model = keras.models.load_model(path)
np.save(out_path, model.predict(np.load(x_path), verbose=0))
print(json.dumps([type(l).__name__ for l in model.layers]))
"""


def _oracle_available():
    if not os.path.exists(ORACLE):
        return f"no oracle interpreter at {ORACLE} (set MINIGRAPH_ORACLE_PYTHON)"
    probe = subprocess.run([ORACLE, "-c", "import tf_keras"], capture_output=True, timeout=300)
    return None if probe.returncode == 0 else f"{ORACLE} has no tf_keras"


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
    reason = _oracle_available()
    if reason:
        pytest.skip(reason)
    rng = np.random.default_rng(5)
    x = rng.standard_normal((8, 12, 12, 3)).astype("float32")
    model = _vision_model()
    model.compile(optimizer="adam", loss="categorical_crossentropy")
    model.fit(x, np.eye(4, dtype="float32")[rng.integers(0, 4, 8)], epochs=2, batch_size=4, verbose=0)
    assert not np.allclose(model.layers[4].moving_mean.value, 0)  # trained: moving statistics in the file
    path, x_path, out_path = (str(tmp_path / n) for n in ("m.h5", "x.npy", "pred.npy"))
    model.save(path)
    np.save(x_path, x)
    run = subprocess.run([ORACLE, "-c", _LOAD, path, x_path, out_path], capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr[-3000:]
    names = json.loads(run.stdout.strip().splitlines()[-1])
    assert names == [type(layer).__name__ for layer in model.layers]
    np.testing.assert_allclose(np.load(out_path), model.predict(x, verbose=0), rtol=1e-5, atol=1e-5)


if __name__ == "__main__":
    sys.exit(pytest.main([__file__, "-q"]))
