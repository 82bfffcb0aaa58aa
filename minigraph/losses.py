"""Losses with tf.keras semantics, built from `minigraph.ops` so they differentiate on the tape.

A function form (`mean_squared_error`, ...) returns one loss per sample (the last axis is reduced); a `Loss`
object returns the reduced scalar: by default the sum over all per-sample losses divided by their count
(Keras' SUM_OVER_BATCH_SIZE). `y_pred` may be a numpy array or a `Traced` value; `y_true` is a constant.

As in tf.keras' `fit`, a `y_pred` that comes straight out of a softmax (sigmoid) is replaced by that op's
logits in the categorical (binary) crossentropies: `-log(clip(softmax(z)))` saturates at -log(1e-7) where the
logits form keeps its gradient (Keras' `_get_logits`).
"""
import warnings

import numpy as np

from minigraph import ops, registry
from minigraph.autodiff import Traced, Variable, value_of

EPSILON = 1e-7  # keras.backend.epsilon()
_REDUCTIONS = ("auto", "none", "sum", "sum_over_batch_size")


# ----------------------------------------------------------------------------------------------- helpers
def _as_pred(y_pred):
    """y_pred as an op argument: Traced/Variable stay (differentiable), anything else becomes a float array."""
    return y_pred if isinstance(y_pred, (Traced, Variable)) else ops.convert(y_pred)


def _as_true(y_true, y_pred, dtype=None):
    return np.asarray(value_of(y_true), dtype=dtype or value_of(y_pred).dtype)


def _squeeze_last(x):
    shape = np.shape(value_of(x))[:-1]
    return ops.reshape(x, shape) if isinstance(x, (Traced, Variable)) else np.reshape(x, shape)


def squeeze_or_expand_dimensions(y_pred, y_true):
    """Keras' losses_utils.squeeze_or_expand_dimensions: drop a trailing 1 so (n,) and (n, 1) line up.

    Left alone when y_pred has one more axis than y_true and a last axis > 1 (sparse labels).
    """
    pred_shape, true_shape = np.shape(value_of(y_pred)), np.shape(value_of(y_true))
    diff = len(pred_shape) - len(true_shape)
    if diff != 1 or pred_shape[-1] == 1:
        if diff == 1 and pred_shape[-1] == 1:
            y_pred = _squeeze_last(y_pred)
        elif diff == -1 and true_shape[-1] == 1:
            y_true = _squeeze_last(y_true)
    return y_pred, y_true


def _mean_last(x):
    return ops.mean(x, axis=-1)


def _logits_of(y_pred, from_logits, op_type, fn_name):
    """Keras' `_get_logits`: the pre-activation of a matching softmax/sigmoid output is used as logits."""
    logits = getattr(y_pred, "logits", None)
    if logits is None or getattr(y_pred, "logits_op", None) != op_type:
        return y_pred, from_logits
    if from_logits:
        warnings.warn(f'"`{fn_name}` received `from_logits=True`, but the `output` argument was produced by a '
                      f'{op_type} activation and thus does not represent logits. Was this intended?', stacklevel=3)
    return logits, True


def _reduce(losses, sample_weight, reduction):
    """Keras' compute_weighted_loss: weight, then sum (and divide by the number of loss elements)."""
    if sample_weight is not None:
        sw = np.asarray(value_of(sample_weight), dtype=value_of(losses).dtype)
        rank, sw_rank = np.ndim(value_of(losses)), sw.ndim
        if sw_rank == rank + 1:
            sw = np.squeeze(sw, -1)
        elif sw_rank == rank - 1 and sw_rank > 0:
            sw = np.expand_dims(sw, -1)
        losses = ops.multiply(losses, sw)
    if reduction == "none":
        return losses
    if reduction == "sum":
        return ops.sum(losses)
    return ops.mean(losses)  # sum / number of elements, as SUM_OVER_BATCH_SIZE


# ----------------------------------------------------------------------------------------------- functions
def mean_squared_error(y_true, y_pred):
    y_pred = _as_pred(y_pred)
    return _mean_last(ops.square(ops.subtract(y_pred, _as_true(y_true, y_pred))))


