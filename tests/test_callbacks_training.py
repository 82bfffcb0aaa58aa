"""ReduceLROnPlateau, LearningRateScheduler, CSVLogger, RemoteMonitor, BackupAndRestore, ProgbarLogger and the
progress bar; the Keras numbers come from tests/data/callback_hooks.json (tests/data/make_callback_hooks.py)."""
import contextlib
import http.server
import io
import json
import os
import signal
import subprocess
import sys
import textwrap
import threading
import urllib.parse

import numpy as np
import pytest

import minigraph as keras
from minigraph.callbacks import Progbar

from child_env import child_env

HERE = os.path.dirname(__file__)
REFERENCE = json.load(open(os.path.join(HERE, "data", "callback_hooks.json")))


def model():
    inputs = keras.Input((3,))
    m = keras.Model(inputs, keras.layers.Dense(2)(inputs))
    m.set_weights([np.arange(6, dtype="float32").reshape(3, 2) / 10 - 0.2, np.array([0.1, -0.1], "float32")])
    m.compile(keras.optimizers.SGD(0.1), "mse", metrics=["mae"])
    return m


def data():
    return np.array(REFERENCE["x"], "float32"), np.array(REFERENCE["y"], "float32")


# ------------------------------------------------------------------------------------------ learning rates
def test_reduce_lr_on_plateau_follows_keras_over_a_sequence():
    ref = REFERENCE["reduce_lr"]
    m = model()
    cb = keras.callbacks.ReduceLROnPlateau(**ref["args"])
    cb.set_model(m)
    cb.on_train_begin()
    for epoch, (value, expected) in enumerate(zip(ref["monitor"], ref["lr"])):
        logs = {"val_loss": value}
        cb.on_epoch_end(epoch, logs)
        assert logs["lr"] == pytest.approx(expected["logged"], rel=1e-7)
        assert float(m.optimizer.learning_rate) == pytest.approx(expected["after"], rel=1e-7)


def test_reduce_lr_on_plateau_defaults_and_refusals(caplog):
    cb = keras.callbacks.ReduceLROnPlateau()
    assert (cb.monitor, cb.factor, cb.patience, cb.mode, cb.min_delta, cb.cooldown, cb.min_lr) == \
        ("val_loss", 0.1, 10, "auto", 1e-4, 0, 0)
    with pytest.raises(ValueError, match="factor >= 1.0"):
        keras.callbacks.ReduceLROnPlateau(factor=1.0)
    with pytest.raises(TypeError, match="patiense"):
        keras.callbacks.ReduceLROnPlateau(patiense=3)
    acc = keras.callbacks.ReduceLROnPlateau(monitor="val_accuracy", patience=1)
    acc.set_model(model())
    acc.on_train_begin()
    for epoch, value in enumerate([0.5, 0.6, 0.55]):  # 'auto' maximises accuracy: the third epoch is no better
        acc.on_epoch_end(epoch, {"val_accuracy": value})
    assert float(acc.model.optimizer.learning_rate) == pytest.approx(0.01, rel=1e-6)
    acc.on_epoch_end(3, {"loss": 1.0})
    assert "val_accuracy" in caplog.text


def test_reduce_lr_on_plateau_in_fit_lowers_the_rate_and_logs_it():
    x, y = data()
    m = model()
    history = m.fit(x, y, epochs=3, verbose=0, callbacks=[
        keras.callbacks.ReduceLROnPlateau(monitor="loss", patience=0, factor=0.5, min_delta=10.0)])
    # min_delta=10: only the first epoch improves (on inf); 'lr' is the rate the epoch ran with
    assert history.history["lr"] == pytest.approx([0.1, 0.1, 0.05], rel=1e-6)
    assert float(m.optimizer.learning_rate) == pytest.approx(0.025, rel=1e-6)


def test_learning_rate_scheduler_matches_keras():
    m = model()
    cb = keras.callbacks.LearningRateScheduler(lambda epoch, lr: lr * 0.5 if epoch % 2 else lr + 0.01)
    cb.set_model(m)
    logged = []
    for epoch in range(5):
        cb.on_epoch_begin(epoch)
        logs = {"loss": 1.0}
        cb.on_epoch_end(epoch, logs)
        logged.append(logs["lr"])
    assert logged == pytest.approx(REFERENCE["scheduler"], rel=1e-7)


def test_learning_rate_scheduler_in_fit_and_its_errors(capsys):
    x, y = data()
    m = model()
    history = m.fit(x, y, epochs=3, verbose=0,
                    callbacks=[keras.callbacks.LearningRateScheduler(lambda epoch: 0.1 / (epoch + 1), verbose=1)])
    assert history.history["lr"] == pytest.approx([0.1, 0.05, 0.1 / 3], rel=1e-6)
    assert "Epoch 2: LearningRateScheduler setting learning rate to 0.05." in capsys.readouterr().out
    with pytest.raises(ValueError, match="should be float"):
        m.fit(x, y, epochs=1, verbose=0, callbacks=[keras.callbacks.LearningRateScheduler(lambda e, lr: "fast")])
    with pytest.raises(TypeError, match="callable"):
        keras.callbacks.LearningRateScheduler(0.1)


