"""The fused Adam update against the numpy formula of Keras 2.11+."""
import numpy as np
import pytest

from minigraph.kernels import optimizer

RNG = np.random.default_rng(11)


def reference(w, g, m, v, alpha, b1, b2, eps, vhat=None):
    m = m + (g - m) * (1 - b1)
    v = v + (g * g - v) * (1 - b2)
    if vhat is not None:
        vhat = np.maximum(vhat, v)
    w = w - m * alpha / (np.sqrt(v if vhat is None else vhat) + eps)
    return w, m, v, vhat


@pytest.mark.parametrize("amsgrad", [False, True])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("shape", [(784, 64), (10,), (3, 4, 5), (1,)])
def test_adam_update_matches_the_formula(shape, dtype, amsgrad):
    w, g = RNG.standard_normal(shape).astype(dtype), RNG.standard_normal(shape).astype(dtype)
    m, v = (RNG.standard_normal(shape) * 0.1).astype(dtype), RNG.random(shape).astype(dtype)
    vhat = RNG.random(shape).astype(dtype) if amsgrad else None
    want = reference(w, g, m, v, 1e-3, 0.9, 0.999, 1e-7, vhat)
    arrays = [a.copy() for a in (w, m, v)] + [vhat.copy() if amsgrad else None]
    optimizer.adam_update(arrays[0], g, arrays[1], arrays[2], 1e-3, 0.9, 0.999, 1e-7, arrays[3])
    tol = 1e-12 if dtype == np.float64 else 1e-6
    for got, ref in zip(arrays, want):
        if ref is not None:
            assert got.dtype == dtype
            np.testing.assert_allclose(got, ref, rtol=tol, atol=tol)


def test_nan_gradient_reaches_the_weight_and_amsgrad_keeps_it():
    w, m, v, vhat = np.ones(3, np.float32), np.zeros(3, np.float32), np.zeros(3, np.float32), np.zeros(3, np.float32)
    optimizer.adam_update(w, np.array([np.nan, 1, 1], np.float32), m, v, 1e-3, 0.9, 0.999, 1e-7, vhat)
    assert np.isnan(w[0]) and np.isnan(vhat[0]) and np.isfinite(w[1:]).all()


def test_gradient_of_another_dtype_is_cast():
    w, m, v = np.ones(4), np.zeros(4), np.zeros(4)
    optimizer.adam_update(w, np.ones(4, np.float32), m, v, 0.5, 0.9, 0.999, 1e-7)
    np.testing.assert_allclose(w, 1 - 0.1 * 0.5 / (np.sqrt(0.001) + 1e-7))


def test_float16_and_non_contiguous_state_are_updated_through_copies():
    """The step runs in float32 on working copies and is written back (float16 weights, Fortran order)."""
    w64 = RNG.standard_normal((6, 5))
    g = RNG.standard_normal((6, 5))
    want = reference(w64.astype(np.float32), g.astype(np.float32), np.zeros((6, 5), np.float32),
                     np.zeros((6, 5), np.float32), 1e-2, 0.9, 0.999, 1e-7)[0]
    w16, m16, v16 = w64.astype(np.float16), np.zeros((6, 5), np.float16), np.zeros((6, 5), np.float16)
    optimizer.adam_update(w16, g, m16, v16, 1e-2, 0.9, 0.999, 1e-7)
    assert w16.dtype == np.float16
    np.testing.assert_allclose(w16, want.astype(np.float16), rtol=1e-3)
    assert np.abs(m16).max() > 0 and np.abs(v16).max() > 0
    wf, mf, vf = (np.asfortranarray(a) for a in (w64.astype(np.float32), np.zeros((6, 5), np.float32),
                                                  np.zeros((6, 5), np.float32)))
    wf[...] = w64.astype(np.float32)  # (same values as w64 rounded)
    optimizer.adam_update(wf, g, mf, vf, 1e-2, 0.9, 0.999, 1e-7)
    np.testing.assert_allclose(wf, want, rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("args, message", [
    (lambda w: (w.astype(np.int32), w, w, w), r"w must be a floating numpy array, got int32 \(3,\)"),
    (lambda w: (w, w[:2], w, w), r"gradient shape \(2,\) does not match the variable's \(3,\)"),
    (lambda w: (w, w, w[:2].copy(), w), r"m shape \(2,\) does not match the variable's \(3,\)"),
    (lambda w: (w, w, w, [0.0, 0.0, 0.0]), r"v must be a floating numpy array, got list \(3,\)"),
])
def test_bad_arguments_raise(args, message):
    with pytest.raises(ValueError, match=message):
        optimizer.adam_update(*args(np.zeros(3)), 1e-3, 0.9, 0.999, 1e-7)


def test_adam_update_all_gives_each_variable_the_bits_of_its_own_update():
    """One pass over variables of both dtypes, sizes across chunk boundaries, a Fortran-ordered one (updated
    through adam_update's copy) and an empty one: the same bits as a call per variable, for both threads."""
    shapes = [((784, 64), np.float32), ((64,), np.float32), ((40000,), np.float32), ((3, 5), np.float64),
              ((0,), np.float32), ((16385,), np.float64), ((6, 4), np.float32)]
    def state():
        rng = np.random.default_rng(5)
        arrays = [[rng.standard_normal(s).astype(t), rng.standard_normal(s).astype(t),
                   (rng.standard_normal(s) * 0.1).astype(t), rng.random(s).astype(t)] for s, t in shapes]
        arrays[-1][0] = np.asfortranarray(arrays[-1][0])
        return arrays
    each, together = state(), state()
    for w, g, m, v in each:
        optimizer.adam_update(w, g, m, v, 1e-3, 0.9, 0.999, 1e-7)
    optimizer.adam_update_all(*zip(*together), 1e-3, 0.9, 0.999, 1e-7)
    for (w, g, m, v), (w2, g2, m2, v2), (shape, dtype) in zip(each, together, shapes):
        assert w2.dtype == dtype and w2.shape == shape
        for a, b in ((w, w2), (m, m2), (v, v2)):
            np.testing.assert_array_equal(a, b)
    ref = reference(*state()[2], 1e-3, 0.9, 0.999, 1e-7)
    np.testing.assert_allclose(together[2][0], ref[0], rtol=1e-6, atol=1e-6)


def test_adam_update_all_refuses_sequences_of_different_lengths():
    w = np.zeros(3, np.float32)
    with pytest.raises(ValueError, match="adam_update_all: ws, gs, ms and vs must have one length, got 2, 1, 2 and 2"):
        optimizer.adam_update_all([w, w], [w], [w, w], [w, w], 1e-3, 0.9, 0.999, 1e-7)
