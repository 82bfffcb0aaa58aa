"""Record the callback hooks tf_keras 2.21 calls, with their index and logs, for tests/test_callback_hooks.py.

Run with the oracle: /work/oracle/bin/python tests/data/make_callback_hooks.py  (writes callback_hooks.json)
The model is Dense(2) on 3 inputs with fixed weights, SGD(0.1), mse with metric mae: fit (10 samples, batch 4,
2 epochs, validation_data of 6 samples), evaluate (batch 4), predict (batch 4), and a fit whose callback sets
model.stop_training at the second batch of the first epoch. Then ReduceLROnPlateau and LearningRateScheduler
driven by hand over fixed logs (the learning rate after each epoch), the file CSVLogger writes for the fit, and
what fit and evaluate print with verbose=2.
"""
import contextlib
import io
import json
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
import numpy as np
import tf_keras as keras


def data():
    rng = np.random.RandomState(0)
    x = rng.uniform(-1, 1, (10, 3)).astype("float32")
    y = rng.uniform(-1, 1, (10, 2)).astype("float32")
    xv = rng.uniform(-1, 1, (6, 3)).astype("float32")
    yv = rng.uniform(-1, 1, (6, 2)).astype("float32")
    return x, y, xv, yv


def model():
    inputs = keras.Input((3,))
    m = keras.Model(inputs, keras.layers.Dense(2)(inputs))
    m.set_weights([np.arange(6, dtype="float32").reshape(3, 2) / 10 - 0.2, np.array([0.1, -0.1], "float32")])
    m.compile(keras.optimizers.SGD(0.1), "mse", metrics=["mae"])
    return m


class Recorder(keras.callbacks.Callback):
    def __init__(self, stop_at=None):
        super().__init__()
        self.calls = []
        self.stop_at = stop_at

    def _record(self, hook, index, logs):
        entry = {"hook": hook, "index": index}
        if hook.startswith("on_predict_batch_end"):
            entry["logs"] = {"outputs": np.asarray(logs["outputs"]).tolist()}
        else:
            entry["logs"] = {k: float(v) for k, v in sorted((logs or {}).items())}
        self.calls.append(entry)


def _make(hook, indexed):
    if indexed:
        def method(self, index, logs=None):
            self._record(hook, index, logs)
            if self.stop_at == (hook, index):
                self.model.stop_training = True
    else:
        def method(self, logs=None):
            self._record(hook, None, logs)
    return method


for _hook in ["on_train_begin", "on_train_end", "on_test_begin", "on_test_end", "on_predict_begin",
              "on_predict_end"]:
    setattr(Recorder, _hook, _make(_hook, False))
for _hook in ["on_epoch_begin", "on_epoch_end", "on_train_batch_begin", "on_train_batch_end", "on_test_batch_begin",
              "on_test_batch_end", "on_predict_batch_begin", "on_predict_batch_end"]:
    setattr(Recorder, _hook, _make(_hook, True))


REDUCE_LR_MONITOR = [1.0, 0.9, 0.89995, 0.95, 0.9, 0.8, 0.85, 0.86, 0.87, 0.88, 0.7, 0.75, 0.76, 0.77]
REDUCE_LR_ARGS = {"monitor": "val_loss", "factor": 0.5, "patience": 2, "cooldown": 1, "min_lr": 0.02,
                  "min_delta": 1e-4}


def reduce_lr_record():
    m = model()
    cb = keras.callbacks.ReduceLROnPlateau(**REDUCE_LR_ARGS)
    cb.set_model(m)
    cb.on_train_begin()
    lrs = []
    for epoch, value in enumerate(REDUCE_LR_MONITOR):
        logs = {"val_loss": value}
        cb.on_epoch_end(epoch, logs)
        lrs.append({"logged": float(logs["lr"]), "after": float(keras.backend.get_value(m.optimizer.lr))})
    return {"args": REDUCE_LR_ARGS, "monitor": REDUCE_LR_MONITOR, "lr": lrs}


def scheduler_record():
    m = model()
    cb = keras.callbacks.LearningRateScheduler(lambda epoch, lr: lr * 0.5 if epoch % 2 else lr + 0.01)
    cb.set_model(m)
    lrs = []
    for epoch in range(5):
        cb.on_epoch_begin(epoch)
        logs = {"loss": 1.0}
        cb.on_epoch_end(epoch, logs)
        lrs.append(float(logs["lr"]))
    return lrs


def printed_verbose_2(x, y, xv, yv):
    """What fit and evaluate print with verbose=2 (one line per epoch: no timing-dependent redraws)."""
    m = model()
    text = io.StringIO()
    with contextlib.redirect_stdout(text):
        m.fit(x, y, batch_size=4, epochs=2, validation_data=(xv, yv), shuffle=False, verbose=2)
        m.evaluate(xv, yv, batch_size=4, verbose=2)
    return text.getvalue()


def main():
    x, y, xv, yv = data()
    out = {"x": x.tolist(), "y": y.tolist(), "x_val": xv.tolist(), "y_val": yv.tolist()}
    m = model()
    rec = Recorder()
    m.fit(x, y, batch_size=4, epochs=2, validation_data=(xv, yv), shuffle=False, verbose=0, callbacks=[rec])
    out["fit"] = rec.calls
    out["fit_params"] = {k: v for k, v in rec.params.items()}
    rec = Recorder()
    m.evaluate(xv, yv, batch_size=4, verbose=0, callbacks=[rec])
    out["evaluate"] = rec.calls
    rec = Recorder()
    m.predict(xv, batch_size=4, verbose=0, callbacks=[rec])
    out["predict"] = rec.calls
    m = model()
    rec = Recorder(stop_at=("on_train_batch_end", 1))
    m.fit(x, y, batch_size=4, epochs=2, validation_data=(xv, yv), shuffle=False, verbose=0, callbacks=[rec])
    out["fit_stopped"] = rec.calls
    out["reduce_lr"] = reduce_lr_record()
    out["scheduler"] = scheduler_record()
    m = model()
    csv_path = os.path.join(os.environ.get("TMPDIR", "/tmp"), "callback_hooks_log.csv")
    m.fit(x, y, batch_size=4, epochs=2, shuffle=False, verbose=0, callbacks=[keras.callbacks.CSVLogger(csv_path)])
    with open(csv_path) as f:
        out["csv_no_validation"] = f.read()
    out["printed_verbose_2"] = printed_verbose_2(x, y, xv, yv)
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "callback_hooks.json")
    with open(path, "w") as f:
        json.dump(out, f, indent=1)


if __name__ == "__main__":
    main()
