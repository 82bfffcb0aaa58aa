"""Data pipelines for fit/evaluate/predict: arrays, Python generators and iterators, and PyDataset.

`EpochIterator` turns any of them into one stream of `(x, y, sample_weight)` batches per epoch, with
Keras 3's rules for `steps_per_epoch`: with steps given, an epoch takes that many batches and the next
epoch carries on where it stopped, starting a new pass over the data when one ends; without steps, an
epoch is one pass. A `PyDataset` with `workers > 1` has its batches loaded on a thread pool, at most
`max_queue_size` ahead of the consumer, while the consumer computes (the kernels release the GIL).
"""
import inspect
import warnings
from collections import deque
from concurrent.futures import ThreadPoolExecutor

import numpy as np

DEFAULT_BATCH_SIZE = 32


class PyDataset:
    """Base class for batch-indexed data sets (Keras 3's keras.utils.PyDataset).

    A subclass implements `__len__` (the number of batches) and `__getitem__(index)` (batch `index` as
    `x`, `(x, y)` or `(x, y, sample_weight)`), and may implement `on_epoch_begin`/`on_epoch_end`. With
    workers > 1, fit loads batches on that many threads; `__getitem__` must then be thread-safe.
    use_multiprocessing=True is accepted and served by threads as well.
    """

    def __init__(self, workers=1, use_multiprocessing=False, max_queue_size=10):
        self._workers = _positive_int(workers, "workers", type(self).__name__)
        self._use_multiprocessing = bool(use_multiprocessing)
        self._max_queue_size = _positive_int(max_queue_size, "max_queue_size", type(self).__name__)

    # Subclasses that skip super().__init__() (tf.keras 2's Sequence never needed it) get the defaults.
    @property
    def workers(self):
        return getattr(self, "_workers", 1)

    @workers.setter
    def workers(self, value):
        self._workers = _positive_int(value, "workers", type(self).__name__)

    @property
    def use_multiprocessing(self):
        return getattr(self, "_use_multiprocessing", False)

    @use_multiprocessing.setter
    def use_multiprocessing(self, value):
        self._use_multiprocessing = bool(value)

    @property
    def max_queue_size(self):
        return getattr(self, "_max_queue_size", 10)

    @max_queue_size.setter
    def max_queue_size(self, value):
        self._max_queue_size = _positive_int(value, "max_queue_size", type(self).__name__)

    def __getitem__(self, index):
        raise NotImplementedError(f"{type(self).__name__} must implement __getitem__(index)")

    def __len__(self):
        raise NotImplementedError(f"{type(self).__name__} must implement __len__()")

    @property
    def num_batches(self):
        return len(self)

    def on_epoch_begin(self):
        pass

    def on_epoch_end(self):
        pass

    def __iter__(self):
        for index in range(len(self)):
            yield self[index]


Sequence = PyDataset  # tf.keras 2's name for the same protocol (Keras 3 keeps it as an alias too)


def unpack_x_y_sample_weight(data):
    """(x, y, sample_weight) from a batch given as x, (x,), (x, y) or (x, y, sample_weight)."""
    if isinstance(data, list):
        data = tuple(data)
    if not isinstance(data, tuple):
        return data, None, None
    if len(data) == 1:
        return data[0], None, None
    if len(data) == 2:
        return data[0], data[1], None
    if len(data) == 3:
        return data
    raise ValueError(f"Data is expected to be in format `x`, `(x,)`, `(x, y)`, or `(x, y, sample_weight)`, "
                     f"found a tuple of {len(data)} elements")


