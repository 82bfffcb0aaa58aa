"""The workspace pool (csrc/workspace.pyx): numpy's data-memory handler inside `pooled()`, caching freed
blocks of at least THRESHOLD bytes by exact size, and its use by the training loops."""
import contextlib
import gc
import threading
import types

import numpy as np
import pytest

import minigraph as keras
from minigraph import layers
from minigraph.engine import training
from minigraph.kernels import workspace as ws

try:
    from numpy._core.multiarray import get_handler_name
except ImportError:  # numpy 1.x
    from numpy.core.multiarray import get_handler_name

BIG = ws.THRESHOLD // 4 * 3  # float32 elements: 3 x the threshold in bytes
NAME = ws.HANDLER_NAME


@pytest.fixture(autouse=True)
def clean_pool():
    gc.collect()
    ws.release()
    cap = ws.set_cap(512 << 20)
    yield
    ws.set_cap(cap)
    ws.release()


def delta(before, key):
    return ws.stats()[key] - before[key]


def test_arrays_made_in_the_pool_hold_their_data():
    with ws.pooled():
        a = np.arange(BIG, dtype=np.float32)
        b = a * 2 + 1
        c = np.ones((300, 300))
        small = np.arange(10.0)
        assert get_handler_name() == NAME
    assert get_handler_name(a) == get_handler_name(b) == get_handler_name(small) == NAME
    np.testing.assert_array_equal(b, np.arange(BIG, dtype=np.float32) * 2 + 1)
    assert c.sum() == 90000.0 and small.sum() == 45.0
    assert a.ctypes.data % 64 == 0  # cached blocks start on a cache line
    assert ws.stats()["foreign_frees"] == 0


def test_outside_the_context_numpy_is_untouched():
    assert get_handler_name() != NAME
    with ws.pooled():
        with ws.pooled():  # nested
            assert get_handler_name() == NAME
        assert get_handler_name() == NAME
    assert get_handler_name(np.empty(BIG)) != NAME
    with pytest.raises(KeyError):
        with ws.pooled():
            raise KeyError("boom")
    assert get_handler_name() != NAME  # restored on an exception
    ctx = ws.pooled()
    with ctx:
        with ctx:  # one instance entered twice
            pass
        assert get_handler_name() == NAME
    assert get_handler_name() != NAME


def test_other_threads_keep_their_handler_while_one_thread_pools():
    seen = []
    inside, done = threading.Event(), threading.Event()

    def other():
        inside.wait(10)
        seen.append(get_handler_name(np.empty(BIG)))
        done.set()

    t = threading.Thread(target=other)
    t.start()
    with ws.pooled():
        inside.set()
        done.wait(10)
    t.join()
    assert seen and seen[0] != NAME


def test_a_freed_block_is_reused_for_the_same_size():
    s0 = ws.stats()
    with ws.pooled():
        a = np.empty(BIG, dtype=np.float32)
        ptr = a.ctypes.data
        del a
        assert ws.stats()["cached_blocks"] == 1 and ws.stats()["cached_bytes"] == BIG * 4
        b = np.empty(BIG, dtype=np.float32)
        assert b.ctypes.data == ptr
        assert delta(s0, "hits") == 1 and delta(s0, "misses") == 1
        c = np.empty(BIG + 1, dtype=np.float32)  # another size: not this block
        assert c.ctypes.data != ptr and delta(s0, "misses") == 2
        del c
        d = np.empty((BIG + 1, 1), dtype=np.float32).reshape(-1)  # same byte count, other dtype and shape: reused
        assert delta(s0, "hits") == 2
        d[:] = 1.5
        np.testing.assert_array_equal(d, 1.5)


