"""Confusion-matrix metrics: TruePositives ... FalseNegatives, Precision, Recall and AUC.

They count, for each threshold t, the (weighted) samples with y_pred > t against y_true cast to bool, by
Keras' update_confusion_matrix_variables. AUC's default thresholds are evenly spaced, and Keras then counts by
buckets (bucket ceil(p * (n - 1)) - 1 of each prediction, then a reversed cumulative sum): so does AUC here,
which gives the same counts for predictions that sit exactly on a threshold.
"""
import numpy as np

from minigraph.autodiff import value_of
from minigraph.losses.loss import EPSILON
from minigraph.metrics.metric import Metric

NEG_INF = -1e10  # Keras' stand-in score for predictions outside the top k
_CONDITIONS = ("tp", "fp", "tn", "fn")


def _thresholds(thresholds, default, caller):
    values = [default] if thresholds is None else (
        [thresholds] if np.isscalar(thresholds) else list(thresholds))
    if thresholds is not None:
        bad = [t for t in values if t is None or not 0 <= t <= 1]
        if bad:
            raise ValueError(f"{caller}: threshold values must be in [0, 1]. Received: {bad}")
    return values


def _same_rank(x1, x2, expand_rank_1=True):
    """Keras 3's squeeze_or_expand_to_same_rank: ranks that differ by one and a trailing 1 are lined up."""
    for first in (True, False):
        a, b = (x1, x2) if first else (x2, x1)
        if a.ndim == b.ndim + 1 and a.shape[-1] == 1:
            if b.ndim == 1 and expand_rank_1:
                b = b[:, None]
            else:
                a = a[..., 0]
            x1, x2 = (a, b) if first else (b, a)
            break
    return x1, x2


def _filter_top_k(scores, k):
    """Scores outside each row's top k become NEG_INF (ties go to the lower index, as top_k picks them)."""
    order = np.argsort(-scores, axis=-1, kind="stable")[..., :k]
    keep = np.zeros(scores.shape, dtype=bool)
    np.put_along_axis(keep, order, True, axis=-1)
    return np.where(keep, scores, scores.dtype.type(NEG_INF))


def _by_threshold(labels, scores, weights, thresholds, multi_label):
    """{condition: counts per threshold}, comparing every score with every threshold."""
    axis = 0 if multi_label else None  # multi-label: counts per threshold and label (the last axis)
    shape = (len(thresholds),) + ((scores.shape[-1],) if multi_label else ())
    scores = scores.reshape(-1, scores.shape[-1]) if multi_label else scores.reshape(-1)
    labels = labels.reshape(scores.shape)
    weights = weights.reshape(scores.shape)
    counts = {key: np.zeros(shape, dtype=scores.dtype) for key in _CONDITIONS}
    for i, t in enumerate(np.asarray(thresholds, dtype=scores.dtype)):
        positive = scores > t
        for key, hit in (("tp", labels & positive), ("fp", ~labels & positive),
                         ("tn", ~labels & ~positive), ("fn", labels & ~positive)):
            counts[key][i] = np.sum(np.where(hit, weights, 0), axis=axis, dtype=scores.dtype)
    return counts


def _by_bucket(labels, scores, weights, num_thresholds, multi_label):
    """{condition: counts per threshold} for thresholds [-eps, 1/(n-1), ..., 1 + eps], by buckets."""
    dtype = scores.dtype
    columns = scores.shape[-1] if multi_label else 1
    scores = np.clip(scores, 0.0, 1.0).reshape(-1, columns)
    weights = weights.reshape(-1, columns)
    labels = labels.reshape(-1, columns).astype(dtype)
    true_w, false_w = labels * weights, (1 - labels) * weights
    buckets = np.maximum(np.ceil(scores * dtype.type(num_thresholds - 1)) - 1, 0).astype(np.int64)
    counts = {key: np.zeros((num_thresholds, columns), dtype=dtype) for key in _CONDITIONS}
    for j in range(columns):
        for key, w in (("tp", true_w), ("fp", false_w)):
            per_bucket = np.bincount(buckets[:, j], weights=w[:, j], minlength=num_thresholds).astype(dtype)
            counts[key][:, j] = np.cumsum(per_bucket[::-1], dtype=dtype)[::-1]
    counts["fn"] = true_w.sum(axis=0, dtype=dtype) - counts["tp"]
    counts["tn"] = false_w.sum(axis=0, dtype=dtype) - counts["fp"]
    return {key: value if multi_label else value[:, 0] for key, value in counts.items()}