class EpochIterator:
    """Batches `(x, y, sample_weight)` epoch by epoch from arrays, a generator/iterator or a PyDataset.

        iterator = EpochIterator(x, y, batch_size=32, shuffle=True)
        for epoch in range(epochs):
            for step, (x_batch, y_batch, w_batch) in iterator.epoch():
                ...
            if iterator.ran_out:
                break  # a generator ended before steps_per_epoch * epochs batches
        iterator.close()

    `num_batches` is the number of steps of an epoch, None when unknown (a generator without steps).
    """

    def __init__(self, x, y=None, sample_weight=None, batch_size=None, steps_per_epoch=None, shuffle=False,
                 workers=None, use_multiprocessing=None, max_queue_size=None):
        if steps_per_epoch is not None:
            steps_per_epoch = _positive_int(steps_per_epoch, "steps_per_epoch")
        if not isinstance(shuffle, (bool, np.bool_)):
            raise ValueError(f"EpochIterator: shuffle must be True or False, got {shuffle!r}")
        self.steps_per_epoch = steps_per_epoch
        self._source = _make_source(x, y, sample_weight, batch_size, bool(shuffle), workers, use_multiprocessing,
                                    max_queue_size)
        self._pass = None  # the batch stream of the current pass over the data
        self._epoch = None
        self.ran_out = False

    @property
    def num_batches(self):
        return self.steps_per_epoch or self._source.num_batches

    def epoch(self):
        """One epoch's `(step, (x, y, sample_weight))` pairs."""
        if self._epoch is not None:
            self._epoch.close()
        self._epoch = self._run_epoch()
        return self._epoch

    def _run_epoch(self):
        self._source.on_epoch_begin()
        if self.steps_per_epoch is None:
            self._close_pass()  # without steps an epoch is exactly one pass
        step, fresh = 0, False
        while not self.ran_out and (self.steps_per_epoch is None or step < self.steps_per_epoch):
            if self._pass is None:
                self._pass, fresh = self._source.open_pass(), True
            try:
                batch = next(self._pass)
            except StopIteration:
                self._close_pass()
                if not self._source.restartable:
                    self.ran_out = True  # a generator gives one pass only
                if self.steps_per_epoch is None:
                    break
                if step == 0 and not fresh and self._source.restartable:
                    continue  # the previous epoch ended exactly with the pass: start the next pass
                warnings.warn("Your input ran out of data; interrupting the epoch. Make sure that your data "
                              "can generate at least `steps_per_epoch * epochs` batches.", stacklevel=2)
                break
            except BaseException:
                self._close_pass()  # a batch that raised: stop the loaders, hand the error to the consumer
                raise
            fresh = False
            yield step, unpack_x_y_sample_weight(batch)
            step += 1
        self._source.on_epoch_end()

    def _close_pass(self):
        if self._pass is not None:
            self._pass.close()
            self._pass = None

    def close(self):
        """Stop any loading threads (also done when a batch raises or an epoch is left early)."""
        if self._epoch is not None:
            self._epoch.close()
            self._epoch = None
        self._close_pass()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


# ---------------------------------------------------------------------------------------------- sources
def _make_source(x, y, sample_weight, batch_size, shuffle, workers, use_multiprocessing, max_queue_size):
    if isinstance(x, PyDataset) or _is_batch_indexed(x):
        _refuse_extra_arguments(x, y, sample_weight, batch_size)
        return _PyDatasetSource(x, shuffle, workers, use_multiprocessing, max_queue_size)
    if _is_iterator_or_iterable(x):
        _refuse_extra_arguments(x, y, sample_weight, batch_size)
        return _IterableSource(x)
    if workers not in (None, 1):
        raise ValueError("EpochIterator: workers > 1 applies to a PyDataset; array data is sliced in place")
    return _ArraySource(x, y, sample_weight, batch_size, shuffle)


def _is_batch_indexed(x):
    """A tf.keras 2 style Sequence that does not derive from PyDataset: __len__ and __getitem__, not data."""
    return (hasattr(x, "__getitem__") and hasattr(x, "__len__") and hasattr(x, "on_epoch_end")
            and not isinstance(x, (np.ndarray, list, tuple, dict)))


def _is_iterator_or_iterable(x):
    if isinstance(x, (np.ndarray, list, tuple, dict, str, bytes)) or hasattr(x, "__array__"):
        return False
    return inspect.isgenerator(x) or hasattr(x, "__next__") or hasattr(x, "__iter__")


def _refuse_extra_arguments(x, y, sample_weight, batch_size):
    kind = type(x).__name__
    for name, value in (("y", y), ("sample_weight", sample_weight), ("batch_size", batch_size)):
        if value is not None:
            raise ValueError(f"EpochIterator: `{name}` cannot be given with a {kind} input: its batches carry "
                             f"x, y and sample_weight themselves. Received: {name}={_short(value)}")


def _short(value):
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