def mean_absolute_error(y_true, y_pred):
    y_pred = _as_pred(y_pred)
    return _mean_last(ops.abs(ops.subtract(y_pred, _as_true(y_true, y_pred))))


def binary_crossentropy(y_true, y_pred, from_logits=False, label_smoothing=0.0, axis=-1):
    y_pred = _as_pred(y_pred)
    y_true = _as_true(y_true, y_pred)
    if label_smoothing:
        y_true = y_true * (1.0 - label_smoothing) + 0.5 * label_smoothing
    output, from_logits = _logits_of(y_pred, from_logits, "Sigmoid", "binary_crossentropy")
    if from_logits:
        elementwise = ops.sigmoid_cross_entropy_with_logits(y_true, output)
    else:
        p = ops.clip(output, EPSILON, 1.0 - EPSILON)
        # -(y log(p + eps) + (1 - y) log(1 - p + eps)): the eps inside the log is Keras' too, on top of the clip
        elementwise = ops.negative(ops.add(ops.multiply(y_true, ops.log(ops.add(p, EPSILON))),
                                           ops.multiply(1.0 - y_true, ops.log(ops.add(ops.subtract(1.0, p), EPSILON)))))
    return ops.mean(elementwise, axis=axis)


def categorical_crossentropy(y_true, y_pred, from_logits=False, label_smoothing=0.0, axis=-1):
    y_pred = _as_pred(y_pred)
    y_true = _as_true(y_true, y_pred)
    if y_true.shape != np.shape(value_of(y_pred)):
        raise ValueError(f"categorical_crossentropy: shapes {y_true.shape} (y_true) and "
                         f"{np.shape(value_of(y_pred))} (y_pred) are incompatible")
    if label_smoothing:
        y_true = y_true * (1.0 - label_smoothing) + label_smoothing / y_true.shape[axis]
    output, from_logits = _logits_of(y_pred, from_logits, "Softmax", "categorical_crossentropy")
    if from_logits:
        return ops.softmax_cross_entropy_with_logits(y_true, output, axis=axis)
    p = ops.divide(output, ops.sum(output, axis=axis, keepdims=True))  # rows renormalised to sum to 1
    p = ops.clip(p, EPSILON, 1.0 - EPSILON)
    return ops.negative(ops.sum(ops.multiply(y_true, ops.log(p)), axis=axis))


def sparse_categorical_crossentropy(y_true, y_pred, from_logits=False, axis=-1, ignore_class=None):
    if ignore_class is not None:
        raise NotImplementedError("sparse_categorical_crossentropy: ignore_class is not supported")
    if axis not in (-1, np.ndim(value_of(y_pred)) - 1):
        raise NotImplementedError("sparse_categorical_crossentropy: only the last axis holds the classes")
    y_pred = _as_pred(y_pred)
    labels = np.asarray(value_of(y_true)).astype(np.int64)  # Keras casts to int64: 2.7 is class 2
    output, from_logits = _logits_of(y_pred, from_logits, "Softmax", "sparse_categorical_crossentropy")
    if not from_logits:
        # Keras feeds log(clip(p)) to the logits op, whose log-softmax renormalises the clipped row
        output = ops.log(ops.clip(output, EPSILON, 1.0 - EPSILON))
    return ops.sparse_softmax_cross_entropy_with_logits(labels, output)


mse = MSE = mean_squared_error
mae = MAE = mean_absolute_error


# ----------------------------------------------------------------------------------------------- classes
class Loss:
    """Base class: subclasses implement `call(y_true, y_pred)` returning per-sample losses."""

    def __init__(self, reduction="auto", name=None):
        if reduction not in _REDUCTIONS:
            raise ValueError(f"Invalid reduction '{reduction}'; expected one of {_REDUCTIONS}")
        self.reduction = reduction
        self.name = name

    def __call__(self, y_true, y_pred, sample_weight=None):
        return _reduce(self.call(y_true, y_pred), sample_weight, self.reduction)

    def call(self, y_true, y_pred):
        raise NotImplementedError(f"{type(self).__name__} must implement call(y_true, y_pred)")

    def get_config(self):
        return {"reduction": self.reduction, "name": self.name}

    @classmethod
    def from_config(cls, config, custom_objects=None):
        return cls(**config)

    def __repr__(self):
        return f"<{type(self).__name__} name={self.name}>"