def confusion_counts(y_true, y_pred, thresholds, top_k=None, class_id=None, sample_weight=None,
                     multi_label=False, label_weights=None, evenly_spaced=False, dtype="float32"):
    """Keras' update_confusion_matrix_variables, as the counts to add: {'tp', 'fp', 'tn', 'fn'} per threshold."""
    y_true = np.asarray(value_of(y_true), dtype=dtype)
    y_pred = np.asarray(value_of(y_pred), dtype=dtype)
    y_pred, y_true = _same_rank(y_pred, y_true)
    weights = np.ones((), dtype)
    if sample_weight is not None:
        weights = np.expand_dims(np.asarray(value_of(sample_weight), dtype=dtype), -1)
        _, weights = _same_rank(y_true, weights, expand_rank_1=False)
    if top_k is not None:
        y_pred = _filter_top_k(y_pred, top_k)
    if class_id is not None:
        if y_pred.ndim == 1:
            raise ValueError(f"class_id={class_id} needs y_pred of shape (num_samples, num_classes), "
                             f"got {y_pred.shape}")
        y_true, y_pred = y_true[..., class_id, None], y_pred[..., class_id, None]
    try:
        weights = np.broadcast_to(weights, y_pred.shape)
        if label_weights is not None and not multi_label:
            weights = weights * np.broadcast_to(np.asarray(label_weights, dtype=dtype), y_pred.shape)
    except ValueError:
        raise ValueError(f"sample_weight of shape {np.shape(value_of(sample_weight))} cannot be broadcast to "
                         f"y_pred of shape {y_pred.shape}") from None
    labels = y_true.astype(bool)
    if evenly_spaced:
        return _by_bucket(labels, y_pred, weights, len(thresholds), multi_label)
    return _by_threshold(labels, y_pred, weights, thresholds, multi_label)


def _div_no_nan(a, b):
    return np.where(b != 0, a / np.where(b != 0, b, 1), 0).astype(a.dtype)


# ----------------------------------------------------------------------------------------------- counts
class _ConditionCount(Metric):
    _condition = None

    def __init__(self, thresholds=None, name=None, dtype=None):
        super().__init__(name=name, dtype=dtype)
        self.thresholds = _thresholds(thresholds, 0.5, type(self).__name__)
        self.accumulator = self.add_variable((len(self.thresholds),), name="accumulator")
        self._init_thresholds = thresholds

    def update_state(self, y_true, y_pred, sample_weight=None):
        counts = confusion_counts(y_true, y_pred, self.thresholds, sample_weight=sample_weight, dtype=self.dtype)
        self.accumulator.assign_add(counts[self._condition])

    def result(self):
        value = self.accumulator.value
        return value[0] if len(self.thresholds) == 1 else value

    def get_config(self):
        return {**super().get_config(), "thresholds": self._init_thresholds}


class TruePositives(_ConditionCount):
    _condition = "tp"


class FalsePositives(_ConditionCount):
    _condition = "fp"


class TrueNegatives(_ConditionCount):
    _condition = "tn"


class FalseNegatives(_ConditionCount):
    _condition = "fn"


