"""The `Loss` base class, `LossFunctionWrapper`, and Keras' rules for sample weights and reductions.

A loss function (`mean_squared_error`, ...) returns one loss per sample (the last axis is reduced). A `Loss`
object weights those values by `sample_weight` and reduces them:
- "sum_over_batch_size" (the default; also "mean", and tf.keras 2's "auto"): the sum of weight * loss over the
  number of elements of the weighted per-sample loss;
- "sum": the sum of weight * loss;
- "mean_with_sample_weight" (Keras 3): the sum of weight * loss over the sum of the weights;
- "none" (or None): the weighted per-sample losses themselves.
`sample_weight` lines up with the per-sample losses as in tf.keras 2: a trailing axis of 1 too many is dropped,
one axis too few gets a trailing 1, then it broadcasts.

Values flow through `minigraph.ops`, so a loss differentiates on the tape. `y_pred` may be a numpy array, a
`Variable` or a `Traced` value; `y_true` is a constant.
"""
import re

import numpy as np

from minigraph import ops
from minigraph.autodiff import Traced, Variable, value_of

EPSILON = 1e-7  # keras.backend.epsilon()

# every name is mapped onto the one rule it follows
_REDUCTIONS = {"sum_over_batch_size": "sum_over_batch_size", "mean": "sum_over_batch_size",
               "auto": "sum_over_batch_size", "sum": "sum", "none": "none", None: "none",
               "mean_with_sample_weight": "mean_with_sample_weight"}


class Reduction:
    """tf.keras 2's names of the reductions (`keras.losses.Reduction.SUM`, ...)."""

    AUTO = "auto"
    NONE = "none"
    SUM = "sum"
    SUM_OVER_BATCH_SIZE = "sum_over_batch_size"

    @classmethod
    def all(cls):
        return (cls.AUTO, cls.NONE, cls.SUM, cls.SUM_OVER_BATCH_SIZE)


def standardize_reduction(reduction):
    if reduction not in _REDUCTIONS:
        raise ValueError(f"Invalid value for argument `reduction`. Expected one of "
                         f"{sorted(str(r) for r in _REDUCTIONS)}. Received: reduction={reduction!r}")
    return reduction


# ----------------------------------------------------------------------------------------------- helpers
def is_tensor(x):
    return isinstance(x, (Traced, Variable))


def as_pred(y_pred, dtype=None):
    """y_pred as an op argument: Traced/Variable stay (differentiable), anything else becomes a float array."""
    if is_tensor(y_pred):
        return y_pred if dtype is None or y_pred.dtype == dtype else ops.cast(y_pred, dtype)
    if isinstance(y_pred, np.ndarray) and y_pred.dtype.kind == "f" and (dtype is None or y_pred.dtype == dtype):
        return y_pred  # as it is: an evaluation output may carry its logits (autodiff.keeping_logits)
    return ops.convert(y_pred, dtype)


def as_true(y_true, y_pred, dtype=None):
    """y_true as a constant array of y_pred's (float) dtype."""
    return np.asarray(value_of(y_true), dtype=dtype or value_of(y_pred).dtype)


def _squeeze_last(x):
    shape = np.shape(value_of(x))[:-1]
    return ops.reshape(x, shape) if is_tensor(x) else np.reshape(x, shape)


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


def match_dtype_and_rank(y_true, y_pred, sample_weight=None):
    """What tf.keras 2's fit/evaluate do to each output's target and weights before its loss and metrics
    (compile_utils.match_dtype_and_rank): against a rank-2 output, (n,) targets and (n,) weights get a
    trailing axis; targets take the output's dtype when both are floating (or both integer); weights take it.

    So in `fit`, (n,) targets against an (n, 1) output are per-sample values, where a standalone metric or loss
    called on them squeezes the output instead (see `squeeze_or_expand_dimensions`).
    """
    pred = value_of(y_pred)
    true = np.asarray(value_of(y_true))
    if true.ndim == 1 and np.ndim(pred) == 2:
        true = true[:, None]
    kinds = (true.dtype.kind, pred.dtype.kind)
    if kinds == ("f", "f") or kinds[0] in "iu" and kinds[1] in "iu":
        true = true.astype(pred.dtype, copy=False)
    if sample_weight is not None:
        sample_weight = np.asarray(value_of(sample_weight), dtype=pred.dtype)
        if sample_weight.ndim == 1 and np.ndim(pred) == 2:
            sample_weight = sample_weight[:, None]
    return true, y_pred, sample_weight


