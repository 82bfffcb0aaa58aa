"""Callbacks driven by hand, as fit would drive them, against a fake model that records what it is asked."""
import math

import numpy as np
import pytest

from minigraph import callbacks


class FakeModel:
    def __init__(self):
        self.stop_training = False
        self.history = None
        self.weights = [np.zeros(2)]
        self.saved = []

    def get_weights(self):
        return [w.copy() for w in self.weights]

    def set_weights(self, weights):
        self.weights = [w.copy() for w in weights]

    def save(self, path, overwrite=True):
        self.saved.append(("model", path))

    def save_weights(self, path, overwrite=True):
        self.saved.append(("weights", path))


def fit(cbs, epoch_logs, model=None, batches=0, batch_logs=None):
    """Drive `cbs` over epochs: epoch e sets the model weights to [e, e] and ends with epoch_logs[e]."""
    model = model or FakeModel()
    cl = callbacks.CallbackList(cbs, add_history=True, model=model, epochs=len(epoch_logs))
    cl.on_train_begin()
    for epoch, logs in enumerate(epoch_logs):
        cl.on_epoch_begin(epoch)
        for batch in range(batches):
            cl.on_train_batch_begin(batch)
            cl.on_train_batch_end(batch, (batch_logs or {}).get((epoch, batch), {"loss": 1.0}))
        model.weights = [np.full(2, float(epoch))]
        cl.on_epoch_end(epoch, dict(logs))
        if model.stop_training:
            break
    cl.on_train_end()
    return model


def losses_logs(*values, key="val_loss"):
    return [{key: v} for v in values]


# ----------------------------------------------------------------------------------------------- History, list
def test_history_records_each_epoch_and_sets_model_history():
    model = fit([], [{"loss": 0.5, "acc": 0.1}, {"loss": 0.25, "acc": 0.2}])
    assert model.history.history == {"loss": [0.5, 0.25], "acc": [0.1, 0.2]}
    assert model.history.epoch == [0, 1]


def test_callback_list_calls_in_order_and_routes_batch_aliases():
    calls = []

    class Recorder(callbacks.Callback):
        def __init__(self, tag):
            super().__init__()
            self.tag = tag

        def on_batch_end(self, batch, logs=None):  # the old name still receives training batches
            calls.append((self.tag, "batch_end", batch, logs))

        def on_epoch_end(self, epoch, logs=None):
            calls.append((self.tag, "epoch_end", epoch, logs))

    model = FakeModel()
    a, b = Recorder("a"), Recorder("b")
    cl = callbacks.CallbackList([a, b], model=model, epochs=3)
    assert a.model is model and b.params == {"epochs": 3} and len(cl) == 2
    cl.on_train_batch_end(0, {"loss": 1.0})
    cl.on_batch_end(1)
    cl.on_epoch_end(0)
    cl.on_test_begin()  # hooks nobody overrides are no-ops
    assert calls == [("a", "batch_end", 0, {"loss": 1.0}), ("b", "batch_end", 0, {"loss": 1.0}),
                     ("a", "batch_end", 1, {}), ("b", "batch_end", 1, {}),
                     ("a", "epoch_end", 0, {}), ("b", "epoch_end", 0, {})]


def test_callback_list_reuses_a_given_history():
    history = callbacks.History()
    cl = callbacks.CallbackList([history], add_history=True, model=FakeModel())
    assert cl.callbacks == [history] and cl.model.history is history


# ----------------------------------------------------------------------------------------------- EarlyStopping
def test_early_stopping_patience():
    stopper = callbacks.EarlyStopping(patience=2)
    model = fit([stopper], losses_logs(1.0, 0.8, 0.9, 0.85, 0.7))
    assert model.stop_training and stopper.stopped_epoch == 3  # epochs 2 and 3 did not beat 0.8
    assert model.history.epoch == [0, 1, 2, 3] and stopper.best == 0.8


def test_early_stopping_improvements_return_before_the_patience_check():
    stopper = callbacks.EarlyStopping(monitor="loss", patience=0, baseline=0.5)
    model = fit([stopper], losses_logs(1.0, 0.9, 0.95, key="loss"))
    # epochs 0 and 1 improve but miss the baseline, so wait is not reset, yet neither stops
    assert stopper.stopped_epoch == 2 and model.stop_training and stopper.wait == 3


def test_early_stopping_never_stops_at_epoch_0():
    stopper = callbacks.EarlyStopping(patience=0)
    model = fit([stopper], losses_logs(np.inf, 1.0, 2.0))  # inf does not beat the initial inf
    assert stopper.stopped_epoch == 2 and model.history.epoch == [0, 1, 2]


def test_early_stopping_min_delta_and_auto_mode_for_accuracy():
    stopper = callbacks.EarlyStopping(monitor="val_accuracy", min_delta=0.05, patience=1)
    assert stopper.monitor_op is np.greater and stopper.min_delta == 0.05
    model = fit([stopper], losses_logs(0.5, 0.52, 0.60, 0.62, key="val_accuracy"))
    # 0.52 is not 0.05 better than 0.5: stop at epoch 1
    assert stopper.stopped_epoch == 1 and model.history.epoch == [0, 1]
    for monitor, op in [("acc", np.greater), ("val_auc", np.greater), ("val_loss", np.less), ("mse", np.less)]:
        assert callbacks.EarlyStopping(monitor=monitor).monitor_op is op
    assert callbacks.EarlyStopping(monitor="val_loss", mode="max").monitor_op is np.greater


def test_early_stopping_restores_best_weights_at_train_end():
    stopper = callbacks.EarlyStopping(patience=1, restore_best_weights=True, verbose=1)
    model = fit([stopper], losses_logs(1.0, 0.5, 0.7, 0.6))
    assert stopper.stopped_epoch == 2 and stopper.best_epoch == 1
    np.testing.assert_array_equal(model.weights[0], [1.0, 1.0])  # epoch 1's weights


