"""Hinge losses for labels in {-1, 1} (labels in {0, 1} are mapped to them first, as Keras does)."""
import numpy as np

from minigraph import ops, registry
from minigraph.losses.loss import LossFunctionWrapper, as_pred, as_true


def _signed_labels(y_true, y_pred):
    """Keras' convert_binary_labels_to_hinge: all-0/1 labels become -1/1, other labels are kept."""
    y_true = as_true(y_true, y_pred)
    return 2.0 * y_true - 1.0 if np.all((y_true == 0) | (y_true == 1)) else y_true


def _margins(y_true, y_pred):
    """max(1 - y_true * y_pred, 0), elementwise."""
    y_pred = as_pred(y_pred)
    return ops.maximum(ops.subtract(1.0, ops.multiply(_signed_labels(y_true, y_pred), y_pred)), 0.0)


def hinge(y_true, y_pred):
    return ops.mean(_margins(y_true, y_pred), axis=-1)


def squared_hinge(y_true, y_pred):
    return ops.mean(ops.square(_margins(y_true, y_pred)), axis=-1)


def categorical_hinge(y_true, y_pred):
    """max(max((1 - y_true) * y_pred) - sum(y_true * y_pred) + 1, 0) over the last axis."""
    y_pred = as_pred(y_pred)
    y_true = as_true(y_true, y_pred)
    positive = ops.sum(ops.multiply(y_true, y_pred), axis=-1)
    negative = ops.max(ops.multiply(1.0 - y_true, y_pred), axis=-1)
    return ops.maximum(ops.add(ops.subtract(negative, positive), 1.0), 0.0)


@registry.register
class Hinge(LossFunctionWrapper):
    def __init__(self, reduction="sum_over_batch_size", name="hinge", dtype=None):
        super().__init__(hinge, reduction=reduction, name=name, dtype=dtype)


@registry.register
class SquaredHinge(LossFunctionWrapper):
    def __init__(self, reduction="sum_over_batch_size", name="squared_hinge", dtype=None):
        super().__init__(squared_hinge, reduction=reduction, name=name, dtype=dtype)


@registry.register
class CategoricalHinge(LossFunctionWrapper):
    def __init__(self, reduction="sum_over_batch_size", name="categorical_hinge", dtype=None):
        super().__init__(categorical_hinge, reduction=reduction, name=name, dtype=dtype)