class LossFunctionWrapper(Loss):
    """A per-sample loss function as a `Loss` (what Keras builds for `loss='mse'` or a custom function)."""

    def __init__(self, fn, reduction="auto", name=None, **kwargs):
        super().__init__(reduction=reduction, name=name or getattr(fn, "__name__", None))
        self.fn = fn
        self._fn_kwargs = kwargs

    def call(self, y_true, y_pred):
        y_pred, y_true = squeeze_or_expand_dimensions(_as_pred(y_pred), y_true)
        return self.fn(y_true, y_pred, **self._fn_kwargs)

    def get_config(self):
        return {**super().get_config(), **self._fn_kwargs}


@registry.register
class MeanSquaredError(LossFunctionWrapper):
    def __init__(self, reduction="auto", name="mean_squared_error"):
        super().__init__(mean_squared_error, reduction=reduction, name=name)


@registry.register
class MeanAbsoluteError(LossFunctionWrapper):
    def __init__(self, reduction="auto", name="mean_absolute_error"):
        super().__init__(mean_absolute_error, reduction=reduction, name=name)


@registry.register
class BinaryCrossentropy(LossFunctionWrapper):
    def __init__(self, from_logits=False, label_smoothing=0.0, axis=-1, reduction="auto",
                 name="binary_crossentropy"):
        super().__init__(binary_crossentropy, reduction=reduction, name=name, from_logits=from_logits,
                         label_smoothing=label_smoothing, axis=axis)


@registry.register
class CategoricalCrossentropy(LossFunctionWrapper):
    def __init__(self, from_logits=False, label_smoothing=0.0, axis=-1, reduction="auto",
                 name="categorical_crossentropy"):
        super().__init__(categorical_crossentropy, reduction=reduction, name=name, from_logits=from_logits,
                         label_smoothing=label_smoothing, axis=axis)


@registry.register
class SparseCategoricalCrossentropy(LossFunctionWrapper):
    def __init__(self, from_logits=False, ignore_class=None, reduction="auto",
                 name="sparse_categorical_crossentropy"):
        super().__init__(sparse_categorical_crossentropy, reduction=reduction, name=name,
                         from_logits=from_logits, ignore_class=ignore_class)


# ----------------------------------------------------------------------------------------------- lookup
_BY_NAME = {
    "mse": MeanSquaredError, "MSE": MeanSquaredError, "mean_squared_error": MeanSquaredError,
    "mae": MeanAbsoluteError, "MAE": MeanAbsoluteError, "mean_absolute_error": MeanAbsoluteError,
    "binary_crossentropy": BinaryCrossentropy,
    "categorical_crossentropy": CategoricalCrossentropy,
    "sparse_categorical_crossentropy": SparseCategoricalCrossentropy,
}
_CLASSES = (MeanSquaredError, MeanAbsoluteError, BinaryCrossentropy, CategoricalCrossentropy,
            SparseCategoricalCrossentropy)


def serialize(loss):
    return registry.serialize(loss)


def deserialize(config, custom_objects=None):
    return registry.deserialize(config, custom_objects, kind="loss")


def get(identifier):
    """A `Loss` object for a name ('mse', 'categorical_crossentropy', 'MeanSquaredError', ...), a Loss class or
    instance, a config dict, or a per-sample function `fn(y_true, y_pred)` (wrapped with the mean reduction).

    Unlike keras.losses.get, names and functions come back wrapped as `Loss` objects, ready to call.
    """
    if identifier is None or isinstance(identifier, Loss):
        return identifier
    if isinstance(identifier, str):
        cls = _BY_NAME.get(identifier) or next((c for c in _CLASSES if c.__name__ == identifier), None)
        if cls is None:
            raise ValueError(f"Unknown loss function: '{identifier}'. Known names: {sorted(_BY_NAME)}")
        return cls()
    if isinstance(identifier, dict):
        return deserialize(identifier)
    if isinstance(identifier, type) and issubclass(identifier, Loss):
        return identifier()
    if callable(identifier):
        return LossFunctionWrapper(identifier)
    raise ValueError(f"Could not interpret loss identifier: {identifier!r}")