# ------------------------------------------------------------------------------------------ CSVLogger
def test_csv_logger_writes_keras_columns(tmp_path):
    x, y = data()
    path = tmp_path / "log.csv"
    model().fit(x, y, batch_size=4, epochs=2, shuffle=False, verbose=0, callbacks=[keras.callbacks.CSVLogger(path)])
    got = [line.split(",") for line in path.read_text().splitlines()]
    expected = [line.split(",") for line in REFERENCE["csv_no_validation"].splitlines()]
    assert got[0] == expected[0] == ["epoch", "loss", "mae", "val_loss", "val_mae"]
    for g, e in zip(got[1:], expected[1:]):
        assert g[0] == e[0] and g[3:] == e[3:] == ["NA", "NA"]
        np.testing.assert_allclose([float(v) for v in g[1:3]], [float(v) for v in e[1:3]], rtol=1e-6)
    assert len(got) == len(expected)


def test_csv_logger_separator_append_and_list_values(tmp_path):
    path = tmp_path / "log.tsv"
    logger = keras.callbacks.CSVLogger(str(path), separator="\t", append=True)
    for epochs in ([{"loss": 1.5, "val_loss": 2.5, "f1": [0.25, 0.75]}], [{"loss": 0.5, "val_loss": 1.5}]):
        logger.on_train_begin()
        for epoch, logs in enumerate(epochs):
            logger.on_epoch_end(epoch, logs)
        logger.on_train_end()
    assert path.read_text().splitlines() == ['epoch\tf1\tloss\tval_loss', '0\t"""[0.25, 0.75]"""\t1.5\t2.5',
                                             "0\tNA\t0.5\t1.5"]
    with pytest.raises(TypeError, match="sep"):
        keras.callbacks.CSVLogger(str(path), sep=";")


# ------------------------------------------------------------------------------------------ RemoteMonitor
class _Collector(http.server.BaseHTTPRequestHandler):
    def do_POST(self):  # noqa: N802 (http.server's name)
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.server.posts.append((self.path, dict(self.headers), body))
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


@contextlib.contextmanager
def collector():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Collector)
    server.posts = []
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", server
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def test_remote_monitor_posts_each_epoch_as_a_form_field():
    x, y = data()
    with collector() as (root, server):
        history = model().fit(x, y, batch_size=4, epochs=2, verbose=0,
                              callbacks=[keras.callbacks.RemoteMonitor(root=root, headers={"X-Run": "7"})])
    assert [p[0] for p in server.posts] == ["/publish/epoch/end/"] * 2
    for epoch, (_, headers, body) in enumerate(server.posts):
        assert headers["Content-Type"] == "application/x-www-form-urlencoded" and headers["X-Run"] == "7"
        sent = json.loads(urllib.parse.parse_qs(body.decode())["data"][0])
        assert sent == {"epoch": epoch, "loss": history.history["loss"][epoch], "mae": history.history["mae"][epoch]}


def test_remote_monitor_as_json_to_a_path_and_an_unreachable_server(caplog):
    with collector() as (root, server):
        monitor = keras.callbacks.RemoteMonitor(root=root, path="/runs", field="ignored", send_as_json=True)
        monitor.on_epoch_end(3, {"loss": np.float32(0.5), "acc": np.array(0.25)})
    path, headers, body = server.posts[0]
    assert path == "/runs" and headers["Content-Type"] == "application/json"
    assert json.loads(body) == {"epoch": 3, "loss": 0.5, "acc": 0.25}
    keras.callbacks.RemoteMonitor(root=root).on_epoch_end(0, {"loss": 1.0})  # the server is gone: a warning
    assert f"could not reach RemoteMonitor root server at {root}" in caplog.text
    with pytest.raises(TypeError, match="url"):
        keras.callbacks.RemoteMonitor(url=root)


