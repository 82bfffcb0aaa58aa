"""Recurrent kernels (LSTM, GRU both ways, SimpleRNN) against the numpy references of rnn_reference.py, and
their gradients against central finite differences in float64."""
import json
import os

import numpy as np
import pytest

import rnn_reference as ref
from kernel_reference import layouts, numeric_grad
from minigraph import kernels
from minigraph.kernels import rnn

CELLS = ["lstm", "gru", "gru_reset_before", "simple_rnn"]
GATES = {"lstm": 4, "gru": 3, "gru_reset_before": 3, "simple_rnn": 1}
DEFAULT_ACTS = {"lstm": ("tanh", "sigmoid"), "gru": ("tanh", "sigmoid"), "gru_reset_before": ("tanh", "sigmoid"),
                "simple_rnn": ("tanh", None)}


def make_args(cell, batch, time, features, units, seed=0, use_bias=True):
    """Random inputs, weights and initial states (float64) for one cell."""
    rng = np.random.default_rng(seed)
    n = GATES[cell] * units
    args = {
        "x": rng.standard_normal((batch, time, features)),
        "kernel": rng.standard_normal((features, n)) * 0.6,
        "recurrent_kernel": rng.standard_normal((units, n)) * 0.6,
        "bias": (rng.standard_normal((2, n) if cell == "gru" else (n,)) * 0.5) if use_bias else None,
        "h0": rng.standard_normal((batch, units)) * 0.5,
    }
    if cell == "lstm":
        args["c0"] = rng.standard_normal((batch, units)) * 0.5
    return args


def make_mask(batch, time, seed=1):
    """A mask with a leading masked step in row 0 and, for 3 rows, a row masked throughout."""
    mask = np.random.default_rng(seed).random((batch, time)) > 0.4
    if time:
        mask[0, 0] = False
    if batch == 3:
        mask[2] = False
    return mask


def state_names(cell):
    return ["h0", "c0"] if cell == "lstm" else ["h0"]


def forward(cell, args, mask=None, zero_out=False, acts=None):
    """-> (outputs, [final states], cache) from the kernel."""
    act, rec_act = acts or DEFAULT_ACTS[cell]
    common = dict(mask=mask, activation=act, zero_output_for_mask=zero_out)
    w = (args["x"], args["kernel"], args["recurrent_kernel"], args["bias"])
    if cell == "lstm":
        y, h, c, cache = rnn.lstm_forward(*w, h0=args["h0"], c0=args["c0"], recurrent_activation=rec_act, **common)
        return y, [h, c], cache
    if cell.startswith("gru"):
        y, h, cache = rnn.gru_forward(*w, h0=args["h0"], recurrent_activation=rec_act, reset_after=cell == "gru",
                                      **common)
        return y, [h], cache
    y, h, cache = rnn.simple_rnn_forward(*w, h0=args["h0"], **common)
    return y, [h], cache


def backward(cell, cache, d_outputs, d_states):
    """-> dict of gradients keyed like make_args' arrays."""
    if cell == "lstm":
        dx, dh0, dc0, dk, drk, db = rnn.lstm_backward(cache, d_outputs, *d_states)
        return {"x": dx, "h0": dh0, "c0": dc0, "kernel": dk, "recurrent_kernel": drk, "bias": db}
    fn = rnn.gru_backward if cell.startswith("gru") else rnn.simple_rnn_backward
    dx, dh0, dk, drk, db = fn(cache, d_outputs, *d_states)
    return {"x": dx, "h0": dh0, "kernel": dk, "recurrent_kernel": drk, "bias": db}


