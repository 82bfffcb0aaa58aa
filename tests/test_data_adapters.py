"""EpochIterator, PyDataset and Sequence without a model: batches, steps, shuffling, worker threads, errors."""
import threading
import time
import warnings

import numpy as np
import pytest

import minigraph as keras
from minigraph.data_adapters import EpochIterator, PyDataset, Sequence, unpack_x_y_sample_weight


def batches_of(iterator):
    return [(step, batch) for step, batch in iterator.epoch()]


class Squares(keras.utils.PyDataset):
    """Batch i is (x = [i, i], y = [i*i, i*i]); records which batches were read and the epoch ends."""

    def __init__(self, n=6, fail_at=None, delay=0.0, **kwargs):
        super().__init__(**kwargs)
        self.n, self.fail_at, self.delay = n, fail_at, delay
        self.read, self.epochs_ended, self.epochs_begun = [], 0, 0
        self.lock = threading.Lock()
        self.concurrent = self.max_concurrent = 0

    def __len__(self):
        return self.n

    def __getitem__(self, index):
        with self.lock:
            self.concurrent += 1
            self.max_concurrent = max(self.max_concurrent, self.concurrent)
        try:
            if self.delay:
                time.sleep(self.delay)
            if index == self.fail_at:
                raise RuntimeError(f"batch {index} is broken")
            with self.lock:
                self.read.append(index)
            return np.full((2, 1), index, "float32"), np.full((2,), index * index, "float32")
        finally:
            with self.lock:
                self.concurrent -= 1

    def on_epoch_begin(self):
        self.epochs_begun += 1

    def on_epoch_end(self):
        self.epochs_ended += 1


def firsts(batches):
    return [int(batch[0][0, 0]) for _, batch in batches]


# ---------------------------------------------------------------------------------------------- arrays
def test_arrays_in_batches_with_the_last_one_partial():
    x, y, w = np.arange(10.0).reshape(10, 1), np.arange(10) * 2, np.linspace(0, 1, 10)
    it = EpochIterator(x, y, w, batch_size=4)
    assert it.num_batches == 3
    got = batches_of(it)
    assert [step for step, _ in got] == [0, 1, 2]
    np.testing.assert_array_equal(got[2][1][0], x[8:])
    np.testing.assert_array_equal(got[1][1][1], y[4:8])
    np.testing.assert_array_equal(got[0][1][2], w[:4])


def test_arrays_default_batch_size_is_32_and_nested_inputs_are_sliced_alike():
    x = {"a": np.arange(40.0), "b": [np.arange(40) * 3, np.ones((40, 2))]}
    it = EpochIterator(x, np.arange(40))
    got = batches_of(it)
    assert it.num_batches == 2 and len(got[0][1][0]["a"]) == 32
    xb = got[1][1][0]
    np.testing.assert_array_equal(xb["b"][0], np.arange(32, 40) * 3)
    assert got[1][1][2] is None


def test_arrays_shuffled_each_epoch_keep_x_and_y_together():
    np.random.seed(0)
    x = np.arange(12)
    it = EpochIterator(x, x * 10, batch_size=5, shuffle=True)
    orders = []
    for _ in range(2):
        got = batches_of(it)
        xs = np.concatenate([b[0] for _, b in got])
        ys = np.concatenate([b[1] for _, b in got])
        np.testing.assert_array_equal(ys, xs * 10)
        assert sorted(xs) == list(range(12))
        orders.append(xs.tolist())
    assert orders[0] != orders[1] and orders[0] != list(range(12))


def test_steps_per_epoch_carries_on_across_epochs_as_keras():
    """Keras 3: 10 samples, batch 4, steps 2: [0-3, 4-7], [8-9] (ran out, warns), then a new pass."""
    it = EpochIterator(np.arange(10), batch_size=4, steps_per_epoch=2)
    assert it.num_batches == 2
    first = [b[0].tolist() for _, b in it.epoch()]
    with pytest.warns(UserWarning, match="ran out of data"):
        second = [b[0].tolist() for _, b in it.epoch()]
    third = [b[0].tolist() for _, b in it.epoch()]
    assert first == [[0, 1, 2, 3], [4, 5, 6, 7]]
    assert second == [[8, 9]]
    assert third == first


def test_steps_dividing_the_pass_start_the_next_pass_without_warning():
    it = EpochIterator(np.arange(8), batch_size=4, steps_per_epoch=2)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        epochs = [[b[0].tolist() for _, b in it.epoch()] for _ in range(2)]
    assert epochs == [[[0, 1, 2, 3], [4, 5, 6, 7]]] * 2


def test_array_arguments_are_checked():
    with pytest.raises(ValueError, match="same number of samples"):
        EpochIterator(np.zeros(5), np.zeros(4))
    with pytest.raises(ValueError, match="batch_size"):
        EpochIterator(np.zeros(5), batch_size=0)
    with pytest.raises(ValueError, match="steps_per_epoch"):
        EpochIterator(np.zeros(5), steps_per_epoch=-1)
    with pytest.raises(ValueError, match="shuffle"):
        EpochIterator(np.zeros(5), shuffle="batch")
    with pytest.raises(ValueError, match="workers"):
        EpochIterator(np.zeros(5), workers=2)
    with pytest.raises(TypeError, match="validation_data"):
        EpochIterator(np.zeros(5), validation_data=1)


# ---------------------------------------------------------------------------------------------- generators
def test_generator_of_pairs_and_triples():
    def gen():
        yield np.zeros((2, 1)), np.ones(2)
        yield np.ones((3, 1)), np.zeros(3), np.full(3, 0.5)
        yield (np.ones((1, 1)),)
    it = EpochIterator(gen())
    got = batches_of(it)
    assert it.num_batches is None and len(got) == 3
    assert got[0][1][2] is None and got[1][1][2].tolist() == [0.5] * 3 and got[2][1][1] is None
    assert it.ran_out  # a generator gives one pass


