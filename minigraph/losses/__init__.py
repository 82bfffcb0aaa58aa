"""Losses with Keras semantics (`keras.losses`), built from `minigraph.ops` so they differentiate on the tape.

- `loss`: the `Loss` base class, `LossFunctionWrapper`, sample weights and reductions;
- `regression`, `probabilistic`, `hinge`: the loss functions and their classes.
This module adds the lookup by name (`get`) and the (de)serialisation helpers.
"""
from minigraph import registry
from minigraph.losses.hinge import CategoricalHinge, Hinge, SquaredHinge, categorical_hinge, hinge, squared_hinge
from minigraph.losses.loss import (EPSILON, Loss, LossFunctionWrapper, Reduction, match_dtype_and_rank,
                                   reduce_weighted_values, squeeze_or_expand_dimensions)
from minigraph.losses.probabilistic import (KLD, BinaryCrossentropy, CategoricalCrossentropy, KLDivergence, Poisson,
                                            SparseCategoricalCrossentropy, binary_crossentropy,
                                            categorical_crossentropy, kl_divergence, kld,
                                            kullback_leibler_divergence, poisson, sparse_categorical_crossentropy)
from minigraph.losses.regression import (MAE, MAPE, MSE, MSLE, CosineSimilarity, Huber, LogCosh, MeanAbsoluteError,
                                         MeanAbsolutePercentageError, MeanSquaredError, MeanSquaredLogarithmicError,
                                         cosine_similarity, huber, log_cosh, logcosh, mae, mape,
                                         mean_absolute_error, mean_absolute_percentage_error, mean_squared_error,
                                         mean_squared_logarithmic_error, mse, msle)

__all__ = [
    "Loss", "LossFunctionWrapper", "Reduction", "EPSILON", "reduce_weighted_values", "squeeze_or_expand_dimensions",
    "match_dtype_and_rank",
    "MeanSquaredError", "MeanAbsoluteError", "MeanAbsolutePercentageError", "MeanSquaredLogarithmicError",
    "Huber", "LogCosh", "CosineSimilarity", "BinaryCrossentropy", "CategoricalCrossentropy",
    "SparseCategoricalCrossentropy", "KLDivergence", "Poisson", "Hinge", "SquaredHinge", "CategoricalHinge",
    "mean_squared_error", "mean_absolute_error", "mean_absolute_percentage_error", "mean_squared_logarithmic_error",
    "huber", "log_cosh", "cosine_similarity", "binary_crossentropy", "categorical_crossentropy",
    "sparse_categorical_crossentropy", "kl_divergence", "poisson", "hinge", "squared_hinge", "categorical_hinge",
    "mse", "MSE", "mae", "MAE", "mape", "MAPE", "msle", "MSLE", "kld", "KLD", "kullback_leibler_divergence",
    "logcosh", "get", "serialize", "deserialize",
]

# Keras' string names (tf.keras 2's and Keras 3's) of each loss
_BY_NAME = {
    **dict.fromkeys(("mse", "MSE", "mean_squared_error"), MeanSquaredError),
    **dict.fromkeys(("mae", "MAE", "mean_absolute_error"), MeanAbsoluteError),
    **dict.fromkeys(("mape", "MAPE", "mean_absolute_percentage_error"), MeanAbsolutePercentageError),
    **dict.fromkeys(("msle", "MSLE", "mean_squared_logarithmic_error"), MeanSquaredLogarithmicError),
    **dict.fromkeys(("huber", "huber_loss"), Huber),
    **dict.fromkeys(("log_cosh", "logcosh"), LogCosh),
    **dict.fromkeys(("kld", "KLD", "kl_divergence", "kullback_leibler_divergence"), KLDivergence),
    "cosine_similarity": CosineSimilarity, "poisson": Poisson,
    "hinge": Hinge, "squared_hinge": SquaredHinge, "categorical_hinge": CategoricalHinge,
    "binary_crossentropy": BinaryCrossentropy,
    "categorical_crossentropy": CategoricalCrossentropy,
    "sparse_categorical_crossentropy": SparseCategoricalCrossentropy,
}
_CLASSES = {cls.__name__: cls for cls in set(_BY_NAME.values())}


def serialize(loss):
    return registry.serialize(loss)


def deserialize(config, custom_objects=None):
    return registry.deserialize(config, custom_objects, kind="loss")


def get(identifier):
    """A `Loss` object for a name ('mse', 'huber', 'MeanSquaredError', ...), a Loss class or instance, a config
    dict, or a per-sample function `fn(y_true, y_pred)` (wrapped with the default reduction).

    Unlike keras.losses.get, names and functions come back wrapped as `Loss` objects, ready to call.
    """
    if identifier is None or isinstance(identifier, Loss):
        return identifier
    if isinstance(identifier, str):
        cls = _BY_NAME.get(identifier) or _CLASSES.get(identifier)
        if cls is None:
            raise ValueError(f"Unknown loss function: '{identifier}'. Known names: "
                             f"{sorted({*_BY_NAME, *_CLASSES})}")
        return cls()
    if isinstance(identifier, dict):
        return deserialize(identifier)
    if isinstance(identifier, type) and issubclass(identifier, Loss):
        return identifier()
    if callable(identifier):
        return LossFunctionWrapper(identifier)
    raise ValueError(f"Could not interpret loss identifier: {identifier!r}")