def reference(cell, args, mask=None, zero_out=False, acts=None):
    act, rec_act = (ref.ACTIVATIONS[a] if a else None for a in (acts or DEFAULT_ACTS[cell]))
    w = (args["kernel"], args["recurrent_kernel"])
    n = w[0].shape[1]
    bias = args["bias"] if args["bias"] is not None else np.zeros((2, n) if cell == "gru" else n)
    if cell == "lstm":
        step = lambda x_t, s: ref.lstm_step(x_t, s, *w, bias, act, rec_act)
    elif cell.startswith("gru"):
        step = lambda x_t, s: ref.gru_step(x_t, s, *w, bias, act, rec_act, cell == "gru")
    else:
        step = lambda x_t, s: ref.simple_rnn_step(x_t, s, *w, bias, act)
    return ref.run(step, args["x"], [args[k] for k in state_names(cell)], mask, zero_out)


def cast(args, dtype):
    return {k: (None if v is None else v.astype(dtype)) for k, v in args.items()}


MASKS = ["none", "mask", "mask_zero_output"]


def mask_for(kind, batch, time):
    return None if kind == "none" else make_mask(batch, time)


@pytest.mark.parametrize("mask_kind", MASKS)
@pytest.mark.parametrize("units", [1, 4, 9])
@pytest.mark.parametrize("time", [0, 1, 5])
@pytest.mark.parametrize("batch", [1, 3])
@pytest.mark.parametrize("cell", CELLS)
def test_forward_matches_reference_and_float32_backward_matches_float64(cell, batch, time, units, mask_kind):
    args = make_args(cell, batch, time, 3, units)
    args32 = cast(args, np.float32)
    args = cast(args32, np.float64)  # both precisions see the same (float32) numbers
    mask, zero_out = mask_for(mask_kind, batch, time), mask_kind == "mask_zero_output"
    y_ref, states_ref = reference(cell, args, mask, zero_out)
    rng = np.random.default_rng(5)
    dy = rng.standard_normal(y_ref.shape)
    d_states = [rng.standard_normal(s.shape) for s in states_ref]
    grads = {}
    for dtype, a, tol in [(np.float64, args, 1e-12), (np.float32, args32, 2e-6)]:
        y, states, cache = forward(cell, a, mask, zero_out)
        assert y.dtype == dtype and y.shape == (batch, time, units)
        np.testing.assert_allclose(y, y_ref, rtol=tol, atol=tol)
        for s, s_ref in zip(states, states_ref):
            assert s.dtype == dtype and s.shape == (batch, units)
            np.testing.assert_allclose(s, s_ref, rtol=tol, atol=tol)
        grads[dtype] = backward(cell, cache, dy.astype(dtype), [d.astype(dtype) for d in d_states])
    for name, g64 in grads[np.float64].items():
        g32 = grads[np.float32][name]
        assert g32.dtype == np.float32 and g32.shape == np.shape(args[name])
        scale = 1 + np.abs(g64).max(initial=0)
        np.testing.assert_allclose(g32, g64, rtol=0, atol=2e-5 * scale, err_msg=name)


ACTIVATION_CASES = [
    ("lstm", ("tanh", "sigmoid")), ("lstm", ("relu", "hard_sigmoid")), ("lstm", ("linear", "hard_sigmoid_keras3")),
    ("lstm", ("sigmoid", "tanh")),
    ("gru", ("tanh", "sigmoid")), ("gru", ("relu", "hard_sigmoid")), ("gru", ("linear", "hard_sigmoid_keras3")),
    ("gru_reset_before", ("tanh", "sigmoid")), ("gru_reset_before", ("relu", "hard_sigmoid")),
    ("simple_rnn", ("tanh", None)), ("simple_rnn", ("relu", None)), ("simple_rnn", ("sigmoid", None)),
    ("simple_rnn", ("linear", None)), ("simple_rnn", ("hard_sigmoid", None)),
]


