"""Stateful metrics with tf.keras semantics: float32 `total` and `count` accumulators, `result() = total / count`.

A metric of per-sample values (accuracy, mse, ...) is a `MeanMetricWrapper`: each batch adds the sum of the
values its function returns and their number. As in Keras, `y_true` of shape (n,) against `y_pred` of shape
(n, 1) is squeezed first, so such a function returns one value per batch and the result is then a mean of
batch means (Keras does exactly this for `accuracy` on binary (n,) targets).
"""
import re

import numpy as np

from minigraph import losses
from minigraph.autodiff import Traced, value_of


def _float32(x):
    return np.asarray(value_of(x), dtype=np.float32)


class Metric:
    def __init__(self, name=None, dtype=None):
        self.name = name or _snake(type(self).__name__)
        self.dtype = np.dtype(dtype or "float32").name

    def update_state(self, *args, **kwargs):
        raise NotImplementedError

    def result(self):
        raise NotImplementedError

    def reset_state(self):
        raise NotImplementedError

    def reset_states(self):  # Keras' older name
        self.reset_state()

    def __call__(self, *args, **kwargs):
        self.update_state(*args, **kwargs)
        return self.result()

    def get_config(self):
        return {"name": self.name, "dtype": self.dtype}

    def __repr__(self):
        return f"<{type(self).__name__} name={self.name}>"


class Mean(Metric):
    """Weighted mean: total += sum(values * w), count += sum(w) (or the number of values when unweighted)."""

    def __init__(self, name="mean", dtype=None):
        super().__init__(name, dtype)
        self.reset_state()

    def reset_state(self):
        self.total = np.float32(0)
        self.count = np.float32(0)

    def update_state(self, values, sample_weight=None):
        values = _float32(values)
        if sample_weight is None:
            count = values.size
        else:
            weights = _float32(sample_weight)
            if weights.ndim == values.ndim + 1 and weights.shape[-1] == 1:
                weights = np.squeeze(weights, -1)
            elif weights.ndim == values.ndim - 1 and weights.ndim > 0:
                weights = np.expand_dims(weights, -1)
            try:
                weights = np.broadcast_to(weights, values.shape)
            except ValueError:  # weights for the leading axes only: average the rest first, as Keras
                values = values.mean(axis=tuple(range(weights.ndim, values.ndim)))
            values = values * weights
            count = weights.sum(dtype=np.float32)
        self.total += np.float32(values.sum(dtype=np.float32))
        self.count += np.float32(count)

    def result(self):
        return float(self.total / self.count) if self.count else 0.0  # div_no_nan


class MeanMetricWrapper(Mean):
    """The mean of `fn(y_true, y_pred, **kwargs)` over all samples seen."""

    def __init__(self, fn, name=None, dtype=None, **kwargs):
        super().__init__(name or getattr(fn, "__name__", None), dtype)
        self._fn = fn
        self._fn_kwargs = kwargs

    def update_state(self, y_true, y_pred, sample_weight=None):
        y_true = _float32(y_true)
        if not isinstance(y_pred, Traced):  # a Traced keeps its logits for the crossentropies
            y_pred = _float32(y_pred)
        y_pred, y_true = losses.squeeze_or_expand_dimensions(y_pred, y_true)
        super().update_state(self._fn(y_true, y_pred, **self._fn_kwargs), sample_weight)

    def get_config(self):
        return {**super().get_config(), **self._fn_kwargs}


# ----------------------------------------------------------------------------------------------- functions
def binary_accuracy(y_true, y_pred, threshold=0.5):
    y_pred = value_of(y_pred)
    return np.mean(np.asarray(y_true) == (y_pred > threshold).astype(y_pred.dtype), axis=-1, dtype=np.float32)


def sparse_categorical_accuracy(y_true, y_pred):
    y_true = np.asarray(value_of(y_true))
    y_pred = value_of(y_pred)
    shape = y_true.shape
    squeezed = y_true.ndim == y_pred.ndim  # (n, 1) labels: compared as (n,), reported as (n, 1)
    if squeezed:
        y_true = np.squeeze(y_true, -1)
    matches = (y_true == np.argmax(y_pred, axis=-1).astype(y_true.dtype)).astype(np.float32)
    return matches.reshape(shape) if squeezed else matches


def categorical_accuracy(y_true, y_pred):
    return sparse_categorical_accuracy(np.argmax(value_of(y_true), axis=-1), y_pred)


# ----------------------------------------------------------------------------------------------- classes
class BinaryAccuracy(MeanMetricWrapper):
    def __init__(self, name="binary_accuracy", dtype=None, threshold=0.5):
        super().__init__(binary_accuracy, name, dtype, threshold=threshold)


