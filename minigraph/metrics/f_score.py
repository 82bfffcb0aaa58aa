"""F-scores (Keras 3's FBetaScore and F1Score): per-class tp, fp and fn of thresholded predictions."""
import numpy as np

from minigraph.autodiff import value_of
from minigraph.losses.loss import EPSILON
from minigraph.metrics.metric import Metric


class FBetaScore(Metric):
    """(1 + beta^2) * precision * recall / (beta^2 * precision + recall), per class or averaged.

    `average`: None (one score per class), "micro" (counts pooled over classes), "macro" (mean of the class
    scores) or "weighted" (their mean weighted by each class's number of true samples). `threshold`: y_pred
    above it counts as positive; None marks each row's largest score instead.
    """

    def __init__(self, average=None, beta=1.0, threshold=None, name="fbeta_score", dtype=None):
        super().__init__(name=name, dtype=dtype)
        caller = type(self).__name__
        if average not in (None, "micro", "macro", "weighted"):
            raise ValueError(f"{caller}: invalid `average` argument value. Expected one of: "
                             f"{{None, 'micro', 'macro', 'weighted'}}. Received: average={average!r}")
        if not isinstance(beta, float) or beta <= 0.0:
            raise ValueError(f"{caller}: `beta` must be a Python float > 0. Received: beta={beta!r}")
        if threshold is not None and (not isinstance(threshold, float) or not 0.0 < threshold <= 1.0):
            raise ValueError(f"{caller}: `threshold` must be a Python float with 0 < threshold <= 1. "
                             f"Received: threshold={threshold!r}")
        self.average = average
        self.beta = beta
        self.threshold = threshold
        self.axis = None if average == "micro" else 0
        self._built = False

    def _build(self, y_true_shape, y_pred_shape):
        if len(y_pred_shape) != 2 or len(y_true_shape) != 2:
            raise ValueError(f"{type(self).__name__} expects 2D inputs with shape (batch_size, output_dim). "
                             f"Received input shapes: y_pred.shape={y_pred_shape} and y_true.shape={y_true_shape}.")
        shape = () if self.average == "micro" else (y_pred_shape[-1],)
        self.true_positives = self.add_variable(shape, name="true_positives")
        self.false_positives = self.add_variable(shape, name="false_positives")
        self.false_negatives = self.add_variable(shape, name="false_negatives")
        self.intermediate_weights = self.add_variable(shape, name="intermediate_weights")
        self._built = True

    def update_state(self, y_true, y_pred, sample_weight=None):
        y_true = np.asarray(value_of(y_true), dtype=self.dtype)
        y_pred = np.asarray(value_of(y_pred), dtype=self.dtype)
        if not self._built:
            self._build(y_true.shape, y_pred.shape)
        if self.threshold is None:
            positive = (y_pred >= y_pred.max(axis=-1, keepdims=True)) & (np.abs(y_pred) > 1e-9)
        else:
            positive = y_pred > self.threshold
        y_pred = positive.astype(self.dtype)
        weights = None if sample_weight is None else np.asarray(value_of(sample_weight), dtype=self.dtype)

        def weighted_sum(values):
            if weights is not None:
                values = values * np.expand_dims(weights, 1)
            return np.sum(values, axis=self.axis, dtype=self.dtype)

        self.true_positives.assign_add(weighted_sum(y_pred * y_true))
        self.false_positives.assign_add(weighted_sum(y_pred * (1 - y_true)))
        self.false_negatives.assign_add(weighted_sum((1 - y_pred) * y_true))
        self.intermediate_weights.assign_add(weighted_sum(y_true))

    def result(self):
        if not self._built:
            return np.zeros((), self.dtype)
        eps = np.float32(EPSILON).astype(self.dtype)
        tp = self.true_positives.value
        precision = tp / (tp + self.false_positives.value + eps)
        recall = tp / (tp + self.false_negatives.value + eps)
        beta2 = np.dtype(self.dtype).type(self.beta ** 2)
        score = precision * recall / (beta2 * precision + recall + eps) * (1 + beta2)
        if self.average == "weighted":
            weights = self.intermediate_weights.value
            return np.sum(score * (weights / (weights.sum() + eps)), dtype=self.dtype)
        if self.average is not None:
            return np.mean(score, dtype=self.dtype)
        return score

    def get_config(self):
        return {**super().get_config(), "average": self.average, "beta": self.beta, "threshold": self.threshold}


class F1Score(FBetaScore):
    """The F-score with beta = 1: the harmonic mean of precision and recall."""

    def __init__(self, average=None, threshold=None, name="f1_score", dtype=None):
        super().__init__(average=average, beta=1.0, threshold=threshold, name=name, dtype=dtype)

    def get_config(self):
        config = super().get_config()
        del config["beta"]
        return config