class _ArraySource:
    """Slices of in-memory arrays (nested in lists, tuples or dicts), reshuffled every pass when asked."""

    restartable = True

    def __init__(self, x, y, sample_weight, batch_size, shuffle):
        if batch_size is None:
            batch_size = DEFAULT_BATCH_SIZE
        self.batch_size = _positive_int(batch_size, "batch_size")
        self.shuffle = shuffle
        self.data = (x, y, sample_weight)
        lengths = {}
        for name, part in zip(("x", "y", "sample_weight"), self.data):
            for leaf in _leaves(part):
                lengths.setdefault(name, []).append(_num_samples(leaf, name))
        counts = {n for found in lengths.values() for n in found}
        if not counts:
            raise ValueError("EpochIterator: no data was given (x is None or empty)")
        if len(counts) > 1:
            raise ValueError(f"EpochIterator: the arrays must all have the same number of samples; got "
                             f"{', '.join(f'{k}: {v}' for k, v in lengths.items())}")
        self.num_samples = counts.pop()
        self.num_batches = -(-self.num_samples // self.batch_size)

    def on_epoch_begin(self):
        pass

    def on_epoch_end(self):
        pass

    def open_pass(self):
        order = np.random.permutation(self.num_samples) if self.shuffle else None
        return self._batches(order)

    def _batches(self, order):
        for start in range(0, self.num_samples, self.batch_size):
            if order is None:
                index = slice(start, start + self.batch_size)
            else:
                index = order[start:start + self.batch_size]
            yield tuple(_map_leaves(part, lambda a: a[index]) for part in self.data)


def _leaves(structure):
    if structure is None:
        return []
    if isinstance(structure, (list, tuple)):
        return [leaf for item in structure for leaf in _leaves(item)]
    if isinstance(structure, dict):
        return [leaf for key in structure for leaf in _leaves(structure[key])]
    return [structure]


def _map_leaves(structure, fn):
    if structure is None:
        return None
    if isinstance(structure, (list, tuple)):
        return type(structure)(_map_leaves(item, fn) for item in structure)
    if isinstance(structure, dict):
        return {key: _map_leaves(value, fn) for key, value in structure.items()}
    return fn(structure)


def _num_samples(leaf, name):
    shape = getattr(leaf, "shape", None)
    if shape is None:
        raise ValueError(f"EpochIterator: `{name}` must hold arrays (numpy), got {type(leaf).__name__}")
    if len(shape) == 0:
        raise ValueError(f"EpochIterator: `{name}` holds a scalar; arrays need a sample axis")
    return int(shape[0])


class _IterableSource:
    """A generator, iterator or re-iterable object: each pass is iter(x); a generator gives one pass only."""

    num_batches = None

    def __init__(self, data):
        self.data = data
        self.restartable = not (inspect.isgenerator(data) or hasattr(data, "__next__"))
        if hasattr(data, "__len__") and self.restartable:
            self.num_batches = len(data)

    def on_epoch_begin(self):
        pass

    def on_epoch_end(self):
        pass

    def open_pass(self):
        return _pass_over(iter(self.data))


def _pass_over(iterator):
    # a generator around the iterator, so every source's pass can be closed the same way
    yield from iterator


class _PyDatasetSource:
    """Batch indices of a PyDataset, in order or shuffled per pass, loaded ahead on threads when workers > 1."""

    restartable = True

    def __init__(self, dataset, shuffle, workers, use_multiprocessing, max_queue_size):
        self.dataset = dataset
        self.shuffle = shuffle
        name = type(dataset).__name__
        self.workers = _positive_int(workers if workers is not None else getattr(dataset, "workers", 1),
                                     "workers", name)
        self.max_queue_size = _positive_int(
            max_queue_size if max_queue_size is not None else getattr(dataset, "max_queue_size", 10),
            "max_queue_size", name)
        if use_multiprocessing or getattr(dataset, "use_multiprocessing", False):
            warnings.warn(f"{name}: use_multiprocessing=True loads batches on threads in minigraph (the kernels "
                          f"release the GIL, so threads overlap with training)", stacklevel=3)
        self.num_batches = self._length()

    def _length(self):
        try:
            length = len(self.dataset)
        except NotImplementedError:
            raise
        except TypeError as err:
            raise ValueError(f"{type(self.dataset).__name__}: __len__ must return the number of batches "
                             f"({err})") from None
        if isinstance(length, bool) or not isinstance(length, (int, np.integer)) or length < 0:
            raise ValueError(f"{type(self.dataset).__name__}: __len__ must return a non-negative int, got "
                             f"{length!r}")
        return int(length)

    def on_epoch_begin(self):
        begin = getattr(self.dataset, "on_epoch_begin", None)
        if begin is not None:
            begin()

    def on_epoch_end(self):
        self.dataset.on_epoch_end()

    def open_pass(self):
        self.num_batches = self._length()  # a data set may change its length in on_epoch_end
        order = np.arange(self.num_batches)
        if self.shuffle:
            np.random.shuffle(order)
        if self.workers == 1:
            return (self.dataset[int(i)] for i in order)
        return _prefetched(self.dataset, order, self.workers, self.max_queue_size)


def _prefetched(dataset, order, workers, max_queue_size):
    """dataset[i] for i in order, computed by `workers` threads at most max_queue_size batches ahead.

    A batch that raises re-raises here, in the consumer; leaving early (close()) cancels what was queued.
    Either way the pool is shut down and its threads joined before this generator finishes.
    """
    executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix=f"{type(dataset).__name__}-loader")
    pending = deque()
    upcoming = iter(order)
    try:
        for index in upcoming:
            pending.append(executor.submit(dataset.__getitem__, int(index)))
            if len(pending) >= max_queue_size:
                break
        while pending:
            batch = pending.popleft().result()
            for index in upcoming:  # refill: keep the queue full while the consumer works
                pending.append(executor.submit(dataset.__getitem__, int(index)))
                break
            yield batch
    finally:
        for future in pending:
            future.cancel()
        executor.shutdown(wait=True)


def _positive_int(value, name, owner="EpochIterator"):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{owner}: `{name}` must be a positive integer, got {value!r}")
    return int(value)

