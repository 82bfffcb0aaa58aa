"""One test harness every layer goes through (as Keras's `run_layer_test`).

`check_layer(cls, kwargs, input_shape)` builds the layer, checks its symbolic and eager output shapes
against each other (and against `expected_output_shape`), its weight counts, its config round trip (the
config survives JSON and rebuilds an equal layer), a `.h5` round trip inside a model (the reloaded model
predicts the same), and one training step (the loss is finite and every trainable weight moves).
"""
import json

import numpy as np

import minigraph as keras


def _inputs(input_shape, input_dtype, input_data, rng):
    shapes = input_shape if isinstance(input_shape, list) else [input_shape]
    if input_data is not None:
        data = input_data if isinstance(input_data, list) else [input_data]
    elif np.dtype(input_dtype).kind in "iu":
        data = [rng.integers(0, 10, size=s).astype(input_dtype) for s in shapes]
    else:
        data = [rng.standard_normal(s).astype(input_dtype) for s in shapes]
    symbolic = [keras.Input(batch_shape=(None,) + tuple(s[1:]), dtype=input_dtype) for s in shapes]
    return shapes, data, symbolic


def check_layer(cls, kwargs, input_shape, *, expected_output_shape=None, expected_output=None,
                expected_trainable=None, expected_non_trainable=None, input_dtype="float32", input_data=None,
                trains=True, tmp_path=None, rtol=1e-6, atol=1e-6, seed=0):
    """Run a layer through every check; returns the model built around it (for further checks)."""
    keras.utils.set_random_seed(seed)  # the same initial weights whatever ran before
    rng = np.random.default_rng(seed)
    shapes, data, symbolic = _inputs(input_shape, input_dtype, input_data, rng)
    multi = isinstance(input_shape, list)

    layer = cls(**kwargs)
    out = layer(symbolic if multi else symbolic[0])
    if expected_output_shape is not None:
        assert tuple(out.shape) == tuple(expected_output_shape), (out.shape, expected_output_shape)
    if expected_trainable is not None:
        assert len(layer.trainable_weights) == expected_trainable, layer.trainable_weights
    if expected_non_trainable is not None:
        assert len(layer.non_trainable_weights) == expected_non_trainable, layer.non_trainable_weights

    eager = np.asarray(layer(data if multi else data[0]))
    batch = shapes[0][0]
    assert eager.shape == (batch,) + tuple(out.shape[1:]), (eager.shape, out.shape)
    if expected_output is not None:
        np.testing.assert_allclose(eager, expected_output, rtol=rtol, atol=atol)

    # config: JSON-serialisable, and a layer rebuilt from it has the same config
    config = layer.get_config()
    config = json.loads(json.dumps(config))
    clone = cls.from_config(config)
    assert json.loads(json.dumps(clone.get_config())) == config

    model = keras.Model(symbolic if multi else symbolic[0], out)
    expected = model.predict(data if multi else data[0], verbose=0)
    np.testing.assert_allclose(expected, eager, rtol=rtol, atol=atol)
    if tmp_path is not None:
        path = str(tmp_path / f"{layer.name}.h5")
        model.save(path)
        loaded = keras.models.load_model(path, compile=False)
        np.testing.assert_allclose(loaded.predict(data if multi else data[0], verbose=0), expected,
                                   rtol=rtol, atol=atol)

    if trains:
        model.compile(optimizer=keras.optimizers.SGD(0.1), loss="mse")
        before = [w.copy() for w in (np.asarray(v.value) for v in model.trainable_weights)]
        target = rng.standard_normal(eager.shape).astype("float32")
        loss = model.train_on_batch(data if multi else data[0], target)
        assert np.isfinite(loss)
        for old, var in zip(before, model.trainable_weights):
            assert not np.array_equal(old, var.value), f"{var.name} did not move in a training step"
    return model