class CategoricalAccuracy(MeanMetricWrapper):
    def __init__(self, name="categorical_accuracy", dtype=None):
        super().__init__(categorical_accuracy, name, dtype)


class SparseCategoricalAccuracy(MeanMetricWrapper):
    def __init__(self, name="sparse_categorical_accuracy", dtype=None):
        super().__init__(sparse_categorical_accuracy, name, dtype)


class MeanSquaredError(MeanMetricWrapper):
    def __init__(self, name="mean_squared_error", dtype=None):
        super().__init__(losses.mean_squared_error, name, dtype)


class MeanAbsoluteError(MeanMetricWrapper):
    def __init__(self, name="mean_absolute_error", dtype=None):
        super().__init__(losses.mean_absolute_error, name, dtype)


# ----------------------------------------------------------------------------------------------- lookup
_FUNCTIONS = {
    "binary_accuracy": binary_accuracy, "categorical_accuracy": categorical_accuracy,
    "sparse_categorical_accuracy": sparse_categorical_accuracy,
    "mse": losses.mean_squared_error, "MSE": losses.mean_squared_error,
    "mean_squared_error": losses.mean_squared_error,
    "mae": losses.mean_absolute_error, "MAE": losses.mean_absolute_error,
    "mean_absolute_error": losses.mean_absolute_error,
    "binary_crossentropy": losses.binary_crossentropy, "categorical_crossentropy": losses.categorical_crossentropy,
    "sparse_categorical_crossentropy": losses.sparse_categorical_crossentropy,
}
_CLASSES = {c.__name__: c for c in (Mean, BinaryAccuracy, CategoricalAccuracy, SparseCategoricalAccuracy,
                                    MeanSquaredError, MeanAbsoluteError)}


def _by_shapes(identifier, y_true_shape, y_pred_shape):
    """Keras' choice for 'accuracy'/'acc' and 'crossentropy'/'ce' from the target and output shapes."""
    true_last = y_true_shape[-1] if len(y_true_shape) else None
    pred_last = y_pred_shape[-1] if len(y_pred_shape) else None
    kind = ("binary" if pred_last == 1 else
            "sparse_categorical" if len(y_true_shape) < len(y_pred_shape) or (true_last == 1 and pred_last > 1)
            else "categorical")
    suffix = "accuracy" if identifier.lower() in ("accuracy", "acc") else "crossentropy"
    return _FUNCTIONS[f"{kind}_{suffix}"]


class _ShapeResolved(MeanMetricWrapper):
    """'accuracy' given without shapes: picks its function from the first batch's shapes."""

    def __init__(self, name):
        super().__init__(None, name)

    def update_state(self, y_true, y_pred, sample_weight=None):
        if self._fn is None:
            self._fn = _by_shapes(self.name, np.shape(value_of(y_true)), np.shape(value_of(y_pred)))
        super().update_state(y_true, y_pred, sample_weight)


def get(identifier, y_true_shape=None, y_pred_shape=None):
    """A metric object for a Metric (instance or class), a name, or a function `fn(y_true, y_pred)`.

    'accuracy'/'acc' (and 'crossentropy'/'ce') become binary when y_pred's last axis is 1, sparse when y_true
    has fewer axes than y_pred or a last axis of 1 against more classes, else categorical; the metric keeps
    the name given. Other names of functions keep their name too ('mse' logs as 'mse').
    """
    if isinstance(identifier, Metric):
        return identifier
    if isinstance(identifier, type) and issubclass(identifier, Metric):
        return identifier()
    if isinstance(identifier, str):
        if identifier.lower() in ("accuracy", "acc", "crossentropy", "ce"):
            if y_true_shape is None or y_pred_shape is None:
                return _ShapeResolved(identifier)
            return MeanMetricWrapper(_by_shapes(identifier, tuple(y_true_shape), tuple(y_pred_shape)), identifier)
        if identifier in _FUNCTIONS:
            return MeanMetricWrapper(_FUNCTIONS[identifier], identifier)
        if identifier in _CLASSES:
            return _CLASSES[identifier]()
        raise ValueError(f"Unknown metric function: '{identifier}'. Known names: "
                         f"{sorted(['accuracy', 'acc', 'crossentropy', 'ce', *_FUNCTIONS, *_CLASSES])}")
    if callable(identifier):
        return MeanMetricWrapper(identifier, getattr(identifier, "__name__", None))
    raise ValueError(f"Could not interpret metric identifier: {identifier!r}")


def _snake(name):
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()