def test_endless_generator_with_steps_continues_across_epochs():
    def counter():
        i = 0
        while True:
            yield np.array([i]), np.array([i])
            i += 1
    it = EpochIterator(counter(), steps_per_epoch=3)
    epochs = [[int(b[0][0]) for _, b in it.epoch()] for _ in range(3)]
    assert epochs == [[0, 1, 2], [3, 4, 5], [6, 7, 8]] and not it.ran_out


def test_finite_generator_with_too_many_steps_warns_and_ends():
    it = EpochIterator(((np.array([i]), np.array([i])) for i in range(5)), steps_per_epoch=3)
    assert len(batches_of(it)) == 3
    with pytest.warns(UserWarning, match="ran out of data"):
        assert len(batches_of(it)) == 2
    assert it.ran_out
    assert batches_of(it) == []


def test_generator_refuses_y_sample_weight_and_batch_size():
    with pytest.raises(ValueError, match="`y`"):
        EpochIterator(iter([]), y=np.zeros(3))
    with pytest.raises(ValueError, match="batch_size"):
        EpochIterator(iter([]), batch_size=4)
    with pytest.raises(ValueError, match="sample_weight"):
        EpochIterator(Squares(), sample_weight=np.zeros(3))


def test_bad_batch_structure_is_named():
    it = EpochIterator(iter([(1, 2, 3, 4)]))
    with pytest.raises(ValueError, match="4 elements"):
        batches_of(it)
    assert unpack_x_y_sample_weight([1, 2]) == (1, 2, None)
    assert unpack_x_y_sample_weight(7) == (7, None, None)


# ---------------------------------------------------------------------------------------------- PyDataset
def test_pydataset_in_order_with_epoch_hooks():
    data = Squares(4)
    it = EpochIterator(data)
    for _ in range(2):
        got = batches_of(it)
        assert firsts(got) == [0, 1, 2, 3]
        assert got[3][1][1].tolist() == [9.0, 9.0]
    assert it.num_batches == 4 and data.epochs_ended == 2 and data.epochs_begun == 2


def test_pydataset_shuffle_reorders_batches_every_epoch():
    np.random.seed(1)
    it = EpochIterator(Squares(8), shuffle=True)
    orders = [firsts(batches_of(it)) for _ in range(3)]
    for order in orders:
        assert sorted(order) == list(range(8))
    assert len({tuple(o) for o in orders}) > 1 and tuple(range(8)) not in {tuple(o) for o in orders}


def test_pydataset_defaults_and_argument_checks():
    data = Squares()
    assert (data.workers, data.use_multiprocessing, data.max_queue_size) == (1, False, 10)
    with pytest.raises(ValueError, match="workers"):
        Squares(workers=0)
    with pytest.raises(ValueError, match="max_queue_size"):
        Squares(max_queue_size=0)
    with pytest.raises(NotImplementedError, match="__getitem__"):
        PyDataset()[0]
    assert Sequence is keras.utils.Sequence is keras.utils.PyDataset


def test_tf_keras_2_sequence_without_super_init():
    class OldStyle(keras.utils.Sequence):
        def __init__(self):  # tf.keras 2 code never called super().__init__()
            self.ended = 0

        def __len__(self):
            return 3

        def __getitem__(self, index):
            return np.array([index]), np.array([index])

        def on_epoch_end(self):
            self.ended += 1
    data = OldStyle()
    it = EpochIterator(data, workers=2)
    assert [int(b[0][0]) for _, b in it.epoch()] == [0, 1, 2]
    assert data.ended == 1


def test_workers_load_ahead_in_parallel_and_keep_order():
    start = threading.active_count()
    data = Squares(12, delay=0.02, workers=4, max_queue_size=6)
    it = EpochIterator(data)
    assert firsts(batches_of(it)) == list(range(12))
    assert data.max_concurrent > 1  # several batches were being loaded at once
    assert threading.active_count() == start


def test_queue_is_bounded():
    data = Squares(40, workers=2, max_queue_size=3)
    it = EpochIterator(data)
    epoch = it.epoch()
    next(epoch)
    time.sleep(0.2)  # give the loaders every chance to run ahead
    assert len(data.read) <= 1 + 3
    it.close()


def test_a_failing_batch_raises_in_the_consumer_and_stops_every_thread():
    start = threading.active_count()
    data = Squares(30, fail_at=7, workers=3, max_queue_size=5, delay=0.005)
    it = EpochIterator(data)
    seen = []
    with pytest.raises(RuntimeError, match="batch 7 is broken"):
        for _, batch in it.epoch():
            seen.append(int(batch[0][0, 0]))
    assert seen == list(range(7))
    assert threading.active_count() == start
    it.close()
    assert threading.active_count() == start


def test_leaving_an_epoch_early_stops_every_thread():
    start = threading.active_count()
    with EpochIterator(Squares(50, workers=3, delay=0.002), steps_per_epoch=4) as it:
        for step, _ in it.epoch():
            if step == 1:
                break
        assert [s for s, _ in it.epoch()] == [0, 1, 2, 3]
    assert threading.active_count() == start


def test_failing_batch_with_one_worker_raises_too():
    it = EpochIterator(Squares(5, fail_at=2))
    with pytest.raises(RuntimeError, match="batch 2"):
        batches_of(it)


def test_use_multiprocessing_warns_and_uses_threads():
    with pytest.warns(UserWarning, match="threads"):
        it = EpochIterator(Squares(3, workers=2, use_multiprocessing=True))
    assert firsts(batches_of(it)) == [0, 1, 2]