# ------------------------------------------------------------------------------------------ BackupAndRestore
CHILD = textwrap.dedent("""
    import json, os, signal, sys
    import numpy as np
    import minigraph as keras

    backup_dir, kill_at, out = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    rng = np.random.RandomState(0)
    x = rng.rand(32, 3).astype("float32")
    y = (x @ np.array([[1.0], [2.0], [-1.0]], "float32")).astype("float32")
    inputs = keras.Input((3,))
    m = keras.Model(inputs, keras.layers.Dense(1)(inputs))
    m.set_weights([np.full((3, 1), 0.1, "float32"), np.zeros(1, "float32")])
    m.compile(keras.optimizers.Adam(0.05), "mse")
    begun = []

    class Killer(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            begun.append(epoch)
            if epoch == kill_at:
                os.kill(os.getpid(), signal.SIGKILL)

    halve = keras.callbacks.LambdaCallback(
        on_epoch_end=lambda epoch, logs: setattr(m.optimizer, "learning_rate", m.optimizer.learning_rate * 0.5))
    callbacks = [halve, keras.callbacks.BackupAndRestore(backup_dir), Killer()]
    history = m.fit(x, y, batch_size=8, epochs=6, shuffle=False, verbose=0, callbacks=callbacks)
    with open(out, "w") as f:
        json.dump({"begun": begun, "history": history.epoch, "weights": [w.tolist() for w in m.get_weights()],
                   "iterations": m.optimizer.iterations, "lr": float(m.optimizer.learning_rate)}, f)
""")


def run_child(tmp_path, backup_dir, kill_at, name):
    script = tmp_path / "child.py"
    script.write_text(CHILD)
    out = tmp_path / f"{name}.json"
    env = child_env()
    proc = subprocess.run([sys.executable, str(script), str(backup_dir), str(kill_at), str(out)], env=env,
                          capture_output=True, text=True, timeout=300)
    return proc, (json.loads(out.read_text()) if out.exists() else None)


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs SIGKILL")
def test_backup_and_restore_resumes_a_killed_run_where_it_stopped(tmp_path):
    backup = tmp_path / "backup"
    proc, result = run_child(tmp_path, backup, 3, "killed")
    assert proc.returncode == -signal.SIGKILL and result is None, proc.stderr
    assert (backup / "backup.npz").exists()
    assert [f for f in os.listdir(backup) if f != "backup.npz"] == []  # no temporary file left behind
    proc, resumed = run_child(tmp_path, backup, -1, "resumed")
    assert proc.returncode == 0, proc.stderr
    assert resumed["begun"] == [3, 4, 5] and resumed["history"] == [3, 4, 5]
    assert not backup.exists()  # delete_checkpoint: a finished run leaves no backup
    proc, straight = run_child(tmp_path, tmp_path / "other", -1, "straight")
    assert proc.returncode == 0, proc.stderr
    assert straight["begun"] == list(range(6))
    # the weights, Adam's slots and iteration count, and the reduced learning rate all came back
    assert resumed["iterations"] == straight["iterations"] == 24
    assert resumed["lr"] == straight["lr"] == pytest.approx(0.05 * 0.5 ** 6, rel=1e-6)
    np.testing.assert_array_equal(np.array(resumed["weights"][0]), np.array(straight["weights"][0]))
    np.testing.assert_array_equal(np.array(resumed["weights"][1]), np.array(straight["weights"][1]))


def test_backup_and_restore_arguments(tmp_path):
    cb = keras.callbacks.BackupAndRestore(str(tmp_path))
    assert (cb.save_freq, cb.delete_checkpoint) == ("epoch", True)
    with pytest.raises(TypeError, match="double_checkpoint"):
        keras.callbacks.BackupAndRestore(str(tmp_path), double_checkpoint=True)
    with pytest.raises(ValueError, match="save_freq"):
        keras.callbacks.BackupAndRestore(str(tmp_path), save_freq="batch")
    with pytest.raises(NotImplementedError, match="save_freq"):
        keras.callbacks.BackupAndRestore(str(tmp_path), save_freq=10)
    with pytest.raises(ValueError, match="backup_dir"):
        keras.callbacks.BackupAndRestore("")


def test_backup_kept_when_asked(tmp_path):
    x, y = data()
    backup = tmp_path / "keep"
    m = model()
    m.fit(x, y, epochs=2, verbose=0, callbacks=[keras.callbacks.BackupAndRestore(backup, delete_checkpoint=False)])
    assert (backup / "backup.npz").exists()
    history = m.fit(x, y, epochs=3, verbose=0, callbacks=[keras.callbacks.BackupAndRestore(backup)])
    assert history.epoch == [2]  # the kept backup says two epochs were done


# ------------------------------------------------------------------------------------------ progress bar
def live_bar(target=4, **kwargs):
    stream = io.StringIO()
    return Progbar(target, interval=0, stream=stream, dynamic_display=True, **kwargs), stream


def test_a_shorter_line_leaves_nothing_of_a_longer_one():
    bar, stream = live_bar(stateful_metrics=["loss"])
    bar.update(1, [("loss", 123456.78901)])
    bar.update(2, [("loss", 0.5)])
    bar.update(4, [("loss", 0.25)])
    first, second, last = stream.getvalue().split("\r")[1:]
    assert len(second) == len(first)  # padded with spaces to the previous width
    assert second.rstrip() == second[:second.rindex("0.5000") + 6] and second.rstrip().endswith("loss: 0.5000")
    assert last.endswith(" - loss: 0.2500\n") and "ETA" not in last