# ----------------------------------------------------------------------------------------------- precision, recall
class _PrecisionRecall(Metric):
    """tp and one other count per threshold; the result is tp / (tp + other)."""

    _other = None

    def __init__(self, thresholds=None, top_k=None, class_id=None, name=None, dtype=None):
        super().__init__(name=name, dtype=dtype)
        self.init_thresholds = thresholds
        self.top_k = top_k
        self.class_id = class_id
        self.thresholds = _thresholds(thresholds, 0.5 if top_k is None else NEG_INF, type(self).__name__)
        self.true_positives = self.add_variable((len(self.thresholds),), name="true_positives")
        self.other = self.add_variable((len(self.thresholds),), name=self._other_name)

    def update_state(self, y_true, y_pred, sample_weight=None):
        counts = confusion_counts(y_true, y_pred, self.thresholds, top_k=self.top_k, class_id=self.class_id,
                                  sample_weight=sample_weight, dtype=self.dtype)
        self.true_positives.assign_add(counts["tp"])
        self.other.assign_add(counts[self._other])

    def result(self):
        tp = self.true_positives.value
        value = _div_no_nan(tp, tp + self.other.value)
        return value[0] if len(self.thresholds) == 1 else value

    def get_config(self):
        return {**super().get_config(), "thresholds": self.init_thresholds, "top_k": self.top_k,
                "class_id": self.class_id}


class Precision(_PrecisionRecall):
    """tp / (tp + fp): the share of predicted positives that are positive."""

    _other, _other_name = "fp", "false_positives"


class Recall(_PrecisionRecall):
    """tp / (tp + fn): the share of positives that are predicted positive."""

    _other, _other_name = "fn", "false_negatives"