def align_sample_weight(values_shape, sample_weight, dtype, caller):
    """tf.keras 2's rule: weights of one axis more (a trailing 1) are squeezed, of one axis less expanded."""
    weights = np.asarray(value_of(sample_weight), dtype=dtype)
    rank = len(values_shape)
    if weights.ndim == rank + 1:
        if weights.shape[-1] != 1:
            raise ValueError(f"{caller}: sample_weight of shape {weights.shape} does not fit values of shape "
                             f"{tuple(values_shape)}: its extra last axis must have size 1")
        weights = np.squeeze(weights, -1)
    elif weights.ndim == rank - 1 and weights.ndim > 0:
        weights = np.expand_dims(weights, -1)
    try:
        np.broadcast_shapes(tuple(values_shape), weights.shape)
    except ValueError:
        raise ValueError(f"{caller}: sample_weight of shape {np.shape(value_of(sample_weight))} cannot be "
                         f"broadcast to values of shape {tuple(values_shape)}") from None
    return weights


def reduce_weighted_values(values, sample_weight=None, reduction="sum_over_batch_size", caller="loss"):
    """Keras' compute_weighted_loss: weight, then reduce by the rule `reduction` names."""
    rule = _REDUCTIONS[standardize_reduction(reduction)]
    if not is_tensor(values):
        values = np.asarray(values)
        if values.dtype.kind != "f":  # as tf.keras 2, integer losses are reduced as float32
            values = values.astype(np.float32)
    weights = None
    if sample_weight is not None:
        weights = align_sample_weight(np.shape(value_of(values)), sample_weight, value_of(values).dtype, caller)
        values = ops.multiply(values, weights)
    if rule == "none" or np.ndim(value_of(values)) == 0:
        return values
    if rule == "sum":
        return ops.sum(values)
    size = np.size(value_of(values))
    divisor = float(weights.sum()) if rule == "mean_with_sample_weight" and weights is not None else size
    if divisor == 0:  # divide_no_nan
        return ops.multiply(ops.sum(values), 0.0)
    if divisor == size:
        return ops.mean(values)
    return ops.divide(ops.sum(values), value_of(values).dtype.type(divisor))


def snake_case(name):
    """Keras' to_snake_case: 'MeanSquaredError' -> 'mean_squared_error', 'AUC' -> 'auc'."""
    name = re.sub("(.)([A-Z][a-z]+)", r"\1_\2", re.sub(r"\W+", "", name))
    return re.sub("([a-z])([A-Z])", r"\1_\2", name).lower()


# ----------------------------------------------------------------------------------------------- classes
class Loss:
    """Base class: subclasses implement `call(y_true, y_pred)` returning per-sample losses.

    `loss(y_true, y_pred, sample_weight=None)` weights and reduces them (see this module's docstring).
    """

    def __init__(self, name=None, reduction="sum_over_batch_size", dtype=None):
        self.name = name or snake_case(type(self).__name__)
        self.reduction = standardize_reduction(reduction)
        self._dtype = None if dtype is None else np.dtype(dtype).name

    @property
    def dtype(self):
        return self._dtype or "float32"

    def __call__(self, y_true, y_pred, sample_weight=None):
        y_pred = as_pred(y_pred, self._dtype)
        losses = self.call(as_true(y_true, y_pred), y_pred)
        return reduce_weighted_values(losses, sample_weight, self.reduction, caller=type(self).__name__)

    def call(self, y_true, y_pred):
        raise NotImplementedError(f"{type(self).__name__} must implement call(y_true, y_pred)")

    def get_config(self):
        return {"name": self.name, "reduction": self.reduction}

    @classmethod
    def from_config(cls, config, custom_objects=None):
        return cls(**config)

    def __repr__(self):
        return f"<{type(self).__name__} name={self.name}>"


class LossFunctionWrapper(Loss):
    """A per-sample loss function as a `Loss` (what Keras builds for `loss='mse'` or a custom function)."""

    def __init__(self, fn, reduction="sum_over_batch_size", name=None, dtype=None, **kwargs):
        super().__init__(name=name or getattr(fn, "__name__", None), reduction=reduction, dtype=dtype)
        self.fn = fn
        self._fn_kwargs = kwargs

    def call(self, y_true, y_pred):
        y_pred, y_true = squeeze_or_expand_dimensions(y_pred, y_true)
        return self.fn(y_true, y_pred, **self._fn_kwargs)

    def get_config(self):
        return {**super().get_config(), **self._fn_kwargs}

    @classmethod
    def from_config(cls, config, custom_objects=None):
        """Keras writes the function as "fn": a subclass fixes it; the wrapper itself finds it by name."""
        config = dict(config)
        fn = config.pop("fn", None)
        if cls is not LossFunctionWrapper:
            return cls(**config)
        if isinstance(fn, str):
            found = (custom_objects or {}).get(fn)
            if found is None:
                raise ValueError(f"LossFunctionWrapper: unknown loss function '{fn}'; pass it in "
                                 f"custom_objects={{'{fn}': {fn}}}")
            fn = found
        if not callable(fn):
            raise ValueError(f"LossFunctionWrapper.from_config needs a function in 'fn', got {fn!r}")
        return cls(fn, **config)
