"""Accuracy metrics: exact, binary (thresholded), categorical, sparse categorical and top-k."""
import numpy as np

from minigraph.autodiff import value_of
from minigraph.metrics.reduction import MeanMetricWrapper


# ----------------------------------------------------------------------------------------------- functions
def accuracy(y_true, y_pred):
    """1 where y_pred equals y_true exactly, elementwise."""
    y_pred = np.asarray(value_of(y_pred))
    return (np.asarray(y_true, dtype=y_pred.dtype) == y_pred).astype(np.float32)


def binary_matches(y_true, y_pred, threshold=0.5):
    """1 where y_pred > threshold agrees with y_true, elementwise."""
    y_pred = np.asarray(value_of(y_pred))
    return (np.asarray(y_true) == (y_pred > threshold).astype(y_pred.dtype)).astype(np.float32)


def binary_accuracy(y_true, y_pred, threshold=0.5):
    """The mean of binary_matches over the last axis."""
    return np.mean(binary_matches(y_true, y_pred, threshold), axis=-1, dtype=np.float32)


def sparse_categorical_accuracy(y_true, y_pred):
    y_true = np.asarray(value_of(y_true))
    y_pred = np.asarray(value_of(y_pred))
    shape = y_true.shape
    squeezed = y_true.ndim == y_pred.ndim  # (n, 1) labels: compared as (n,), reported as (n, 1)
    if squeezed:
        y_true = np.squeeze(y_true, -1)
    matches = (y_true == np.argmax(y_pred, axis=-1).astype(y_true.dtype)).astype(np.float32)
    return matches.reshape(shape) if squeezed else matches


def categorical_accuracy(y_true, y_pred):
    return sparse_categorical_accuracy(np.argmax(value_of(y_true), axis=-1), y_pred)


def in_top_k(predictions, targets, k):
    """TensorFlow's in_top_k: the target's score has fewer than k scores above it (ties count as in), and is
    False for an out-of-range target or a row holding a non-finite score."""
    predictions = np.asarray(predictions)
    targets = np.asarray(targets).astype(np.int64)
    valid = (targets >= 0) & (targets < predictions.shape[-1])
    target_scores = np.take_along_axis(predictions, np.where(valid, targets, 0)[:, None], axis=-1)
    above = np.sum(predictions > target_scores, axis=-1)
    return valid & np.isfinite(predictions).all(axis=-1) & (above < k)


def sparse_top_k_categorical_accuracy(y_true, y_pred, k=5):
    y_true = np.asarray(value_of(y_true))
    y_pred = np.asarray(value_of(y_pred))
    scores = y_pred.reshape(-1, y_pred.shape[-1])
    matches = in_top_k(scores, y_true.reshape(-1), k).astype(np.float32)
    return matches.reshape(y_true.shape) if y_true.ndim > 1 else matches


def top_k_categorical_accuracy(y_true, y_pred, k=5):
    y_true = np.asarray(value_of(y_true))
    matches = sparse_top_k_categorical_accuracy(np.argmax(y_true, axis=-1).reshape(-1), y_pred, k)
    return matches.reshape(y_true.shape[:-1])


# ----------------------------------------------------------------------------------------------- classes
class Accuracy(MeanMetricWrapper):
    def __init__(self, name="accuracy", dtype=None):
        super().__init__(accuracy, name, dtype)


class BinaryAccuracy(MeanMetricWrapper):
    """The mean of elementwise matches (tf.keras 2's class counts matches where its "accuracy" function averages
    the last axis first: they differ for (n,) targets against (n, 1) outputs, squeezed to one value a batch)."""

    def __init__(self, name="binary_accuracy", dtype=None, threshold=0.5):
        super().__init__(binary_matches, name, dtype, threshold=threshold)


class CategoricalAccuracy(MeanMetricWrapper):
    def __init__(self, name="categorical_accuracy", dtype=None):
        super().__init__(categorical_accuracy, name, dtype)


class SparseCategoricalAccuracy(MeanMetricWrapper):
    def __init__(self, name="sparse_categorical_accuracy", dtype=None):
        super().__init__(sparse_categorical_accuracy, name, dtype)


class TopKCategoricalAccuracy(MeanMetricWrapper):
    def __init__(self, k=5, name="top_k_categorical_accuracy", dtype=None):
        super().__init__(top_k_categorical_accuracy, name, dtype, k=k)


class SparseTopKCategoricalAccuracy(MeanMetricWrapper):
    def __init__(self, k=5, name="sparse_top_k_categorical_accuracy", dtype=None):
        super().__init__(sparse_top_k_categorical_accuracy, name, dtype, k=k)
