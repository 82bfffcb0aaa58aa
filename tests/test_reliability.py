"""Reliability: concurrent predict, kernels that release the GIL, long runs without leaks, NaN and inf.

(Hostile arguments to the kernels: test_fuzz_kernels.py. Damaged files and killed saves: test_saving.py. Bad
data at the API and bad layer arguments: test_training.py and test_layers.py.)
"""
import json
import math
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time

import numpy as np
import pytest

import minigraph as keras
from minigraph import layers
from minigraph.kernels import conv, dense, pool

from child_env import child_env
# the seed's models, as the saving tests build them
from test_saving import autoencoder, mlp


@pytest.fixture
def deadline():
    """Fail (rather than hang the suite) if the test takes more than a minute."""
    def expired(signum, frame):
        raise TimeoutError("the test did not finish within 60 s")
    old = signal.signal(signal.SIGALRM, expired)
    signal.alarm(60)
    yield
    signal.alarm(0)
    signal.signal(signal.SIGALRM, old)


# ------------------------------------------------------------------------------------------ concurrency
def run_threads(n, target):
    """Run target(i) in n threads started together; re-raise the first failure."""
    barrier = threading.Barrier(n)
    errors = []

    def run(i):
        try:
            barrier.wait()
            target(i)
        except BaseException as err:  # noqa: BLE001 - reported below, in the test's thread
            errors.append(err)
    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not any(t.is_alive() for t in threads), "a predict thread hung"
    if errors:
        raise errors[0]


@pytest.mark.parametrize("build, shape, iterations", [(autoencoder, (6, 28, 28, 1), 25), (mlp, (64, 784), 150)],
                         ids=["autoencoder", "mlp"])
def test_concurrent_predict_matches_serial(build, shape, iterations, deadline):
    """Four threads calling predict on one model at once, many times, each on its own data and with its own
    batch size (one whole batch, or chunks of 4 / 5 / 16 rows): every answer equals the serial one."""
    keras.utils.set_random_seed(0)
    model = build()
    rng = np.random.default_rng(1)
    inputs = [rng.random(shape, dtype=np.float32) for _ in range(4)]
    batch_sizes = [None, 4, 5, 16]
    serial = [model.predict(x, batch_size=b) for x, b in zip(inputs, batch_sizes)]
    assert all(np.isfinite(s).all() and s.std() > 0 for s in serial)
    assert not np.allclose(serial[0], serial[1])  # different data: a mixed-up answer would be noticed

    def work(i):
        for _ in range(iterations):
            got = model.predict(inputs[i], batch_size=batch_sizes[i])
            np.testing.assert_allclose(got, serial[i], rtol=1e-5, atol=1e-6)
            np.testing.assert_allclose(model(inputs[i][:3]), serial[i][:3], rtol=1e-5, atol=1e-6)
    run_threads(4, work)


def test_concurrent_predict_on_different_models_sharing_layers(deadline):
    """A nested model and the outer model that calls it, predicted from different threads at once."""
    keras.utils.set_random_seed(0)
    encoder_input = keras.Input(shape=(28, 28, 1))
    x = layers.Conv2D(8, 3, activation="relu")(encoder_input)
    x = layers.MaxPooling2D(3)(x)
    encoder = keras.Model(encoder_input, layers.GlobalMaxPooling2D()(x))
    outer_input = keras.Input(shape=(28, 28, 1))
    outer = keras.Model(outer_input, layers.Dense(3)(encoder(outer_input)))
    x = np.random.default_rng(2).random((8, 28, 28, 1), dtype=np.float32)
    want = [encoder.predict(x), outer.predict(x)]

    def work(i):
        model = (encoder, outer)[i % 2]
        for _ in range(30):
            np.testing.assert_allclose(model.predict(x), want[i % 2], rtol=1e-5, atol=1e-6)
    run_threads(4, work)


# ------------------------------------------------------------------------------------- GIL release
def python_progress_during(call):
    """Run call() in this thread while another thread does pure-Python work; return (seconds call took,
    heartbeats of the Python thread during the middle 60% of the call). A call that holds the GIL leaves
    the Python thread no heartbeat there."""
    stop = threading.Event()
    beats = []

    def beat():
        n = 0
        while not stop.is_set():
            n += 1
            if n % 64 == 0:
                beats.append(time.perf_counter())
    thread = threading.Thread(target=beat)
    thread.start()
    try:
        time.sleep(0.02)
        start = time.perf_counter()
        call()
        took = time.perf_counter() - start
    finally:
        stop.set()
        thread.join()
    middle = [b for b in beats if start + 0.2 * took < b < start + 0.8 * took]
    return took, len(middle)