@pytest.mark.parametrize("mask_kind", MASKS)
@pytest.mark.parametrize("cell,acts", ACTIVATION_CASES)
def test_gradients_finite_differences(cell, acts, mask_kind):
    args = make_args(cell, 2, 4, 3, 3, seed=11)
    mask, zero_out = mask_for(mask_kind, 2, 4), mask_kind == "mask_zero_output"
    y, states, cache = forward(cell, args, mask, zero_out, acts)
    y_ref, states_ref = reference(cell, args, mask, zero_out, acts)
    np.testing.assert_allclose(y, y_ref, rtol=1e-12, atol=1e-12)
    rng = np.random.default_rng(7)
    dy = rng.standard_normal(y.shape)
    d_states = [rng.standard_normal(s.shape) for s in states]
    cotangent = np.concatenate([dy.ravel()] + [d.ravel() for d in d_states])
    grads = backward(cell, cache, dy, d_states)

    def flat_outputs(name, value):
        y, states, _ = forward(cell, dict(args, **{name: value}), mask, zero_out, acts)
        return np.concatenate([y.ravel()] + [s.ravel() for s in states])

    for name in ["x", "kernel", "recurrent_kernel", "bias"] + state_names(cell):
        expected = numeric_grad(lambda v: flat_outputs(name, v), args[name], cotangent)
        np.testing.assert_allclose(grads[name], expected, rtol=1e-6, atol=1e-7, err_msg=name)


@pytest.mark.parametrize("cell", CELLS)
def test_without_bias_and_default_states(cell):
    args = make_args(cell, 2, 3, 2, 4, use_bias=False)
    for k in state_names(cell):
        args[k] = np.zeros_like(args[k])
    y, states, cache = forward(cell, dict(args, **{k: None for k in state_names(cell)}))
    y_ref, states_ref = reference(cell, args)
    np.testing.assert_allclose(y, y_ref, rtol=1e-12, atol=1e-12)
    grads = backward(cell, cache, np.ones_like(y), [None] * len(states))
    assert grads["bias"] is None
    grads_from_zeros = backward(cell, cache, np.ones_like(y), [np.zeros_like(s) for s in states])
    for name in ["x", "kernel", "recurrent_kernel"] + state_names(cell):
        np.testing.assert_array_equal(grads[name], grads_from_zeros[name])
    # no output gradient at all: only the final states' gradients flow
    d_states = [np.ones_like(s) for s in states]
    only_states = backward(cell, cache, None, d_states)
    with_zero_dy = backward(cell, cache, np.zeros_like(y), d_states)
    for name in ["x", "kernel"]:
        np.testing.assert_array_equal(only_states[name], with_zero_dy[name])


@pytest.mark.parametrize("cell", CELLS)
def test_empty_sequence_returns_initial_states(cell):
    args = make_args(cell, 2, 0, 3, 4)
    y, states, cache = forward(cell, args)
    assert y.shape == (2, 0, 4)
    for s, k in zip(states, state_names(cell)):
        np.testing.assert_array_equal(s, args[k])
    d_states = [np.full(s.shape, 2.0) for s in states]
    grads = backward(cell, cache, np.zeros(y.shape), d_states)
    assert grads["x"].shape == (2, 0, 3)
    for d, k in zip(d_states, state_names(cell)):
        np.testing.assert_array_equal(grads[k], d)
    for name in ["kernel", "recurrent_kernel", "bias"]:
        np.testing.assert_array_equal(grads[name], np.zeros_like(args[name]))


@pytest.mark.parametrize("cell", CELLS)
def test_empty_batch_and_no_features(cell):
    args = make_args(cell, 0, 3, 2, 4)
    y, states, cache = forward(cell, args)
    assert y.shape == (0, 3, 4) and states[0].shape == (0, 4)
    grads = backward(cell, cache, np.zeros(y.shape), [np.zeros(s.shape) for s in states])
    np.testing.assert_array_equal(grads["kernel"], np.zeros_like(args["kernel"]))
    args = make_args(cell, 2, 3, 0, 4)  # no input features: the recurrence alone
    y, states, cache = forward(cell, args)
    y_ref, _ = reference(cell, args)
    np.testing.assert_allclose(y, y_ref, rtol=1e-12, atol=1e-12)
    assert backward(cell, cache, np.ones(y.shape), [None] * len(states))["x"].shape == (2, 3, 0)


