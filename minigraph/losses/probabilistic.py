"""Losses of probabilities: the crossentropies, Kullback-Leibler divergence and Poisson.

As in tf.keras' `fit`, a `y_pred` that comes straight out of a softmax (sigmoid) is replaced by that op's
logits in the categorical (binary) crossentropies: `-log(clip(softmax(z)))` saturates at -log(1e-7) where the
logits form keeps its gradient (Keras' `_get_logits`). The op records them on its `Traced` output as
`logits` and `logits_op`.
"""
import warnings

import numpy as np

from minigraph import ops, registry
from minigraph.autodiff import value_of
from minigraph.losses.loss import EPSILON, LossFunctionWrapper, as_pred, as_true


def _logits_of(y_pred, from_logits, op_type, fn_name):
    """Keras' `_get_logits`: the pre-activation of a matching softmax/sigmoid output is used as logits."""
    logits = getattr(y_pred, "logits", None)
    if logits is None or getattr(y_pred, "logits_op", None) != op_type:
        return y_pred, from_logits
    if from_logits:
        warnings.warn(f'"`{fn_name}` received `from_logits=True`, but the `output` argument was produced by a '
                      f'{op_type} activation and thus does not represent logits. Was this intended?', stacklevel=3)
    return logits, True


# ----------------------------------------------------------------------------------------------- functions
def binary_crossentropy(y_true, y_pred, from_logits=False, label_smoothing=0.0, axis=-1):
    y_pred = as_pred(y_pred)
    y_true = as_true(y_true, y_pred)
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
    y_pred = as_pred(y_pred)
    y_true = as_true(y_true, y_pred)
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


def _check_sparse_labels(labels, pred_shape):
    """Sparse labels are class indices, one per row of y_pred (a trailing axis of 1 allowed), in
    [0, classes): say so, naming the loss and the shapes, rather than fail deep in the kernel."""
    lead, classes = tuple(pred_shape[:-1]), pred_shape[-1]
    if labels.shape not in (lead, lead + (1,)):
        hint = (" - these look like one-hot targets: use categorical_crossentropy, or pass the class indices "
                "(np.argmax(y, axis=-1))" if labels.shape == tuple(pred_shape) and classes > 1 else "")
        raise ValueError(f"sparse_categorical_crossentropy: y_true of shape {labels.shape} does not hold one class "
                         f"index per row of y_pred of shape {tuple(pred_shape)} (expected shape {lead} or "
                         f"{lead + (1,)}){hint}")
    if labels.size and (labels.min() < 0 or labels.max() >= classes):
        raise ValueError(f"sparse_categorical_crossentropy: labels must lie in [0, {classes}) for y_pred of shape "
                         f"{tuple(pred_shape)}, got values from {labels.min()} to {labels.max()} "
                         f"(y_true of shape {labels.shape})")


def sparse_categorical_crossentropy(y_true, y_pred, from_logits=False, axis=-1, ignore_class=None):
    if ignore_class is not None:
        raise NotImplementedError("sparse_categorical_crossentropy: ignore_class is not supported")
    if axis not in (-1, np.ndim(value_of(y_pred)) - 1):
        raise NotImplementedError("sparse_categorical_crossentropy: only the last axis holds the classes")
    y_pred = as_pred(y_pred)
    labels = np.asarray(value_of(y_true)).astype(np.int64)  # Keras casts to int64: 2.7 is class 2
    _check_sparse_labels(labels, np.shape(value_of(y_pred)))
    output, from_logits = _logits_of(y_pred, from_logits, "Softmax", "sparse_categorical_crossentropy")
    if not from_logits:
        # Keras feeds log(clip(p)) to the logits op, whose log-softmax renormalises the clipped row
        output = ops.log(ops.clip(output, EPSILON, 1.0 - EPSILON))
    return ops.sparse_softmax_cross_entropy_with_logits(labels, output)


def kl_divergence(y_true, y_pred):
    """sum(y_true * log(y_true / y_pred)) over the last axis, both clipped to [eps, 1]."""
    y_pred = as_pred(y_pred)
    y_true = np.clip(as_true(y_true, y_pred), EPSILON, 1.0)
    p = ops.clip(y_pred, EPSILON, 1.0)
    return ops.sum(ops.multiply(y_true, ops.log(ops.divide(y_true, p))), axis=-1)


def poisson(y_true, y_pred):
    """mean(y_pred - y_true * log(y_pred + eps)) over the last axis."""
    y_pred = as_pred(y_pred)
    y_true = as_true(y_true, y_pred)
    return ops.mean(ops.subtract(y_pred, ops.multiply(y_true, ops.log(ops.add(y_pred, EPSILON)))), axis=-1)


kld = KLD = kullback_leibler_divergence = kl_divergence


# ----------------------------------------------------------------------------------------------- classes
@registry.register
class BinaryCrossentropy(LossFunctionWrapper):
    def __init__(self, from_logits=False, label_smoothing=0.0, axis=-1, reduction="sum_over_batch_size",
                 name="binary_crossentropy", dtype=None):
        super().__init__(binary_crossentropy, reduction=reduction, name=name, dtype=dtype, from_logits=from_logits,
                         label_smoothing=label_smoothing, axis=axis)


@registry.register
class CategoricalCrossentropy(LossFunctionWrapper):
    def __init__(self, from_logits=False, label_smoothing=0.0, axis=-1, reduction="sum_over_batch_size",
                 name="categorical_crossentropy", dtype=None):
        super().__init__(categorical_crossentropy, reduction=reduction, name=name, dtype=dtype,
                         from_logits=from_logits, label_smoothing=label_smoothing, axis=axis)


@registry.register
class SparseCategoricalCrossentropy(LossFunctionWrapper):
    def __init__(self, from_logits=False, ignore_class=None, reduction="sum_over_batch_size",
                 name="sparse_categorical_crossentropy", dtype=None):
        super().__init__(sparse_categorical_crossentropy, reduction=reduction, name=name, dtype=dtype,
                         from_logits=from_logits, ignore_class=ignore_class)


@registry.register
class KLDivergence(LossFunctionWrapper):
    def __init__(self, reduction="sum_over_batch_size", name="kl_divergence", dtype=None):
        super().__init__(kl_divergence, reduction=reduction, name=name, dtype=dtype)


@registry.register
class Poisson(LossFunctionWrapper):
    def __init__(self, reduction="sum_over_batch_size", name="poisson", dtype=None):
        super().__init__(poisson, reduction=reduction, name=name, dtype=dtype)