def long_call(make_call, min_seconds=0.12, max_doublings=6):
    """make_call(scale) -> a kernel call; scale doubled until one call takes at least min_seconds."""
    scale = 1
    for _ in range(max_doublings):
        call = make_call(scale)
        start = time.perf_counter()
        call()
        if time.perf_counter() - start >= min_seconds:
            break
        scale *= 2
    return call


RNG = np.random.default_rng(3)
KERNEL_CALLS = {
    "conv2d_forward": lambda s: (lambda x=RNG.random((2 * s, 64, 64, 32)), k=RNG.random((3, 3, 32, 64)):
                                 conv.conv2d_forward(x, k, padding="same")),
    "conv2d_transpose_forward": lambda s: (lambda x=RNG.random((2 * s, 32, 32, 32)), k=RNG.random((3, 3, 64, 32)):
                                           conv.conv2d_transpose_forward(x, k, strides=2, padding="same")),
    "conv2d_backward_kernel": lambda s: (lambda x=RNG.random((2 * s, 64, 64, 32)), dy=RNG.random((2 * s, 64, 64, 64)):
                                         conv.conv2d_backward_kernel(x, dy, (3, 3), padding="same")),
    "max_pool2d_forward": lambda s: (lambda x=RNG.random((s, 96, 96, 32)): pool.max_pool2d_forward(x, 7, 1, "same")),
    "matmul": lambda s: (lambda a=RNG.random((256 * s, 1024)), b=RNG.random((1024, 1024)): dense.matmul(a, b)),
}


@pytest.mark.parametrize("name", KERNEL_CALLS)
def test_kernels_release_the_gil(name):
    call = long_call(KERNEL_CALLS[name])
    took, beats = python_progress_during(call)
    assert beats >= 5, f"{name}: a pure-Python thread made {beats} heartbeats during a {took:.3f} s call"


def test_the_gil_check_can_fail():
    """The check above, on a C call that keeps the GIL (builtin sum over a range): no heartbeat at all."""
    took, beats = python_progress_during(lambda: sum(range(20_000_000)))
    assert took > 0.05 and beats == 0


# ---------------------------------------------------------------------------------------- long runs
_LONG_RUN = textwrap.dedent("""
    import gc, json, resource, sys, tracemalloc
    import numpy as np
    import minigraph as keras
    from minigraph import layers

    def mlp():
        inputs = keras.Input(shape=(784,))
        x = layers.Dense(64, activation="relu")(inputs)
        x = layers.Dense(64, activation="relu")(x)
        return keras.Model(inputs, layers.Dense(10, activation="softmax")(x))

    def convnet():  # every image kernel, forward and backward
        inputs = keras.Input(shape=(12, 12, 1))
        x = layers.Conv2D(4, 3, padding="same", activation="relu")(inputs)
        x = layers.MaxPooling2D(2)(x)
        x = layers.UpSampling2D(2)(x)
        x = layers.Conv2DTranspose(1, 3, padding="same")(x)
        return keras.Model(inputs, x)

    def statm_rss():
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * resource.getpagesize()

    class Probe(keras.callbacks.Callback):
        # peak RSS, current RSS and gc-tracked objects at step `start` and at step `end`; Python allocations
        # (numpy's included) still alive, traced from step trace[0] to trace[1] (tracemalloc is slow)
        def __init__(self, start, end, trace, leak_per_step=0):
            super().__init__()
            self.start, self.end, self.trace, self.leak_per_step = start, end, trace, leak_per_step
            self.step, self.leaked, self.report = 0, [], {}

        def snapshot(self):
            gc.collect()
            return (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024, statm_rss(), len(gc.get_objects()))

        def on_train_batch_end(self, batch, logs=None):
            self.step += 1
            if self.start < self.step and self.leak_per_step:
                self.leaked.append(np.ones(self.leak_per_step // 8))  # the control: a deliberate leak
            if self.step == self.start:
                self.before = self.snapshot()
                tracemalloc.start()
            elif self.step == self.trace[0]:
                gc.collect()
                self.traced = tracemalloc.get_traced_memory()[0]
            elif self.step == self.trace[1]:
                gc.collect()
                self.report["traced"] = tracemalloc.get_traced_memory()[0] - self.traced
                tracemalloc.stop()
            if self.step == self.end:
                after = self.snapshot()
                self.report.update(peak_rss=after[0] - self.before[0], rss=after[1] - self.before[1],
                                   objects=after[2] - self.before[2])
                self.model.stop_training = True

    def run(model, x, y, batch, start=200, end=1000, trace=(250, 450), leak_per_step=0):
        model.compile(optimizer="adam", loss="mse" if y.ndim > 1 else "sparse_categorical_crossentropy")
        probe = Probe(start, end, trace, leak_per_step)
        steps = len(x) // batch
        model.fit(x, y, batch_size=batch, epochs=-(-end // steps), verbose=0, callbacks=[probe])
        assert len(probe.report) == 4, probe.report
        return probe.report

    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    x, y = rng.random((320, 784), dtype=np.float32), rng.integers(0, 10, 320)
    images = rng.random((80, 12, 12, 1), dtype=np.float32)
    reports = {"mlp": run(mlp(), x, y, 32), "convnet": run(convnet(), images, images, 8),
               "control": run(mlp(), x, y, 32, end=450, leak_per_step=64 * 1024)}
    print(json.dumps(reports))
""")