@pytest.mark.parametrize("cell", CELLS)
def test_layouts_and_dtypes_of_arguments(cell):
    args = make_args(cell, 3, 4, 5, 4)
    y, states, _ = forward(cell, args)
    strided = {k: (None if v is None else layouts(v)["fortran" if v.ndim == 2 else "stepped"]) for k, v in args.items()}
    y2, states2, _ = forward(cell, strided)
    np.testing.assert_array_equal(y2, y)
    # float32 x makes everything float32; other arrays are cast to it
    y3, states3, _ = forward(cell, dict(args, x=args["x"].astype(np.float32)))
    assert y3.dtype == np.float32 and all(s.dtype == np.float32 for s in states3)
    np.testing.assert_allclose(y3, y, rtol=1e-5, atol=1e-5)
    # a bool mask, an int mask and an all-true mask
    mask = make_mask(3, 4)
    np.testing.assert_array_equal(forward(cell, args, mask)[0], forward(cell, args, mask.astype(np.int64) * 3)[0])
    np.testing.assert_array_equal(forward(cell, args, np.ones((3, 4), bool))[0], y)


def test_masked_output_is_previous_output_or_zero():
    # explicit: row 0 masked at steps 0 and 2; Keras outputs zeros before the first unmasked step and then
    # the last unmasked output; the states carry over, so the final state is the last unmasked step's
    args = make_args("lstm", 1, 4, 2, 3)
    mask = np.array([[False, True, False, True]])
    y, (h, c), _ = forward("lstm", args, mask)
    y_part, (h1, _) = reference("lstm", dict(args, x=args["x"][:, 1:2]), None)
    np.testing.assert_array_equal(y[0, 0], 0)
    np.testing.assert_allclose(y[0, 1], h1[0], rtol=1e-12)
    np.testing.assert_array_equal(y[0, 2], y[0, 1])
    y_zero, (h_zero, _), _ = forward("lstm", args, mask, zero_out=True)
    np.testing.assert_array_equal(y_zero[0, 2], 0)
    np.testing.assert_array_equal(y_zero[0, [1, 3]], y[0, [1, 3]])
    np.testing.assert_array_equal(h_zero, h)
    all_masked, (h_none, c_none), _ = forward("lstm", args, np.zeros((1, 4), bool))
    np.testing.assert_array_equal(all_masked, 0)
    np.testing.assert_array_equal(h_none, args["h0"])
    np.testing.assert_array_equal(c_none, args["c0"])


def test_float32_activations_match_numpy():
    # the vector tanh / sigmoid of the float32 epilogue, over a wide range (and at the polynomial's seam)
    x = np.concatenate([np.linspace(-30, 30, 10001), [-0.625, 0.625, 0.6249999, 1e-30, -1e-8, 0.0, 88.7, -100.0]])
    u = x.size
    for act in ["tanh", "sigmoid"]:
        args = {"x": np.zeros((1, 1, 1)), "kernel": np.zeros((1, u)), "recurrent_kernel": np.zeros((u, u)),
                "bias": x, "h0": np.zeros((1, u))}
        y32 = forward("simple_rnn", cast(args, np.float32), acts=(act, None))[0][0, 0]
        expected = ref.ACTIVATIONS[act](x.astype(np.float32).astype(np.float64))
        np.testing.assert_allclose(y32, expected, rtol=4e-7, atol=1e-37, err_msg=act)
    nan = forward("simple_rnn", {"x": np.zeros((1, 1, 1), np.float32), "kernel": np.zeros((1, 2)),
                                 "recurrent_kernel": np.zeros((2, 2)), "bias": np.array([np.nan, 1.0]),
                                 "h0": np.zeros((1, 2))})[0]
    assert np.isnan(nan[0, 0, 0]) and nan[0, 0, 1] == np.float32(np.tanh(1.0))


