"""keras.utils.to_categorical and keras.utils.normalize, on numpy arrays."""
import numpy as np


def to_categorical(x, num_classes=None, dtype="float64"):
    """One-hot rows for integer class labels: shape x.shape + (num_classes,), a trailing axis of 1 dropped.

    As Keras 3 the result is float64; `dtype` (tf.keras 2's argument) picks another one.
    """
    labels = np.asarray(x)
    if labels.dtype.kind == "f":
        if not np.all(np.isfinite(labels)) or np.any(labels != np.round(labels)):
            raise ValueError("to_categorical: class labels must be whole numbers, got non-integer values")
    elif labels.dtype.kind not in "iub":
        raise ValueError(f"to_categorical: class labels must be integers, got dtype {labels.dtype}")
    labels = labels.astype("int64")
    shape = labels.shape
    if len(shape) > 1 and shape[-1] == 1:
        shape = shape[:-1]
    flat = labels.reshape(-1)
    if num_classes is None or num_classes == 0:
        if flat.size == 0:
            raise ValueError("to_categorical: num_classes is needed for an empty label array")
        num_classes = int(flat.max()) + 1
    if isinstance(num_classes, bool) or not isinstance(num_classes, (int, np.integer)) or num_classes < 1:
        raise ValueError(f"to_categorical: num_classes must be a positive integer, got {num_classes!r}")
    if flat.size and (flat.min() < 0 or flat.max() >= num_classes):
        raise ValueError(f"to_categorical: labels must lie in [0, {num_classes}); got values from {flat.min()} "
                         f"to {flat.max()}")
    out = np.zeros((flat.size, int(num_classes)), dtype=dtype)
    out[np.arange(flat.size), flat] = 1
    return out.reshape(tuple(shape) + (int(num_classes),))


def normalize(x, axis=-1, order=2):
    """x divided by its `order`-norm along `axis` (np.linalg.norm's orders); zero norms leave x unchanged."""
    x = np.asarray(x)
    if x.ndim == 0:
        raise ValueError("normalize: x must have at least one axis, got a scalar")
    if not -x.ndim <= axis < x.ndim:
        raise ValueError(f"normalize: axis {axis} is out of range for an input of shape {x.shape}")
    norm = np.atleast_1d(np.linalg.norm(x, order, axis))
    norm[norm == 0] = 1
    return x / np.expand_dims(norm, axis)