# ----------------------------------------------------------------------------------------------- AUC
class AUC(Metric):
    """Area under the ROC or PR curve, by a Riemann sum over `num_thresholds` thresholds (Keras' AUC)."""

    def __init__(self, num_thresholds=200, curve="ROC", summation_method="interpolation", name=None, dtype=None,
                 thresholds=None, multi_label=False, num_labels=None, label_weights=None, from_logits=False):
        curve = str(curve).upper()
        if curve not in ("ROC", "PR", "PRGAIN"):
            raise ValueError(f'AUC: invalid curve "{curve}". Expected values are ["PR", "ROC", "PRGAIN"]')
        summation = str(summation_method).lower()
        if summation not in ("interpolation", "majoring", "minoring"):
            raise ValueError(f'AUC: invalid summation_method "{summation_method}". Expected values are '
                             '["interpolation", "majoring", "minoring"]')
        if num_labels and not multi_label:
            raise ValueError("AUC: `num_labels` is needed only when `multi_label` is True.")
        super().__init__(name=name, dtype=dtype)
        self._init_from_thresholds = thresholds is not None
        if thresholds is not None:
            inner = sorted(_thresholds(thresholds, None, "AUC"))
            self.num_thresholds = len(inner) + 2
            even = np.arange(self.num_thresholds, dtype=np.float32) / (self.num_thresholds - 1)
            self._evenly_spaced = bool(np.allclose([0.0, *inner, 1.0], even, atol=EPSILON))
        else:
            if num_thresholds <= 1:
                raise ValueError(f"AUC: `num_thresholds` must be an integer > 1. Received: {num_thresholds}")
            self.num_thresholds = int(num_thresholds)
            inner = [(i + 1) / (num_thresholds - 1) for i in range(num_thresholds - 2)]
            self._evenly_spaced = True
        self._thresholds = np.array([0.0 - EPSILON, *inner, 1.0 + EPSILON])
        self.curve = curve
        self.summation_method = summation
        self.multi_label = multi_label
        self.num_labels = num_labels
        self.label_weights = None if label_weights is None else np.asarray(label_weights, dtype=self.dtype)
        self._from_logits = from_logits
        self._built = False
        if not multi_label or num_labels:
            self._build(num_labels)

    @property
    def thresholds(self):
        return list(self._thresholds)

    def _build(self, num_labels):
        shape = (self.num_thresholds,) + ((num_labels,) if self.multi_label else ())
        self.true_positives = self.add_variable(shape, name="true_positives")
        self.false_positives = self.add_variable(shape, name="false_positives")
        self.true_negatives = self.add_variable(shape, name="true_negatives")
        self.false_negatives = self.add_variable(shape, name="false_negatives")
        self._built = True

    def update_state(self, y_true, y_pred, sample_weight=None):
        y_pred = np.asarray(value_of(y_pred), dtype=self.dtype)
        if not self._built:
            if y_pred.ndim != 2:
                raise ValueError(f"AUC: `y_pred` must have rank 2 when `multi_label=True`. Found shape {y_pred.shape}")
            self._build(y_pred.shape[1])
        if self._from_logits:
            y_pred = (1 / (1 + np.exp(-y_pred))).astype(self.dtype)
        counts = confusion_counts(y_true, y_pred, self._thresholds, sample_weight=sample_weight,
                                  multi_label=self.multi_label,
                                  label_weights=None if self.multi_label else self.label_weights,
                                  evenly_spaced=self._evenly_spaced, dtype=self.dtype)
        for key, variable in (("tp", self.true_positives), ("fp", self.false_positives),
                              ("tn", self.true_negatives), ("fn", self.false_negatives)):
            variable.assign_add(counts[key])

    def _by_label(self, per_label):
        """Multi-label: the mean over labels, or their label_weights-weighted mean."""
        if not self.multi_label:
            return per_label.sum(dtype=self.dtype)
        by_label = per_label.sum(axis=0, dtype=self.dtype)
        if self.label_weights is None:
            return by_label.mean(dtype=self.dtype)
        return _div_no_nan(np.sum(by_label * self.label_weights, dtype=self.dtype),
                           np.sum(self.label_weights, dtype=self.dtype))

    def interpolate_pr_auc(self):
        """Davis & Goadrich (2006) interpolation: tp and p = tp + fp vary linearly between thresholds, precision
        is integrated in closed form, slope * (dtp + intercept * log(p_a / p_b)) / (tp + fn)."""
        tp, fp, fn = self.true_positives.value, self.false_positives.value, self.false_negatives.value
        dtp = tp[:-1] - tp[1:]
        p = tp + fp
        dp = p[:-1] - p[1:]
        slope = _div_no_nan(dtp, np.maximum(dp, 0))
        intercept = tp[1:] - slope * p[1:]
        both = (p[:-1] > 0) & (p[1:] > 0)
        ratio = np.where(both, _div_no_nan(p[:-1], np.maximum(p[1:], 0)), np.ones_like(p[1:]))
        with np.errstate(divide="ignore"):
            log_ratio = np.log(ratio)
        increment = _div_no_nan(slope * (dtp + intercept * log_ratio), np.maximum(tp[1:] + fn[1:], 0))
        return self._by_label(increment)

    def result(self):
        if not self._built:
            return np.zeros((), self.dtype)
        if self.curve == "PR" and self.summation_method == "interpolation":
            return self.interpolate_pr_auc()
        tp, fp = self.true_positives.value, self.false_positives.value
        tn, fn = self.true_negatives.value, self.false_negatives.value
        recall = _div_no_nan(tp, tp + fn)
        if self.curve == "ROC":
            x, y = _div_no_nan(fp, fp + tn), recall
        elif self.curve == "PR":
            x, y = recall, _div_no_nan(tp, tp + fp)
        else:  # PRGAIN
            scale = _div_no_nan(tp + fn, tn + fp)
            x = np.maximum(np.where(tp == 0, 0, 1 - scale * _div_no_nan(fn, tp)), 0).astype(self.dtype)
            y = np.where(tp == 0, 1, 1 - scale * _div_no_nan(fp, tp)).astype(self.dtype)
        if self.summation_method == "interpolation":
            heights = (y[:-1] + y[1:]) / 2
        elif self.summation_method == "minoring":
            heights = np.minimum(y[:-1], y[1:])
        else:
            heights = np.maximum(y[:-1], y[1:])
        return self._by_label((x[:-1] - x[1:]) * heights)

    def get_config(self):
        config = {**super().get_config(), "num_thresholds": self.num_thresholds, "curve": self.curve,
                  "summation_method": self.summation_method, "multi_label": self.multi_label,
                  "num_labels": self.num_labels,
                  "label_weights": None if self.label_weights is None else self.label_weights.tolist(),
                  "from_logits": self._from_logits}
        if self._init_from_thresholds:
            config["thresholds"] = self.thresholds[1:-1]
        return config