# 14 rows: the 16-lane tiles, where the CPU has them; 37 rows: a block of rows per thread, the last one short
@pytest.mark.parametrize("batch, units", [(5, 16), (14, 20), (37, 16)])
@pytest.mark.parametrize("cell", CELLS)
def test_deterministic_on_any_thread_count(cell, batch, units):
    args = cast(make_args(cell, batch, 7, 5, units, seed=3), np.float32)
    mask = make_mask(batch, 7)
    dy = np.random.default_rng(2).standard_normal((batch, 7, units)).astype(np.float32)
    old = kernels.get_num_threads()
    results = []
    try:
        for n in [1, 2, 1]:
            kernels.set_num_threads(n)
            y, states, cache = forward(cell, args, mask)
            grads = backward(cell, cache, dy, [np.ones_like(s) for s in states])
            results.append([y] + states + [grads[k] for k in sorted(grads)])
    finally:
        kernels.set_num_threads(old)
    for other in results[1:]:
        for a, b in zip(results[0], other):
            np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("batch, units", [(1, 3), (7, 16), (13, 5), (25, 33)])
@pytest.mark.parametrize("cell", CELLS)
def test_packed_step_products_match_blas_and_the_float64_reference(cell, batch, units):
    """The float32 per-step products on the packed panels (tails of rows and columns, both tile widths)
    against the same kernels on BLAS and against float64."""
    args = make_args(cell, batch, 6, 4, units, seed=4)
    args32 = cast(args, np.float32)
    args = cast(args32, np.float64)
    mask = make_mask(batch, 6)
    rng = np.random.default_rng(6)
    dy = rng.standard_normal((batch, 6, units))
    runs = {}
    old = rnn._set_direct(True)
    try:
        for direct in (True, False):
            rnn._set_direct(direct)
            y, states, cache = forward(cell, args32, mask)
            d_states = [np.ones_like(s) for s in states]
            runs[direct] = [y] + states, backward(cell, cache, dy.astype(np.float32), d_states)
    finally:
        rnn._set_direct(old)
    y64, states64, cache64 = forward(cell, args, mask)
    grads64 = backward(cell, cache64, dy, [np.ones_like(s) for s in states64])
    for direct, (outs, grads) in runs.items():
        for got, want in zip(outs, [y64] + states64):
            np.testing.assert_allclose(got, want, rtol=0, atol=2e-5, err_msg=f"direct={direct}")
        for name, g64 in grads64.items():
            scale = 1 + np.abs(g64).max(initial=0)
            np.testing.assert_allclose(grads[name], g64, rtol=0, atol=2e-5 * scale, err_msg=f"{name} {direct}")
    # the packed tiles and BLAS sum in different orders (and an -O0 build contracts no FMAs): float32
    # rounding over the steps, well inside both runs' distance to the float64 reference
    np.testing.assert_allclose(runs[True][0][0], runs[False][0][0], rtol=0, atol=1e-5)


def call_with(cell, **changes):
    args = dict(make_args(cell, 2, 3, 4, 5), **changes)
    return forward(cell, args, changes.get("mask"))


@pytest.mark.parametrize("cell", CELLS)
def test_bad_shapes_raise_naming_the_function(cell):
    fn = {"lstm": "lstm_forward", "gru": "gru_forward", "gru_reset_before": "gru_forward",
          "simple_rnn": "simple_rnn_forward"}[cell]
    n = GATES[cell] * 5
    bad = [
        dict(x=np.zeros((2, 4))),  # 2-D input
        dict(kernel=np.zeros((3, n))),  # features differ from x's
        dict(kernel=np.zeros((4, n + 1))),
        dict(recurrent_kernel=np.zeros((5, n - 1))),
        dict(recurrent_kernel=np.zeros((0, 0)), kernel=np.zeros((4, 0))),
        dict(bias=np.zeros(n + 1)),
        dict(bias=np.zeros((3, n))),
        dict(h0=np.zeros((3, 5))),
        dict(h0=np.zeros(5)),
        dict(mask=np.ones((2, 4), bool)),
        dict(mask=np.ones((2,), bool)),
        dict(mask=np.ones((2, 3), np.float32)),
        dict(x=np.array([[["a"]]])),
    ]
    if cell == "lstm":
        bad.append(dict(c0=np.zeros((2, 4))))
    for changes in bad:
        with pytest.raises(ValueError, match=fn):
            call_with(cell, **changes)


