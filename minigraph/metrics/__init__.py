"""Stateful metrics with Keras semantics (`keras.metrics`).

- `metric`: the `Metric` base class (state from `add_weight`, `update_state`, `result`, `reset_state`);
- `reduction`: `Sum`, `Mean`, `MeanMetricWrapper`;
- `accuracy`, `regression`, `probabilistic`, `confusion` (Precision, Recall, AUC, ...), `f_score`.
This module adds the lookup by name (`get`), with Keras' choice of accuracy from the shapes.
"""
import numpy as np

from minigraph import losses
from minigraph.autodiff import value_of
from minigraph.losses.loss import snake_case
from minigraph.metrics.accuracy import (Accuracy, BinaryAccuracy, CategoricalAccuracy, SparseCategoricalAccuracy,
                                        SparseTopKCategoricalAccuracy, TopKCategoricalAccuracy, accuracy,
                                        binary_accuracy, binary_matches, categorical_accuracy, in_top_k,
                                        sparse_categorical_accuracy, sparse_top_k_categorical_accuracy,
                                        top_k_categorical_accuracy)
from minigraph.metrics.confusion import (AUC, FalseNegatives, FalsePositives, Precision, Recall, TrueNegatives,
                                         TruePositives)
from minigraph.metrics.f_score import F1Score, FBetaScore
from minigraph.metrics.metric import Metric, MetricVariable
from minigraph.metrics.probabilistic import (BinaryCrossentropy, CategoricalCrossentropy, CategoricalHinge, Hinge,
                                             KLDivergence, Poisson, SparseCategoricalCrossentropy, SquaredHinge)
from minigraph.metrics.reduction import Mean, MeanMetricWrapper, Sum
from minigraph.metrics.regression import (CosineSimilarity, LogCoshError, MeanAbsoluteError,
                                          MeanAbsolutePercentageError, MeanSquaredError, MeanSquaredLogarithmicError,
                                          RootMeanSquaredError, cosine_similarity)

__all__ = [
    "Metric", "MetricVariable", "Mean", "Sum", "MeanMetricWrapper",
    "Accuracy", "BinaryAccuracy", "CategoricalAccuracy", "SparseCategoricalAccuracy", "TopKCategoricalAccuracy",
    "SparseTopKCategoricalAccuracy", "MeanSquaredError", "MeanAbsoluteError", "MeanAbsolutePercentageError",
    "MeanSquaredLogarithmicError", "RootMeanSquaredError", "LogCoshError", "CosineSimilarity",
    "BinaryCrossentropy", "CategoricalCrossentropy", "SparseCategoricalCrossentropy", "KLDivergence", "Poisson",
    "Hinge", "SquaredHinge", "CategoricalHinge", "TruePositives", "FalsePositives", "TrueNegatives",
    "FalseNegatives", "Precision", "Recall", "AUC", "FBetaScore", "F1Score",
    "accuracy", "binary_accuracy", "binary_matches", "categorical_accuracy", "sparse_categorical_accuracy",
    "top_k_categorical_accuracy", "sparse_top_k_categorical_accuracy", "in_top_k", "cosine_similarity", "get",
]

# names of per-sample functions: metrics=['mse'] is the mean of that function, logged under the name given
_FUNCTIONS = {
    "binary_accuracy": binary_accuracy, "categorical_accuracy": categorical_accuracy,
    "sparse_categorical_accuracy": sparse_categorical_accuracy,
    "top_k_categorical_accuracy": top_k_categorical_accuracy,
    "sparse_top_k_categorical_accuracy": sparse_top_k_categorical_accuracy,
    **dict.fromkeys(("mse", "MSE", "mean_squared_error"), losses.mean_squared_error),
    **dict.fromkeys(("mae", "MAE", "mean_absolute_error"), losses.mean_absolute_error),
    **dict.fromkeys(("mape", "MAPE", "mean_absolute_percentage_error"), losses.mean_absolute_percentage_error),
    **dict.fromkeys(("msle", "MSLE", "mean_squared_logarithmic_error"), losses.mean_squared_logarithmic_error),
    **dict.fromkeys(("kld", "KLD", "kl_divergence", "kullback_leibler_divergence"), losses.kl_divergence),
    **dict.fromkeys(("logcosh", "log_cosh"), losses.log_cosh),
    "cosine_similarity": cosine_similarity, "poisson": losses.poisson, "hinge": losses.hinge,
    "squared_hinge": losses.squared_hinge, "categorical_hinge": losses.categorical_hinge,
    "binary_crossentropy": losses.binary_crossentropy, "categorical_crossentropy": losses.categorical_crossentropy,
    "sparse_categorical_crossentropy": losses.sparse_categorical_crossentropy,
}
_CLASS_LIST = (Mean, Sum, Accuracy, BinaryAccuracy, CategoricalAccuracy, SparseCategoricalAccuracy,
               TopKCategoricalAccuracy, SparseTopKCategoricalAccuracy, MeanSquaredError, MeanAbsoluteError,
               MeanAbsolutePercentageError, MeanSquaredLogarithmicError, RootMeanSquaredError, LogCoshError,
               CosineSimilarity, BinaryCrossentropy, CategoricalCrossentropy, SparseCategoricalCrossentropy,
               KLDivergence, Poisson, Hinge, SquaredHinge, CategoricalHinge, TruePositives, FalsePositives,
               TrueNegatives, FalseNegatives, Precision, Recall, AUC, FBetaScore, F1Score)
# Keras 3 also knows each class by its snake_case name ('auc', 'f1_score', 'root_mean_squared_error', ...)
_CLASSES = {**{snake_case(c.__name__): c for c in _CLASS_LIST}, **{c.__name__: c for c in _CLASS_LIST}}


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
    """A metric object for a Metric (instance or class), a name, a {'class_name', 'config'} dict, or a function
    `fn(y_true, y_pred)`.

    'accuracy'/'acc' (and 'crossentropy'/'ce') become binary when y_pred's last axis is 1, sparse when y_true
    has fewer axes than y_pred or a last axis of 1 against more classes, else categorical; the metric keeps
    the name given. Other names of functions keep their name too ('mse' logs as 'mse'); a class name
    ('AUC', 'auc', 'Precision') gives that class with its default name.
    """
    if isinstance(identifier, Metric):
        return identifier
    if isinstance(identifier, type) and issubclass(identifier, Metric):
        return identifier()
    if isinstance(identifier, dict) and "class_name" in identifier:
        cls = _CLASSES.get(identifier["class_name"])
        if cls is None:
            raise ValueError(f"Unknown metric class: '{identifier['class_name']}'")
        return cls.from_config(identifier.get("config", {}))
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
                         f"{sorted({'accuracy', 'acc', 'crossentropy', 'ce', *_FUNCTIONS, *_CLASSES})}")
    if callable(identifier):
        return MeanMetricWrapper(identifier, getattr(identifier, "__name__", None))
    raise ValueError(f"Could not interpret metric identifier: {identifier!r}")
