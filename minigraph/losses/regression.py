"""Regression losses: squared, absolute, percentage and logarithmic errors, Huber, log-cosh, cosine similarity.

Each function returns one loss per sample (the mean, or for the cosine the sum, over the last axis).
"""
import numpy as np

from minigraph import ops, registry
from minigraph.autodiff import value_of
from minigraph.losses.loss import EPSILON, LossFunctionWrapper, as_pred, as_true

_LOG_2 = float(np.log(2.0))


def _pred_and_true(y_true, y_pred):
    y_pred = as_pred(y_pred)
    return y_pred, as_true(y_true, y_pred)


def _mean_last(x):
    return ops.mean(x, axis=-1)


def softplus(x):
    """log(1 + exp(x)) as max(x, 0) + log(1 + exp(-|x|)): no overflow for large |x|."""
    return ops.add(ops.maximum(x, 0.0), ops.log(ops.add(ops.exp(ops.negative(ops.abs(x))), 1.0)))


def l2_normalize(x, axis=-1):
    """x / max(||x||, eps) along `axis` (Keras 3's normalize: x * min(rsqrt(sum(x^2)), 1 / eps))."""
    squares = ops.sum(ops.square(x), axis=axis, keepdims=True)
    return ops.divide(x, ops.sqrt(ops.maximum(squares, EPSILON * EPSILON)))


# ----------------------------------------------------------------------------------------------- functions
def mean_squared_error(y_true, y_pred):
    y_pred, y_true = _pred_and_true(y_true, y_pred)
    return _mean_last(ops.square(ops.subtract(y_pred, y_true)))


def mean_absolute_error(y_true, y_pred):
    y_pred, y_true = _pred_and_true(y_true, y_pred)
    return _mean_last(ops.abs(ops.subtract(y_pred, y_true)))


def mean_absolute_percentage_error(y_true, y_pred):
    """100 * mean(|y_true - y_pred| / max(|y_true|, eps))."""
    y_pred, y_true = _pred_and_true(y_true, y_pred)
    scale = np.maximum(np.abs(y_true), y_true.dtype.type(EPSILON))
    return ops.multiply(_mean_last(ops.abs(ops.divide(ops.subtract(y_true, y_pred), scale))), 100.0)


def mean_squared_logarithmic_error(y_true, y_pred):
    """mean((log(max(y_pred, eps) + 1) - log(max(y_true, eps) + 1))^2)."""
    y_pred, y_true = _pred_and_true(y_true, y_pred)
    first = ops.log(ops.add(ops.maximum(y_pred, EPSILON), 1.0))
    second = np.log(np.maximum(y_true, y_true.dtype.type(EPSILON)) + y_true.dtype.type(1.0))
    return _mean_last(ops.square(ops.subtract(first, second)))


def huber(y_true, y_pred, delta=1.0):
    """mean(0.5 * e^2 where |e| <= delta, else delta * |e| - 0.5 * delta^2), e = y_pred - y_true."""
    y_pred, y_true = _pred_and_true(y_true, y_pred)
    error = ops.subtract(y_pred, y_true)
    abs_error = ops.abs(error)
    quadratic = ops.multiply(ops.square(error), 0.5)
    linear = ops.subtract(ops.multiply(abs_error, float(delta)), 0.5 * float(delta) ** 2)
    # the branch is chosen by a constant 0/1 mask: products with 0 and 1 and sums with 0 are exact
    small = (np.abs(np.asarray(ops.convert(abs_error))) <= delta).astype(value_of(abs_error).dtype)
    return _mean_last(ops.add(ops.multiply(quadratic, small), ops.multiply(linear, 1 - small)))


def log_cosh(y_true, y_pred):
    """mean(log(cosh(e))), computed as e + softplus(-2 e) - log(2) so that large errors do not overflow."""
    y_pred, y_true = _pred_and_true(y_true, y_pred)
    error = ops.subtract(y_pred, y_true)
    return _mean_last(ops.subtract(ops.add(error, softplus(ops.multiply(error, -2.0))), _LOG_2))


def cosine_similarity(y_true, y_pred, axis=-1):
    """The loss: minus the cosine of the angle between y_true and y_pred along `axis`."""
    y_pred, y_true = _pred_and_true(y_true, y_pred)
    return ops.negative(ops.sum(ops.multiply(l2_normalize(y_true, axis), l2_normalize(y_pred, axis)), axis=axis))


mse = MSE = mean_squared_error
mae = MAE = mean_absolute_error
mape = MAPE = mean_absolute_percentage_error
msle = MSLE = mean_squared_logarithmic_error
logcosh = log_cosh


# ----------------------------------------------------------------------------------------------- classes
@registry.register
class MeanSquaredError(LossFunctionWrapper):
    def __init__(self, reduction="sum_over_batch_size", name="mean_squared_error", dtype=None):
        super().__init__(mean_squared_error, reduction=reduction, name=name, dtype=dtype)


@registry.register
class MeanAbsoluteError(LossFunctionWrapper):
    def __init__(self, reduction="sum_over_batch_size", name="mean_absolute_error", dtype=None):
        super().__init__(mean_absolute_error, reduction=reduction, name=name, dtype=dtype)


@registry.register
class MeanAbsolutePercentageError(LossFunctionWrapper):
    def __init__(self, reduction="sum_over_batch_size", name="mean_absolute_percentage_error", dtype=None):
        super().__init__(mean_absolute_percentage_error, reduction=reduction, name=name, dtype=dtype)


@registry.register
class MeanSquaredLogarithmicError(LossFunctionWrapper):
    def __init__(self, reduction="sum_over_batch_size", name="mean_squared_logarithmic_error", dtype=None):
        super().__init__(mean_squared_logarithmic_error, reduction=reduction, name=name, dtype=dtype)


@registry.register
class Huber(LossFunctionWrapper):
    def __init__(self, delta=1.0, reduction="sum_over_batch_size", name="huber_loss", dtype=None):
        super().__init__(huber, reduction=reduction, name=name, dtype=dtype, delta=delta)


@registry.register
class LogCosh(LossFunctionWrapper):
    def __init__(self, reduction="sum_over_batch_size", name="log_cosh", dtype=None):
        super().__init__(log_cosh, reduction=reduction, name=name, dtype=dtype)


@registry.register
class CosineSimilarity(LossFunctionWrapper):
    def __init__(self, axis=-1, reduction="sum_over_batch_size", name="cosine_similarity", dtype=None):
        super().__init__(cosine_similarity, reduction=reduction, name=name, dtype=dtype, axis=axis)