def test_bad_activation_cache_and_gradient_shapes():
    args = make_args("lstm", 2, 3, 4, 5)
    w = (args["x"], args["kernel"], args["recurrent_kernel"])
    with pytest.raises(ValueError, match="lstm_forward: activation"):
        rnn.lstm_forward(*w, activation="softmax")
    with pytest.raises(ValueError, match="lstm_forward: recurrent_activation"):
        rnn.lstm_forward(*w, recurrent_activation=None)
    with pytest.raises(TypeError):
        rnn.lstm_forward(*w, go_backwards=True)
    y, h, c, cache = rnn.lstm_forward(*w)
    with pytest.raises(ValueError, match="lstm_backward: d_outputs"):
        rnn.lstm_backward(cache, np.zeros((2, 3, 4)))
    with pytest.raises(ValueError, match="lstm_backward: d_c"):
        rnn.lstm_backward(cache, None, None, np.zeros((5, 2)))
    with pytest.raises(ValueError, match="lstm_backward: cache"):
        rnn.lstm_backward({"gates": y})
    gru_cache = rnn.gru_forward(args["x"], args["kernel"][:, :15], args["recurrent_kernel"][:, :15])[2]
    with pytest.raises(ValueError, match="lstm_backward: cache"):
        rnn.lstm_backward(gru_cache)
    with pytest.raises(ValueError, match="gru_forward: bias must have shape \\(2, 15\\)"):
        rnn.gru_forward(args["x"], args["kernel"][:, :15], args["recurrent_kernel"][:, :15], np.zeros(15))
    with pytest.raises(AttributeError):
        cache.gates = None


def test_exported_from_kernels_package():
    for name in ["lstm_forward", "lstm_backward", "gru_forward", "gru_backward", "simple_rnn_forward",
                 "simple_rnn_backward"]:
        assert getattr(kernels, name) is getattr(rnn, name)


KERAS_REFERENCE = os.path.join(os.path.dirname(__file__), "data", "rnn_keras_reference.npz")
KERAS_CASES = {"lstm": ("lstm", ("tanh", "sigmoid")), "lstm_hard_sigmoid": ("lstm", ("relu", "hard_sigmoid")),
               "gru": ("gru", ("tanh", "sigmoid")), "gru_reset_before": ("gru_reset_before", ("tanh", "sigmoid")),
               "simple_rnn": ("simple_rnn", ("tanh", None))}


@pytest.mark.parametrize("case", sorted(KERAS_CASES))
def test_matches_tf_keras_outputs_and_gradients(case):
    # tf_keras's layers with a mask and initial states, from tests/data/make_rnn_reference.py
    ref_data = np.load(KERAS_REFERENCE)
    cell, acts = KERAS_CASES[case]
    config = json.loads(str(ref_data[f"{case}/config"]))
    assert (config["activation"], config.get("recurrent_activation")) == acts
    names = state_names(cell)
    args = {"x": ref_data["x"], "kernel": ref_data[f"{case}/w0"], "recurrent_kernel": ref_data[f"{case}/w1"],
            "bias": ref_data[f"{case}/w2"]}
    args.update({k: ref_data[f"{case}/state{i}"] for i, k in enumerate(names)})
    y, states, cache = forward(cell, args, ref_data["mask"], False, acts)
    np.testing.assert_allclose(y, ref_data[f"{case}/outputs"], rtol=1e-5, atol=1e-6)
    for i, s in enumerate(states):
        np.testing.assert_allclose(s, ref_data[f"{case}/final{i}"], rtol=1e-5, atol=1e-6)
    grads = backward(cell, cache, ref_data[f"{case}/d_outputs"],
                     [ref_data[f"{case}/d_state{i}"] for i in range(len(names))])
    for i, name in enumerate(["x"] + names + ["kernel", "recurrent_kernel", "bias"]):
        np.testing.assert_allclose(grads[name], ref_data[f"{case}/grad{i}"], rtol=1e-4, atol=1e-5, err_msg=name)