def test_live_line_has_the_eta_and_the_final_line_the_elapsed_time():
    bar, stream = live_bar(target=10, stateful_metrics=["loss"])
    bar.update(3, [("loss", 0.100678)])
    live = stream.getvalue().split("\r")[-1]
    assert live.startswith(" 3/10 [========>.....................] - ETA: ") and live.endswith("s - loss: 0.1007")
    bar.update(10, [("loss", 0.0004)])
    final = stream.getvalue().split("\r")[-1]
    assert final.startswith("10/10 [==============================] - ")
    elapsed, per_step = final.split(" - ")[1].split(" ")
    assert elapsed.endswith("s") and per_step.endswith(("us/step", "ms/step", "s/step"))
    assert final.endswith(" - loss: 4.0000e-04\n")  # Keras's %.4e at or below 1e-3


def test_progbar_averages_non_stateful_values_and_verbose_2_prints_one_line():
    bar, stream = live_bar(target=4)
    bar.update(2, [("loss", 1.0)])
    bar.update(4, [("loss", 2.0)])  # each value weighs the steps it covers: (1*2 + 2*2) / 4
    assert stream.getvalue().endswith(" - loss: 1.5000\n")
    stream = io.StringIO()
    bar = Progbar(3, verbose=2, stream=stream, stateful_metrics=["loss", "delta"])
    bar.update(1, [("loss", 0.5)])
    assert stream.getvalue() == ""
    bar.update(3, [("loss", 0.5), ("delta", -0.5)])
    line = stream.getvalue()
    assert line.startswith("3/3 - ") and " - loss: 0.5000 - delta: -5.0000e-01 - " in line  # Keras's signed rule
    assert "/epoch - " in line and line.endswith("/step\n")


def test_unknown_target_and_non_terminal_output():
    bar, stream = live_bar(target=None, stateful_metrics=["loss"])
    bar.update(5, [("loss", 1.0)])
    assert stream.getvalue().startswith("\r      5/Unknown - ")
    quiet = io.StringIO()
    bar = Progbar(2, stream=quiet, interval=0, dynamic_display=False)
    bar.update(1, [("loss", 1.0)])
    assert quiet.getvalue() == ""  # not a terminal: only the final line
    bar.update(2, [("loss", 1.0)])
    assert quiet.getvalue().startswith("2/2 [==============================] - ") and quiet.getvalue().count("\n") == 1


def test_fit_evaluate_and_predict_print_keras_lines(capsys):
    x, y = data()
    m = model()
    m.fit(x, y, batch_size=4, epochs=1, verbose=1, validation_data=(x, y))
    out = capsys.readouterr().out.splitlines()
    assert len(out) == 1 and out[0].startswith("3/3 [==============================] - ")  # one epoch: no "Epoch"
    assert out[0].split("step")[1].startswith(" - loss: ") and " - val_mae: " in out[0]
    m.evaluate(x, y, batch_size=4)
    out = capsys.readouterr().out.splitlines()
    assert len(out) == 1 and out[0].startswith("3/3 [====") and " - mae: " in out[0]
    m.predict(x, batch_size=4)
    out = capsys.readouterr().out.splitlines()
    assert len(out) == 1 and out[0].startswith("3/3 [====") and out[0].endswith("/step")
    m.predict(x, verbose=0)
    m.evaluate(x, y, verbose=0)
    assert capsys.readouterr().out == ""


def test_progbar_logger_arguments():
    with pytest.raises(ValueError, match="count_mode"):
        keras.callbacks.ProgbarLogger(count_mode="batches")
    with pytest.raises(TypeError):
        keras.callbacks.ProgbarLogger(verbose=1)
    with pytest.raises(ValueError, match="verbose"):
        Progbar(3, verbose=3)


def test_verbose_2_prints_what_keras_prints(capsys):
    """Keras's own verbose=2 lines for this fit and evaluate, with the timings masked."""
    import re

    def masked(text):
        return re.sub(r"\b\d+(us|ms|s)/", r"T/", re.sub(r" - \d+s - ", " - Ts - ", text))
    x, y = data()
    xv, yv = np.array(REFERENCE["x_val"], "float32"), np.array(REFERENCE["y_val"], "float32")
    m = model()
    m.fit(x, y, batch_size=4, epochs=2, validation_data=(xv, yv), shuffle=False, verbose=2)
    m.evaluate(xv, yv, batch_size=4, verbose=2)
    assert masked(capsys.readouterr().out) == masked(REFERENCE["printed_verbose_2"])
