"""Every loss and metric against the numbers real Keras computed for the same inputs, with and without
sample_weight, for each reduction (tests/keras_loss_metric_values.py, made by
tests/data/make_keras_loss_metric_values.py).

The reference is tf.keras 2, whose sample-weight and (n,) against (n, 1) rules minigraph follows; Keras 3
gives the same numbers except where it lines weights up differently (a (n, 1) weight with reduction "none",
and targets of shape (n,) against outputs (n, 1)), and where only Keras 3 has the class.
"""
import numpy as np
import pytest

from keras_loss_metric_values import VALUES
from loss_metric_cases import LOSS_CASES, METRIC_CASES, REDUCTIONS, case_id, datasets, metric_batches, weights
from minigraph import losses, metrics

DATA = datasets()
RTOL, ATOL = 2e-6, 1e-6


def _reference(record):
    """tf.keras 2's value (or error), else Keras 3's where tf.keras 2 lacks the class."""
    if record["keras2"] is not None or "has no attribute" not in str(record["keras2_error"]):
        return record["keras2"], record["keras2_error"]
    return record["keras3"], record["keras3_error"]


def _loss_params():
    for cls, kwargs, name, weight_names in LOSS_CASES:
        for w_name in weight_names:
            for reduction in REDUCTIONS:
                key = case_id(cls, kwargs, name, f"{w_name}/{reduction}")
                yield pytest.param(cls, kwargs, name, w_name, reduction, VALUES["losses"][key], id=key)


def _metric_params():
    for cls, kwargs, name, weight_names in METRIC_CASES:
        for w_name in weight_names:
            key = case_id(cls, kwargs, name, w_name)
            yield pytest.param(cls, kwargs, name, w_name, VALUES["metrics"][key], id=key)


@pytest.mark.parametrize("cls, kwargs, name, w_name, reduction, record", list(_loss_params()))
def test_loss_matches_keras(cls, kwargs, name, w_name, reduction, record):
    y, p = DATA[name]
    w = weights(w_name, p)
    loss = getattr(losses, cls)(reduction=reduction, **kwargs)
    expected, error = _reference(record)
    if expected is None:
        assert error, "the reference holds neither a value nor an error"
        with pytest.raises(ValueError, match="sample_weight"):
            loss(y, p, sample_weight=w)
        return
    got = np.asarray(loss(y, p, sample_weight=w))
    assert got.dtype == np.float32
    np.testing.assert_allclose(got, np.asarray(expected), rtol=RTOL, atol=ATOL)


@pytest.mark.parametrize("alias", ["mean", "auto"])
def test_mean_and_auto_reduce_as_sum_over_batch_size(alias):
    y, p = DATA["reg"]
    w = weights("per_sample", p)
    expected = VALUES["losses"][case_id("Huber", {}, "reg", "per_sample/sum_over_batch_size")]["keras2"]
    assert float(losses.Huber(reduction=alias)(y, p, sample_weight=w)) == pytest.approx(expected, rel=RTOL)


def test_mean_with_sample_weight_divides_by_the_weights():
    # Keras 3's "mean_with_sample_weight": the sum of weight * loss over the sum of the weights
    y, p = DATA["reg"]
    w = weights("per_sample", p)
    weighted_sum = VALUES["losses"][case_id("LogCosh", {}, "reg", "per_sample/sum")]["keras2"]
    value = float(losses.LogCosh(reduction="mean_with_sample_weight")(y, p, sample_weight=w))
    assert value == pytest.approx(weighted_sum / float(w.sum()), rel=RTOL)


# tf.keras 2's confusion metrics refuse (n,) targets against (n, 1) outputs with weights; Keras 3 lines them up
# and counts, and so does minigraph. (Its mean metrics keep tf.keras 2's rule there, and refuse as it does.)
FOLLOWS_KERAS3 = {case_id(cls, {}, "bin_flat", w) for cls in ("AUC", "Precision") for w in ("per_sample", "column")}


def _update(metric, name, w_name):
    for y, p, w in metric_batches(DATA[name], w_name):
        if y is None:
            metric.update_state(p, sample_weight=w)
        else:
            metric.update_state(y, p, sample_weight=w)


@pytest.mark.parametrize("cls, kwargs, name, w_name, record", list(_metric_params()))
def test_metric_matches_keras(cls, kwargs, name, w_name, record, request):
    expected, error = _reference(record)
    metric = getattr(metrics, cls)(**kwargs)
    if expected is None and request.node.callspec.id in FOLLOWS_KERAS3:
        expected, error = record["keras3"], record["keras3_error"]
    if expected is None:
        assert error, "the reference holds neither a value nor an error"
        with pytest.raises(ValueError, match="sample_weight"):
            _update(metric, name, w_name)
        return
    _update(metric, name, w_name)
    np.testing.assert_allclose(np.asarray(metric.result()), np.asarray(expected), rtol=RTOL, atol=ATOL)
    metric.reset_state()
    assert np.all(np.asarray(metric.result()) == 0)