def test_small_arrays_are_not_cached():
    s0 = ws.stats()
    with ws.pooled():
        for _ in range(10):
            a = np.ones(ws.THRESHOLD // 8 - 4)  # just below the threshold, with any header
            del a
    assert ws.stats()["cached_blocks"] == 0 and delta(s0, "hits") == 0 and delta(s0, "misses") == 0


def test_zeros_are_zero_in_a_reused_block():
    with ws.pooled():
        a = np.empty(BIG, dtype=np.float32)
        a.view(np.uint8)[:] = 0xFF  # garbage (NaN bit patterns)
        ptr = a.ctypes.data
        del a
        z = np.zeros(BIG, dtype=np.float32)
        assert z.ctypes.data == ptr
        assert not np.any(z.view(np.uint32))


def test_the_cap_is_honoured():
    block = BIG * 4
    ws.set_cap(2 * block + block // 2)
    with ws.pooled():
        arrays = [np.empty(BIG, dtype=np.float32) for _ in range(4)]
    del arrays
    s = ws.stats()
    assert s["cached_blocks"] == 2 and s["cached_bytes"] == 2 * block <= s["cap"]
    assert ws.set_cap(block) == 2 * block + block // 2  # lowering the cap trims at once
    assert ws.stats()["cached_bytes"] == block
    ws.set_cap(0)  # 0: cache nothing
    assert ws.stats()["cached_blocks"] == 0
    with ws.pooled():
        a = np.empty(BIG, dtype=np.float32)
        del a
    assert ws.stats()["cached_blocks"] == 0
    assert ws.set_cap(block - 1) == 0
    with ws.pooled():
        a = np.empty(BIG, dtype=np.float32)  # larger than the whole cap
        del a
    assert ws.stats()["cached_blocks"] == 0
    with pytest.raises(ValueError):
        ws.set_cap(-1)


def test_a_full_cache_makes_room_for_a_new_size_from_stale_ones():
    """A process that runs one model and then another: the first model's sizes must not hold the cap and
    send every block of the second back to the system at each step.  Stale: not asked for in the current
    pooled() scope or the one before."""
    a, b, c = BIG, BIG + 16, BIG + 32  # float32 elements: three sizes of about 3 x THRESHOLD bytes
    ws.set_cap(3 * (c * 4))  # room for three of these blocks, not four
    with ws.pooled():
        first = [np.empty(a, dtype=np.float32) for _ in range(2)]
    del first  # two blocks of size a, in scope 1
    with ws.pooled():
        np.empty(c, dtype=np.float32)  # one of size c, in scope 2
    with ws.pooled():  # scope 3: a is stale, c is not
        s0 = ws.stats()
        np.empty(b, dtype=np.float32)  # a new size: one block of a makes room for it
        assert ws.stats()["cached_blocks"] == 3 and ws.stats()["cached_bytes"] <= ws.stats()["cap"]
        for n in (b, c, a):  # b and c are served from the cache, one a is left
            np.empty(n, dtype=np.float32)
        assert delta(s0, "hits") == 3 and delta(s0, "misses") == 1
        s1 = ws.stats()
        held = [np.empty(a, dtype=np.float32) for _ in range(2)]  # the evicted a is gone: one hit, one miss
        assert delta(s1, "hits") == 1 and delta(s1, "misses") == 1
        del held


def test_sizes_in_use_are_not_evicted_for_one_another():
    """Steps whose blocks exceed the cap keep the blocks that fitted first, step after step: evicting the
    least recently used instead would throw out, at each step's end, what the next step asks for first."""
    a, b, c = BIG, BIG + 16, BIG + 32
    ws.set_cap(2 * (c * 4))  # two of the three sizes fit
    for step in range(4):
        with ws.pooled():
            s0 = ws.stats()
            held = [np.empty(n, dtype=np.float32) for n in (a, b, c)]
            del held
            if step:
                assert delta(s0, "hits") == 2 and delta(s0, "misses") == 1, f"step {step}"
    assert ws.stats()["cached_blocks"] == 2


def test_release_empties_the_cache():
    with ws.pooled():
        arrays = [np.empty(BIG + i, dtype=np.float32) for i in range(5)]
    del arrays
    assert ws.stats()["cached_blocks"] == 5
    ws.release()
    s = ws.stats()
    assert s["cached_blocks"] == 0 and s["cached_bytes"] == 0
    s0 = ws.stats()
    with ws.pooled():
        np.empty(BIG, dtype=np.float32)
    assert delta(s0, "misses") == 1 and delta(s0, "hits") == 0


def test_clear_session_releases_the_pool():
    with ws.pooled():
        np.empty(BIG, dtype=np.float32)
    assert ws.stats()["cached_blocks"] == 1
    keras.backend.clear_session()
    assert ws.stats()["cached_blocks"] == 0


def test_arrays_freed_after_the_context_or_in_another_thread_go_back_to_the_pool():
    with ws.pooled():
        a = np.full(BIG, 3.0, dtype=np.float32)
        b = np.full(BIG, 4.0, dtype=np.float32)
    pa, pb = a.ctypes.data, b.ctypes.data
    assert get_handler_name() != NAME
    assert a.sum() == 3.0 * BIG
    del a  # outside the context: still freed through the pool's handler
    assert ws.stats()["cached_blocks"] == 1

    box = [b]
    del b
    t = threading.Thread(target=box.clear)  # the last reference dies in another thread
    t.start()
    t.join()
    assert ws.stats()["cached_blocks"] == 2 and ws.stats()["foreign_frees"] == 0
    with ws.pooled():
        x, y = np.empty(BIG, dtype=np.float32), np.empty(BIG, dtype=np.float32)
    assert {x.ctypes.data, y.ctypes.data} == {pa, pb}


def test_four_threads_allocating_and_freeing_concurrently():
    sizes = [BIG, BIG + 16, 2 * BIG, 17, 1000, 3 * BIG]
    errors = []
    barrier = threading.Barrier(4)

    def work(k):
        rng = np.random.default_rng(k)
        try:
            barrier.wait(10)
            with ws.pooled():
                live = []
                for step in range(400):
                    n = sizes[rng.integers(len(sizes))]
                    a = np.zeros(n, dtype=np.float32) if step % 3 == 0 else np.empty(n, dtype=np.float32)
                    if step % 3 == 0 and np.any(a):
                        errors.append((k, step, "zeros not zero"))
                    a[:] = k * 1000 + step
                    live.append((a, k * 1000 + step))
                    if len(live) > 8:
                        old, value = live.pop(rng.integers(len(live)))
                        if not np.all(old == value):
                            errors.append((k, step, "data overwritten"))
                for old, value in live:
                    if not np.all(old == value):
                        errors.append((k, "end", "data overwritten"))
        except Exception as err:  # noqa: BLE001 - reported below
            errors.append((k, repr(err)))

    threads = [threading.Thread(target=work, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors, errors[:5]
    s = ws.stats()
    assert s["hits"] > 0 and s["foreign_frees"] == 0
    assert 0 < s["cached_bytes"] <= s["cap"]
    ws.release()
    assert ws.stats()["cached_bytes"] == 0 and ws.stats()["cached_blocks"] == 0


def test_realloc_keeps_the_data():
    with ws.pooled():
        a = np.arange(1000, dtype=np.float64)  # small -> small
        a.resize(2000, refcheck=False)
        np.testing.assert_array_equal(a[:1000], np.arange(1000))
        assert not np.any(a[1000:])
        a.resize(BIG, refcheck=False)  # small -> large
        np.testing.assert_array_equal(a[:1000], np.arange(1000))
        a[:] = np.arange(BIG)
        a.resize(2 * BIG, refcheck=False)  # large -> larger
        np.testing.assert_array_equal(a[:BIG], np.arange(BIG))
        assert not np.any(a[BIG:])
        a.resize(100, refcheck=False)  # large -> small
        np.testing.assert_array_equal(a, np.arange(100))
        assert get_handler_name(a) == NAME
    b = np.arange(BIG, dtype=np.float32)  # made outside, resized inside: keeps its own handler
    with ws.pooled():
        b.resize(2 * BIG, refcheck=False)
    np.testing.assert_array_equal(b[:BIG], np.arange(BIG, dtype=np.float32))
    assert get_handler_name(b) != NAME
    assert ws.stats()["foreign_frees"] == 0


def test_zero_size_arrays_with_large_other_dimensions():
    # NEP 49: numpy may pass free() a size other than the one it allocated for empty arrays; the pool
    # reads the size from its own header.
    with ws.pooled():
        for _ in range(3):
            a = np.empty((1000, 0, 1000))
            b = np.empty((BIG, 0))
            del a, b
        c = np.ones(BIG, dtype=np.float32)
    assert c.sum() == BIG and ws.stats()["foreign_frees"] == 0


# ------------------------------------------------------------------------------ in the training loops
def conv_model(seed):
    keras.utils.set_random_seed(seed)
    inputs = keras.Input(shape=(12, 12, 1))
    x = layers.Conv2D(8, 3, activation="relu")(inputs)
    x = layers.MaxPooling2D(2)(x)
    x = layers.Conv2DTranspose(8, 3, activation="relu")(x)
    x = layers.UpSampling2D(2)(x)
    x = layers.Flatten()(x)
    outputs = layers.Dense(3, activation="softmax")(x)
    model = keras.Model(inputs, outputs)
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def train(seed=0):
    rng = np.random.default_rng(seed)
    x = rng.random((200, 12, 12, 1), dtype=np.float32)
    y = rng.integers(0, 3, 200)
    model = conv_model(seed)
    np.random.seed(seed)  # fit's shuffle
    history = model.fit(x, y, batch_size=64, epochs=2, validation_split=0.2, verbose=0)
    model.train_on_batch(x[:64], y[:64])
    return model.get_weights(), history.history, model.predict(x, batch_size=64), model.evaluate(x, y, verbose=0)


def test_training_in_the_pool_is_bit_identical(monkeypatch):
    pooled = train()
    assert ws.stats()["hits"] > 0
    ws.set_cap(0)
    uncached = train()
    monkeypatch.setattr(training, "workspace", types.SimpleNamespace(pooled=contextlib.nullcontext))
    ws.set_cap(512 << 20)
    plain = train()  # numpy's own allocator throughout
    for other in (uncached, plain):
        for a, b in zip(pooled[0], other[0]):
            np.testing.assert_array_equal(a, b)
        assert pooled[1] == other[1]
        np.testing.assert_array_equal(pooled[2], other[2])
        assert pooled[3] == other[3]


def test_training_steps_reuse_blocks():
    """After the first steps, every large array of a step comes from the cache."""
    model = conv_model(0)
    x = np.random.default_rng(0).random((64, 12, 12, 1), dtype=np.float32)
    y = np.zeros(64, dtype=np.int64)
    for _ in range(3):
        model.train_on_batch(x, y)
    s0 = ws.stats()
    for _ in range(5):
        model.train_on_batch(x, y)
        model.predict_on_batch(x)
        model.test_on_batch(x, y)
    assert delta(s0, "misses") == 0 and delta(s0, "hits") > 5
    assert get_handler_name() != NAME
    out = model.predict(x, batch_size=64)
    assert get_handler_name(out) == NAME  # made in the pool, lives on in the caller's hands


def test_callbacks_run_outside_the_pool_and_tiny_predicts_skip_it():
    model = conv_model(0)
    x = np.random.default_rng(0).random((64, 12, 12, 1), dtype=np.float32)
    y = np.zeros(64, dtype=np.int64)
    seen = []
    probe = keras.callbacks.LambdaCallback(on_batch_end=lambda batch, logs: seen.append(get_handler_name()))
    model.fit(x, y, batch_size=16, epochs=1, verbose=0, callbacks=[probe])
    assert seen and all(name != NAME for name in seen)
    assert get_handler_name(model.predict(x[:1])) != NAME  # 576 bytes of input: not worth switching
    assert get_handler_name(model.predict_on_batch(x)) == NAME


@pytest.mark.skipif(not hasattr(__import__("os"), "fork"), reason="needs fork")
def test_a_forked_child_uses_the_pool():
    import os
    with ws.pooled():
        kept = np.empty(BIG, dtype=np.float32)
        del kept
    pid = os.fork()
    if pid == 0:  # child: a fresh, empty cache that works
        code = 1
        try:
            with ws.pooled():
                a = np.full(BIG, 2.0, dtype=np.float32)
                del a
                b = np.zeros(BIG, dtype=np.float32)
            s = ws.stats()
            code = 0 if (s["cached_blocks"] == 0 and s["hits"] >= 1 and not b.any()) else 2
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert ws.stats()["cached_blocks"] == 1  # the parent's cache is untouched