# after warm-up, 800 steps may raise peak or current RSS by at most RSS_SLACK (a 4 KB leak per step is 3.2 MB),
# 200 traced steps leave at most TRACED_SLACK more alive (a 300-byte leak per step is 60 KB), gc objects barely move
RSS_SLACK = 3 << 20
TRACED_SLACK = 48 << 10
OBJECTS_SLACK = 100


def test_no_growth_over_a_thousand_training_steps(tmp_path):
    """1,000 training steps of the seed's MLP (batch 32) and of a small conv net using every image kernel, in a
    fresh process: between step 200 and step 1000 neither peak RSS nor the number of gc-tracked objects grows,
    and no Python/numpy allocation made over 200 traced steps stays alive. A control run that leaks 64 KB per
    step on purpose is caught by the same measures."""
    env = child_env()
    out = subprocess.run([sys.executable, "-c", _LONG_RUN], capture_output=True, text=True, env=env, cwd=tmp_path,
                         timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    reports = json.loads(out.stdout.strip().splitlines()[-1])
    for name in ("mlp", "convnet"):
        r = reports[name]
        assert r["peak_rss"] <= RSS_SLACK and r["rss"] <= RSS_SLACK, (name, r)
        assert r["traced"] <= TRACED_SLACK, (name, r)
        assert r["objects"] <= OBJECTS_SLACK, (name, r)
    control = reports["control"]  # 250 steps x 64 KB = 15.6 MB kept alive, 200 of them traced
    # (its peak RSS need not grow: the runs before it may have peaked higher)
    assert control["rss"] > RSS_SLACK and control["traced"] > 12 << 20, control


# --------------------------------------------------------------------------------------- NaN and inf
def regression(n=64, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 4)).astype("float32")
    return x, (x @ np.array([[1.0], [-2.0], [0.5], [3.0]])).astype("float32")


def linear(units=1):
    inputs = keras.Input(shape=(4,))
    return keras.Model(inputs, layers.Dense(units)(inputs))


class BatchCounter(keras.callbacks.Callback):
    def __init__(self):
        super().__init__()
        self.losses = []

    def on_train_batch_end(self, batch, logs=None):
        self.losses.append(logs["loss"])


@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # overflow and invalid value: expected
def test_nan_in_the_data_is_logged_and_training_goes_on(deadline):
    x, y = regression()
    x[10, 2] = np.nan  # in the second batch of 8
    keras.utils.set_random_seed(0)
    model = linear()
    model.compile(optimizer=keras.optimizers.SGD(0.01), loss="mse", metrics=["mae"])
    counter = BatchCounter()
    history = model.fit(x, y, batch_size=8, epochs=3, shuffle=False, verbose=0, callbacks=[counter])
    assert len(counter.losses) == 24  # every batch ran: no crash, no early stop without TerminateOnNaN
    assert math.isfinite(counter.losses[0]) and math.isnan(counter.losses[1])
    assert all(math.isnan(v) for v in counter.losses[1:])  # the NaN went into the weights
    assert len(history.history["loss"]) == 3 and all(math.isnan(v) for v in history.history["loss"])
    assert all(math.isnan(v) for v in history.history["mae"])
    assert all(np.isnan(w).all() for w in model.get_weights())
    assert np.isnan(model.predict(x)).all() and math.isnan(model.evaluate(x, y, verbose=0)[0])


