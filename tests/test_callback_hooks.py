"""The callback hooks fit, evaluate and predict call, their order, indices and logs, against what tf_keras 2.21
calls on the same model and data (tests/data/callback_hooks.json, made by tests/data/make_callback_hooks.py)."""
import json
import os

import numpy as np
import pytest

import minigraph as keras

REFERENCE = json.load(open(os.path.join(os.path.dirname(__file__), "data", "callback_hooks.json")))
INDEXED = ["on_epoch_begin", "on_epoch_end", "on_train_batch_begin", "on_train_batch_end", "on_test_batch_begin",
           "on_test_batch_end", "on_predict_batch_begin", "on_predict_batch_end"]
PLAIN = ["on_train_begin", "on_train_end", "on_test_begin", "on_test_end", "on_predict_begin", "on_predict_end"]


class Recorder(keras.callbacks.Callback):
    """Records every hook as the oracle script does: (hook, index, logs as floats)."""

    def __init__(self, stop_at=None):
        super().__init__()
        self.calls = []
        self.stop_at = stop_at

    def record(self, hook, index, logs):
        if hook == "on_predict_batch_end":
            logs = {"outputs": np.asarray(logs["outputs"]).tolist()}
        else:
            logs = {k: float(v) for k, v in sorted(logs.items())}
        self.calls.append({"hook": hook, "index": index, "logs": logs})
        if self.stop_at == (hook, index):
            self.model.stop_training = True


def _recording(hook, indexed):
    if indexed:
        return lambda self, index, logs=None: self.record(hook, index, logs)
    return lambda self, logs=None: self.record(hook, None, logs)


for _hook in INDEXED:
    setattr(Recorder, _hook, _recording(_hook, True))
for _hook in PLAIN:
    setattr(Recorder, _hook, _recording(_hook, False))


def arrays():
    return [np.array(REFERENCE[k], dtype=np.float32) for k in ("x", "y", "x_val", "y_val")]


def model():
    inputs = keras.Input((3,))
    m = keras.Model(inputs, keras.layers.Dense(2)(inputs))
    m.set_weights([np.arange(6, dtype="float32").reshape(3, 2) / 10 - 0.2, np.array([0.1, -0.1], "float32")])
    m.compile(keras.optimizers.SGD(0.1), "mse", metrics=["mae"])
    return m


def assert_same_calls(got, expected):
    assert [(c["hook"], c["index"]) for c in got] == [(c["hook"], c["index"]) for c in expected]
    for g, e in zip(got, expected):
        assert sorted(g["logs"]) == sorted(e["logs"]), (g["hook"], g["index"])
        for key, value in e["logs"].items():
            np.testing.assert_allclose(g["logs"][key], value, rtol=1e-5, atol=1e-6, err_msg=f"{g['hook']} {key}")


def test_fit_with_validation_calls_the_hooks_keras_calls():
    x, y, xv, yv = arrays()
    rec = Recorder()
    model().fit(x, y, batch_size=4, epochs=2, validation_data=(xv, yv), shuffle=False, verbose=0, callbacks=[rec])
    assert_same_calls(rec.calls, REFERENCE["fit"])
    assert rec.params == REFERENCE["fit_params"]


def test_evaluate_and_predict_call_their_hooks_with_keras_logs():
    x, y, xv, yv = arrays()
    m = model()
    m.fit(x, y, batch_size=4, epochs=2, validation_data=(xv, yv), shuffle=False, verbose=0)
    rec = Recorder()
    m.evaluate(xv, yv, batch_size=4, verbose=0, callbacks=[rec])
    assert_same_calls(rec.calls, REFERENCE["evaluate"])
    rec = Recorder()
    m.predict(xv, batch_size=4, verbose=0, callbacks=[rec])
    assert_same_calls(rec.calls, REFERENCE["predict"])


def test_stop_training_ends_the_epoch_after_that_batch_but_still_validates():
    x, y, xv, yv = arrays()
    rec = Recorder(stop_at=("on_train_batch_end", 1))
    model().fit(x, y, batch_size=4, epochs=2, validation_data=(xv, yv), shuffle=False, verbose=0, callbacks=[rec])
    assert_same_calls(rec.calls, REFERENCE["fit_stopped"])


def test_generators_call_one_begin_per_batch():
    x, y, _, _ = arrays()

    def batches():
        for i in range(0, 10, 4):
            yield x[i:i + 4], y[i:i + 4]
    rec = Recorder()
    m = model()
    m.fit(batches(), epochs=1, verbose=0, callbacks=[rec])
    hooks = [(c["hook"], c["index"]) for c in rec.calls]
    assert hooks == [("on_train_begin", None), ("on_epoch_begin", 0), ("on_train_batch_begin", 0),
                     ("on_train_batch_end", 0), ("on_train_batch_begin", 1), ("on_train_batch_end", 1),
                     ("on_train_batch_begin", 2), ("on_train_batch_end", 2), ("on_epoch_end", 0),
                     ("on_train_end", None)]
    rec = Recorder()
    m.predict((x[i:i + 4] for i in range(0, 10, 4)), verbose=0, callbacks=[rec])
    assert [c["index"] for c in rec.calls if c["hook"] == "on_predict_batch_begin"] == [0, 1, 2]


def test_predict_batch_end_gives_each_batch_outputs():
    x, _, _, _ = arrays()
    rec = Recorder()
    m = model()
    out = m.predict(x, batch_size=4, verbose=0, callbacks=[rec])
    parts = [np.array(c["logs"]["outputs"]) for c in rec.calls if c["hook"] == "on_predict_batch_end"]
    assert [p.shape for p in parts] == [(4, 2), (4, 2), (2, 2)]
    np.testing.assert_allclose(np.concatenate(parts), out, rtol=1e-6)


def test_a_callback_list_is_accepted_and_history_is_returned():
    x, y, _, _ = arrays()
    rec = Recorder()
    m = model()
    history = m.fit(x, y, batch_size=4, epochs=2, verbose=0, callbacks=keras.callbacks.CallbackList([rec]))
    assert history is m.history and history.epoch == [0, 1] and len(history.history["loss"]) == 2
    assert rec.calls[0]["hook"] == "on_train_begin"


@pytest.mark.parametrize("call", ["evaluate", "predict"])
def test_unknown_arguments_to_evaluate_and_predict_are_refused(call):
    x, y, _, _ = arrays()
    m = model()
    with pytest.raises(TypeError, match="callback"):
        getattr(m, call)(x, callback=[Recorder()])
