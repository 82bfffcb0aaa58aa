"""`Sum`, `Mean` and `MeanMetricWrapper`: float32 accumulators of (weighted) values, as tf.keras 2's Reduce.

A metric of per-sample values (accuracy, mse, ...) is a `MeanMetricWrapper`: each batch adds the sum of the
values its function returns and their number. As in tf.keras 2's metric objects, `y_true` of shape (n,)
against `y_pred` of shape (n, 1) is squeezed first, so such a function returns one value per batch and the
result is then a mean of batch means. tf.keras 2's `fit` gives the targets a trailing axis before calling
its metrics (`losses.match_dtype_and_rank`), and so gets per-sample values there.
"""
import numpy as np

from minigraph.autodiff import Traced, value_of
from minigraph.losses.loss import align_sample_weight, squeeze_or_expand_dimensions
from minigraph.metrics.metric import Metric


def weighted_values(values, sample_weight, reduce, dtype, caller):
    """tf.keras 2's Reduce.update_state: (values * weights, weights) once the weights line up with the values.

    Weights that do not broadcast to the values cover their leading axes: the trailing axes are reduced
    first (`reduce` is np.sum or np.mean).
    """
    values = np.asarray(value_of(values), dtype=dtype)
    if sample_weight is None:
        return values, None
    weights = align_sample_weight(values.shape, sample_weight, dtype, caller)
    try:
        weights = np.broadcast_to(weights, values.shape)
    except ValueError:
        values = reduce(values, axis=tuple(range(weights.ndim, values.ndim)), dtype=dtype)
        weights = np.broadcast_to(weights, values.shape)
    return values * weights, weights


class Sum(Metric):
    """The (weighted) sum of all values seen."""

    def __init__(self, name="sum", dtype=None):
        super().__init__(name=name, dtype=dtype)
        self.total = self.add_variable((), name="total")

    def update_state(self, values, sample_weight=None):
        values, _ = weighted_values(values, sample_weight, np.sum, self.dtype, type(self).__name__)
        self.total.assign_add(values.sum(dtype=self.dtype))

    def result(self):
        return self.total.value


class Mean(Metric):
    """Weighted mean: total += sum(values * w), count += sum(w) (or the number of values when unweighted)."""

    def __init__(self, name="mean", dtype=None):
        super().__init__(name=name, dtype=dtype)
        self.total = self.add_variable((), name="total")
        self.count = self.add_variable((), name="count")

    def update_state(self, values, sample_weight=None):
        values, weights = weighted_values(values, sample_weight, np.mean, self.dtype, type(self).__name__)
        self.total.assign_add(values.sum(dtype=self.dtype))
        self.count.assign_add(values.size if weights is None else weights.sum(dtype=self.dtype))

    def result(self):
        count = self.count.value
        return self.total.value / count if count else np.zeros((), self.dtype)  # div_no_nan


class MeanMetricWrapper(Mean):
    """The mean of `fn(y_true, y_pred, **kwargs)` over all samples seen."""

    def __init__(self, fn, name=None, dtype=None, **kwargs):
        super().__init__(name=name or getattr(fn, "__name__", None), dtype=dtype)
        self._fn = fn
        self._fn_kwargs = kwargs

    def update_state(self, y_true, y_pred, sample_weight=None):
        y_true = np.asarray(value_of(y_true), dtype=self.dtype)
        if not isinstance(y_pred, Traced):  # a Traced keeps its logits for the crossentropies
            y_pred = np.asarray(value_of(y_pred), dtype=self.dtype)
        y_pred, y_true = squeeze_or_expand_dimensions(y_pred, y_true)
        super().update_state(self._fn(y_true, y_pred, **self._fn_kwargs), sample_weight)

    def get_config(self):
        return {**super().get_config(), **self._fn_kwargs}