def test_early_stopping_restores_even_without_stopping():
    model = fit([callbacks.EarlyStopping(patience=5, restore_best_weights=True)], losses_logs(0.4, 0.6, 0.7))
    assert not model.stop_training
    np.testing.assert_array_equal(model.weights[0], [0.0, 0.0])


def test_early_stopping_start_from_epoch_and_missing_monitor(caplog):
    stopper = callbacks.EarlyStopping(patience=0, start_from_epoch=2)
    model = fit([stopper], losses_logs(0.1, 0.9, 1.0, 1.1))
    assert stopper.stopped_epoch == 3  # epochs 0 and 1 are ignored: 1.0 at epoch 2 is the first best
    model = fit([callbacks.EarlyStopping()], losses_logs(1.0, 2.0, key="loss"))
    assert not model.stop_training and "val_loss" in caplog.text


def test_early_stopping_prints_like_keras(capsys):
    fit([callbacks.EarlyStopping(patience=0, verbose=1)], losses_logs(1.0, 2.0))
    assert capsys.readouterr().out == "Epoch 2: early stopping\n"


# ----------------------------------------------------------------------------------------------- ModelCheckpoint
def test_checkpoint_every_epoch_formats_the_path(tmp_path):
    path = str(tmp_path / "ckpt" / "m-{epoch:02d}-{val_loss:.2f}.h5")
    model = fit([callbacks.ModelCheckpoint(path)], losses_logs(0.5, 0.25))
    assert model.saved == [("model", str(tmp_path / "ckpt" / "m-01-0.50.h5")),
                           ("model", str(tmp_path / "ckpt" / "m-02-0.25.h5"))]
    assert (tmp_path / "ckpt").is_dir()  # created for the save


def test_checkpoint_save_best_only_and_weights_only(tmp_path):
    cb = callbacks.ModelCheckpoint(str(tmp_path / "w{epoch}.h5"), save_best_only=True, save_weights_only=True)
    model = fit([cb], losses_logs(0.5, 0.7, 0.4, 0.4))
    assert model.saved == [("weights", str(tmp_path / "w1.h5")), ("weights", str(tmp_path / "w3.h5"))]
    assert cb.best == 0.4


def test_checkpoint_auto_mode_maximises_when_acc_is_in_the_name(tmp_path):
    cb = callbacks.ModelCheckpoint(str(tmp_path / "m.h5"), monitor="val_acc_top5", save_best_only=True)
    model = fit([cb], losses_logs(0.5, 0.7, 0.6, key="val_acc_top5"))
    assert [p for _, p in model.saved] == [str(tmp_path / "m.h5")] * 2 and cb.best == 0.7
    assert callbacks.ModelCheckpoint("m.h5", monitor="val_auc").monitor_op is np.less  # unlike EarlyStopping


def test_checkpoint_initial_threshold_and_missing_monitor(tmp_path, caplog):
    cb = callbacks.ModelCheckpoint(str(tmp_path / "m.h5"), save_best_only=True, initial_value_threshold=0.3)
    assert fit([cb], losses_logs(0.5, 0.2)).saved == [("model", str(tmp_path / "m.h5"))]
    cb = callbacks.ModelCheckpoint(str(tmp_path / "m.h5"), save_best_only=True)
    assert fit([cb], losses_logs(0.5, key="loss")).saved == []
    assert "val_loss" in caplog.text


def test_checkpoint_every_n_batches_across_epochs(tmp_path):
    cb = callbacks.ModelCheckpoint(str(tmp_path / "e{epoch}b{batch}.h5"), save_freq=3)
    model = fit([cb], losses_logs(1.0, 1.0), batches=4)
    # 8 batches in all, counted across the epoch boundary: saves after the 3rd and 6th
    assert [p for _, p in model.saved] == [str(tmp_path / "e1b3.h5"), str(tmp_path / "e2b2.h5")]


def test_checkpoint_errors(tmp_path):
    with pytest.raises(ValueError, match="save_freq"):
        callbacks.ModelCheckpoint("m.h5", save_freq="batch")
    with pytest.raises(KeyError, match="val_acc"):
        fit([callbacks.ModelCheckpoint(str(tmp_path / "{val_acc}.h5"))], losses_logs(1.0))
    with pytest.raises(IOError, match="non-directory"):
        fit([callbacks.ModelCheckpoint(str(tmp_path))], losses_logs(1.0))


# ----------------------------------------------------------------------------------------------- others
@pytest.mark.parametrize("bad", [math.nan, math.inf, np.float32("nan")])
def test_terminate_on_nan(bad, capsys):
    model = fit([callbacks.TerminateOnNaN()], losses_logs(1.0, 1.0, 1.0), batches=3,
                batch_logs={(1, 2): {"loss": bad}})
    assert model.stop_training and model.history.epoch == [0, 1]
    assert capsys.readouterr().out == "Batch 2: Invalid loss, terminating training\n"


def test_terminate_on_nan_leaves_finite_losses_alone():
    assert not fit([callbacks.TerminateOnNaN()], losses_logs(1.0, 1.0), batches=2).stop_training


def test_lambda_callback():
    seen = []
    cb = callbacks.LambdaCallback(on_epoch_end=lambda epoch, logs: seen.append((epoch, logs["val_loss"])),
                                  on_train_begin=lambda logs: seen.append("begin"),
                                  on_batch_end=lambda batch, logs: seen.append(batch),
                                  on_train_end=lambda logs: seen.append("end"))
    fit([cb], losses_logs(0.5, 0.25), batches=2)
    assert seen == ["begin", 0, 1, (0, 0.5), 0, 1, (1, 0.25), "end"]
