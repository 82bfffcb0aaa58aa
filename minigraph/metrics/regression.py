"""Regression metrics: the means of the regression losses, RMSE, and the cosine similarity itself."""
import numpy as np

from minigraph import losses
from minigraph.autodiff import value_of
from minigraph.losses.loss import squeeze_or_expand_dimensions
from minigraph.metrics.reduction import Mean, MeanMetricWrapper


def cosine_similarity(y_true, y_pred, axis=-1):
    """The cosine of the angle between y_true and y_pred along `axis` (the loss of that name is its negative)."""
    return -np.asarray(value_of(losses.cosine_similarity(y_true, y_pred, axis=axis)))


class MeanSquaredError(MeanMetricWrapper):
    def __init__(self, name="mean_squared_error", dtype=None):
        super().__init__(losses.mean_squared_error, name, dtype)


class MeanAbsoluteError(MeanMetricWrapper):
    def __init__(self, name="mean_absolute_error", dtype=None):
        super().__init__(losses.mean_absolute_error, name, dtype)


class MeanAbsolutePercentageError(MeanMetricWrapper):
    def __init__(self, name="mean_absolute_percentage_error", dtype=None):
        super().__init__(losses.mean_absolute_percentage_error, name, dtype)


class MeanSquaredLogarithmicError(MeanMetricWrapper):
    def __init__(self, name="mean_squared_logarithmic_error", dtype=None):
        super().__init__(losses.mean_squared_logarithmic_error, name, dtype)


class LogCoshError(MeanMetricWrapper):
    def __init__(self, name="logcosh", dtype=None):
        super().__init__(losses.log_cosh, name, dtype)


class CosineSimilarity(MeanMetricWrapper):
    def __init__(self, name="cosine_similarity", dtype=None, axis=-1):
        super().__init__(cosine_similarity, name, dtype, axis=axis)


class RootMeanSquaredError(Mean):
    """sqrt of the (weighted) mean of the squared errors, elementwise."""

    def __init__(self, name="root_mean_squared_error", dtype=None):
        super().__init__(name=name, dtype=dtype)

    def update_state(self, y_true, y_pred, sample_weight=None):
        y_true = np.asarray(value_of(y_true), dtype=self.dtype)
        y_pred = np.asarray(value_of(y_pred), dtype=self.dtype)
        y_pred, y_true = squeeze_or_expand_dimensions(y_pred, y_true)
        super().update_state(np.square(y_pred - y_true), sample_weight)

    def result(self):
        return np.sqrt(super().result())