@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # overflow and invalid value: expected
def test_diverging_loss_is_logged_and_terminate_on_nan_stops(deadline):
    """A huge learning rate: the loss overflows to inf, then NaN. TerminateOnNaN stops at the first
    non-finite batch loss (inf counts), and fit returns normally with what was logged until then."""
    x, y = regression()
    keras.utils.set_random_seed(0)
    model = linear()
    model.compile(optimizer=keras.optimizers.SGD(1e6), loss="mse")
    counter = BatchCounter()
    history = model.fit(x, y, batch_size=8, epochs=50, shuffle=False, verbose=0, callbacks=[counter])
    losses = np.array(counter.losses)
    assert len(losses) == 400 and np.isfinite(losses[0]) and not np.isfinite(losses[-1])
    assert np.isnan(history.history["loss"][-1])

    keras.utils.set_random_seed(0)
    model = linear()
    model.compile(optimizer=keras.optimizers.SGD(1e6), loss="mse")
    counter = BatchCounter()
    history = model.fit(x, y, batch_size=8, epochs=50, shuffle=False, verbose=0,
                        callbacks=[counter, keras.callbacks.TerminateOnNaN()])
    first_bad = int(np.argmax(~np.isfinite(losses)))
    assert counter.losses[:first_bad] == list(losses[:first_bad]) and not math.isfinite(counter.losses[-1])
    assert len(counter.losses) == first_bad + 1  # stopped right after the first non-finite batch
    assert len(history.history["loss"]) == first_bad // 8 + 1 and model.stop_training


@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # overflow and invalid value: expected
def test_inf_loss_stops_terminate_on_nan():
    """Targets so large that the squared error overflows float32: inf (not NaN) also stops training."""
    x, _ = regression()
    y = np.full((64, 1), 3e38, np.float32)
    model = linear()
    model.compile(optimizer=keras.optimizers.SGD(0.0), loss="mse")
    counter = BatchCounter()
    model.fit(x, y, batch_size=8, epochs=3, verbose=0, callbacks=[counter, keras.callbacks.TerminateOnNaN()])
    assert counter.losses == [np.inf]


@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # overflow and invalid value: expected
def test_nan_input_propagates_through_the_seed_models():
    """One NaN pixel (one NaN feature) makes exactly its own sample's output NaN; the other samples are
    unchanged - through convolutions, max pooling, global max pooling, upsampling and transposed convolutions."""
    keras.utils.set_random_seed(0)
    for model, shape in ((autoencoder(), (4, 28, 28, 1)), (mlp(), (4, 784))):
        x = np.random.default_rng(0).random(shape, dtype=np.float32)
        clean = model.predict(x)
        x[2].reshape(-1)[37] = np.nan
        out = model.predict(x)
        assert np.isnan(out[2]).any()
        np.testing.assert_array_equal(np.delete(out, 2, axis=0), np.delete(clean, 2, axis=0))
    # the gradient of a NaN sample: NaN weights, no exception from any backward kernel
    model = autoencoder()
    model.compile(optimizer="adam", loss="mse")
    x = np.random.default_rng(1).random((2, 28, 28, 1), dtype=np.float32)
    x[0, 5, 5, 0] = np.nan
    loss = model.train_on_batch(x, x)
    assert math.isnan(loss) and any(np.isnan(w).any() for w in model.get_weights())


@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # overflow and invalid value: expected
def test_nan_does_not_become_the_best_checkpoint(tmp_path):
    """ModelCheckpoint(save_best_only=True) never takes a NaN loss for an improvement."""
    x, y = regression()
    model = linear()
    model.compile(optimizer=keras.optimizers.SGD(0.01), loss="mse")
    path = tmp_path / "best.h5"
    checkpoint = keras.callbacks.ModelCheckpoint(str(path), monitor="loss", save_best_only=True)
    model.fit(x, y, batch_size=8, epochs=1, verbose=0, callbacks=[checkpoint])
    saved = keras.models.load_model(path, compile=False).get_weights()
    x_bad = x.copy()
    x_bad[0, 0] = np.nan
    history = model.fit(x_bad, y, batch_size=8, epochs=2, verbose=0, callbacks=[checkpoint])
    assert all(math.isnan(v) for v in history.history["loss"])
    for got, want in zip(keras.models.load_model(path, compile=False).get_weights(), saved):
        np.testing.assert_array_equal(got, want)
    assert all(np.isfinite(w).all() for w in saved)
