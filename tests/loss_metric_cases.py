"""Inputs and cases shared by the loss/metric reference tests and the script that asks real Keras for the
values (tests/data/make_keras_loss_metric_values.py). numpy only: both sides build the same arrays."""
import numpy as np

N = 8


def _softmax(z):
    e = np.exp(z - z.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def datasets():
    """name -> (y_true, y_pred), float32 (sparse labels as float32 class indices, as Keras' fit casts them)."""
    rng = np.random.default_rng(20261202)
    f = np.float32
    labels = rng.integers(0, 5, size=N)
    onehot = np.eye(5, dtype=f)[labels]
    data = {
        "reg": (rng.normal(size=(N, 3)), rng.normal(size=(N, 3))),
        "pos": (rng.uniform(0.1, 3.0, size=(N, 3)), rng.uniform(0.1, 3.0, size=(N, 3))),
        "prob": (_softmax(rng.normal(size=(N, 4))), _softmax(rng.normal(size=(N, 4)))),
        "bin": (rng.integers(0, 2, size=(N, 3)), rng.uniform(0.02, 0.98, size=(N, 3))),
        "bin1": (rng.integers(0, 2, size=(N, 1)), rng.uniform(0.02, 0.98, size=(N, 1))),
        "logits": (rng.integers(0, 2, size=(N, 3)), rng.normal(scale=2.0, size=(N, 3))),
        "sign": (rng.choice([-1.0, 1.0], size=(N, 3)), rng.normal(size=(N, 3))),
        "onehot": (onehot, _softmax(rng.normal(size=(N, 5)))),
        "onehot_raw": (onehot, rng.normal(size=(N, 5))),
        "sparse": (labels.astype(f), _softmax(rng.normal(size=(N, 5)))),
        "sparse_col": (labels[:, None].astype(f), _softmax(rng.normal(size=(N, 5)))),
        "classes": (rng.integers(0, 3, size=(N, 2)), rng.integers(0, 3, size=(N, 2))),
        "seq": (rng.normal(size=(4, 5, 3)), rng.normal(size=(4, 5, 3))),
        "col": (rng.normal(size=(N,)), rng.normal(size=(N, 1))),
        "bin_flat": (rng.integers(0, 2, size=N), rng.uniform(0.02, 0.98, size=(N, 1))),
        "values": (None, rng.normal(size=(N, 3))),
    }
    data["sparse"][1][1] = data["sparse"][1][1][::-1]  # ties and near-ties for the top-k metrics
    return {k: (None if y is None else np.asarray(y, f), np.asarray(p, f)) for k, (y, p) in data.items()}


def weights(name, y_pred):
    """Sample weights by name, for the leading axes of y_pred."""
    rng = np.random.default_rng(7)
    n = y_pred.shape[0]
    return {
        "none": None,
        "per_sample": rng.uniform(0.0, 2.0, size=n).astype(np.float32),
        "column": rng.uniform(0.0, 2.0, size=(n, 1)).astype(np.float32),
        "scalar": np.float32(2.5),
        "per_step": rng.uniform(0.0, 2.0, size=y_pred.shape[:2]).astype(np.float32),
    }[name]


REDUCTIONS = ("sum_over_batch_size", "sum", "none")
_W = ("none", "per_sample", "column", "scalar")

# (loss class, constructor kwargs, data set, sample-weight names)
LOSS_CASES = [
    ("MeanSquaredError", {}, "reg", _W), ("MeanAbsoluteError", {}, "reg", _W),
    ("MeanSquaredError", {}, "seq", ("none", "per_sample", "per_step")),
    ("MeanSquaredError", {}, "col", ("none", "per_sample", "column")),
    ("MeanAbsolutePercentageError", {}, "pos", _W), ("MeanSquaredLogarithmicError", {}, "pos", _W),
    ("Huber", {}, "reg", _W), ("Huber", {"delta": 0.5}, "reg", ("none", "per_sample")),
    ("LogCosh", {}, "reg", _W), ("KLDivergence", {}, "prob", _W), ("Poisson", {}, "pos", _W),
    ("CosineSimilarity", {}, "reg", _W), ("CosineSimilarity", {"axis": 0}, "reg", ("none",)),
    ("Hinge", {}, "bin", _W), ("Hinge", {}, "sign", ("none", "per_sample")),
    ("SquaredHinge", {}, "bin", _W), ("SquaredHinge", {}, "sign", ("none", "per_sample")),
    ("CategoricalHinge", {}, "onehot_raw", _W),
    ("BinaryCrossentropy", {}, "bin", _W), ("BinaryCrossentropy", {"from_logits": True}, "logits", _W),
    ("BinaryCrossentropy", {"label_smoothing": 0.1}, "bin", ("none", "per_sample")),
    ("CategoricalCrossentropy", {}, "onehot", _W),
    ("CategoricalCrossentropy", {"from_logits": True, "label_smoothing": 0.2}, "onehot_raw", ("per_sample",)),
    ("SparseCategoricalCrossentropy", {}, "sparse", _W),
    ("SparseCategoricalCrossentropy", {}, "sparse_col", ("none", "per_sample")),
]

_MW = ("none", "per_sample")
_MW3 = ("none", "per_sample", "column")
# (metric class, constructor kwargs, data set, sample-weight names); each runs over two batches (5 + 3 rows)
METRIC_CASES = [
    ("Mean", {}, "values", ("none", "per_sample", "column")), ("Sum", {}, "values", ("none", "per_sample")),
    ("Accuracy", {}, "classes", _MW), ("BinaryAccuracy", {}, "bin", _MW),
    ("BinaryAccuracy", {"threshold": 0.7}, "bin", _MW),
    ("CategoricalAccuracy", {}, "onehot", _MW), ("SparseCategoricalAccuracy", {}, "sparse", _MW),
    ("SparseCategoricalAccuracy", {}, "sparse_col", _MW),
    ("TopKCategoricalAccuracy", {"k": 2}, "onehot", _MW), ("TopKCategoricalAccuracy", {}, "onehot", _MW),
    ("SparseTopKCategoricalAccuracy", {"k": 2}, "sparse", _MW),
    ("SparseTopKCategoricalAccuracy", {"k": 3}, "sparse_col", _MW),
    ("MeanSquaredError", {}, "reg", _MW), ("MeanAbsoluteError", {}, "reg", _MW),
    ("MeanAbsolutePercentageError", {}, "pos", _MW), ("MeanSquaredLogarithmicError", {}, "pos", _MW),
    ("RootMeanSquaredError", {}, "reg", _MW), ("LogCoshError", {}, "reg", _MW),
    ("CosineSimilarity", {}, "reg", _MW), ("KLDivergence", {}, "prob", _MW), ("Poisson", {}, "pos", _MW),
    ("Hinge", {}, "bin", _MW), ("SquaredHinge", {}, "sign", _MW), ("CategoricalHinge", {}, "onehot_raw", _MW),
    ("BinaryCrossentropy", {}, "bin", _MW), ("CategoricalCrossentropy", {}, "onehot", _MW),
    ("SparseCategoricalCrossentropy", {}, "sparse", _MW),
    ("TruePositives", {}, "bin", _MW), ("FalsePositives", {"thresholds": [0.3, 0.6]}, "bin", _MW),
    ("TrueNegatives", {}, "bin", _MW), ("FalseNegatives", {}, "bin1", _MW),
    ("Precision", {}, "bin", _MW), ("Precision", {"thresholds": [0.2, 0.5, 0.8]}, "bin", _MW),
    ("Precision", {"top_k": 2}, "bin", _MW), ("Precision", {"class_id": 1}, "bin", _MW),
    ("Recall", {}, "bin", _MW), ("Recall", {"thresholds": [0.2, 0.5, 0.8]}, "bin", _MW),
    ("Recall", {"top_k": 1}, "bin", _MW), ("Recall", {"class_id": 2}, "bin", _MW),
    ("AUC", {}, "bin", _MW), ("AUC", {}, "bin1", _MW), ("AUC", {"curve": "PR"}, "bin", _MW),
    ("AUC", {"num_thresholds": 7}, "bin", _MW), ("AUC", {"summation_method": "minoring"}, "bin", _MW),
    ("AUC", {"curve": "PR", "summation_method": "majoring"}, "bin", _MW),
    ("AUC", {"thresholds": [0.1, 0.45, 0.8]}, "bin", _MW), ("AUC", {"multi_label": True}, "bin", _MW),
    ("AUC", {"multi_label": True, "curve": "PR"}, "bin", _MW),
    ("AUC", {"multi_label": True, "label_weights": [0.2, 1.0, 0.5]}, "bin", _MW),
    ("AUC", {"from_logits": True}, "logits", _MW),
    ("AUC", {"multi_label": True, "thresholds": [0.1, 0.45, 0.8], "curve": "PR"}, "bin", _MW3),
    ("F1Score", {}, "bin", _MW), ("F1Score", {"average": "micro", "threshold": 0.5}, "bin", _MW),
    ("F1Score", {"average": "macro", "threshold": 0.4}, "bin", _MW),
    ("F1Score", {"average": "weighted"}, "onehot", _MW), ("F1Score", {"average": "macro"}, "onehot", _MW),
    # (n,) targets against (n, 1) outputs, and (n, 1) weights
    ("BinaryAccuracy", {}, "bin_flat", _MW), ("MeanSquaredError", {}, "bin_flat", _MW),
    ("AUC", {}, "bin_flat", _MW3), ("Precision", {}, "bin_flat", _MW3), ("Recall", {"thresholds": [0.3, 0.7]}, "bin", _MW3),
    ("AUC", {"curve": "PR"}, "bin", _MW3), ("CategoricalAccuracy", {}, "onehot", _MW3),
    ("RootMeanSquaredError", {}, "reg", _MW3),
]


def case_id(cls, kwargs, data, extra):
    args = ",".join(f"{k}={v}" for k, v in sorted(kwargs.items()))
    return f"{cls}({args})/{data}/{extra}"


def metric_batches(data, weight_name):
    """Two batches (rows 0-4 and 5-7) of (y_true, y_pred, sample_weight)."""
    y, p = data
    w = weights(weight_name, p)
    out = []
    for rows in (slice(0, 5), slice(5, N)):
        out.append((None if y is None else y[rows], p[rows], None if w is None or np.ndim(w) == 0 else w[rows]))
    return out
