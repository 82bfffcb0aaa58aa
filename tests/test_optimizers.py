"""Optimizers against hand-written references of tf.keras >= 2.11's rules, torch.optim, and real Keras training."""
import json
import os

import h5py
import numpy as np
import pytest

from minigraph import losses, ops, optimizers, registry
from minigraph.autodiff import Tape, Variable

DATA = os.path.join(os.path.dirname(__file__), "data")
SHAPES = [(3, 4), (4,)]


def grads_sequence(steps, seed=0):
    rng = np.random.default_rng(seed)
    return [[rng.normal(size=s) for s in SHAPES] for _ in range(steps)]


def run(opt, steps=6, dtype=np.float64, seed=0):
    rng = np.random.default_rng(100 + seed)
    variables = [Variable(rng.normal(size=s).astype(dtype), name=f"dense/w{i}:0") for i, s in enumerate(SHAPES)]
    start = [v.value.copy() for v in variables]
    for grads in grads_sequence(steps, seed):
        opt.apply_gradients([(g.astype(dtype), v) for g, v in zip(grads, variables)])
    return start, [v.value for v in variables]


# ----------------------------------------------------------------------------------------------- references
def ref_sgd(w, grads, lr, momentum=0.0, nesterov=False):
    m = 0.0
    for g in grads:
        m = momentum * m - lr * g
        w = w + (momentum * m - lr * g if nesterov else m)
    return w


def ref_adam(w, grads, lr, b1=0.9, b2=0.999, eps=1e-7, amsgrad=False):
    m = v = vhat = 0.0
    for t, g in enumerate(grads, start=1):
        m = m + (g - m) * (1 - b1)
        v = v + (g * g - v) * (1 - b2)
        vhat = np.maximum(vhat, v)
        alpha = lr * np.sqrt(1 - b2 ** t) / (1 - b1 ** t)
        w = w - alpha * m / (np.sqrt(vhat if amsgrad else v) + eps)
    return w


def ref_rmsprop(w, grads, lr, rho=0.9, momentum=0.0, eps=1e-7, centered=False):
    v = mg = mom = 0.0
    for g in grads:
        v = rho * v + (1 - rho) * g * g
        mg = rho * mg + (1 - rho) * g
        inc = lr * g / np.sqrt((v - mg * mg if centered else v) + eps)
        mom = momentum * mom + inc
        w = w - (mom if momentum > 0 else inc)
    return w


CASES = [
    (lambda: optimizers.SGD(0.1), lambda w, g: ref_sgd(w, g, 0.1)),
    (lambda: optimizers.SGD(0.1, momentum=0.9), lambda w, g: ref_sgd(w, g, 0.1, 0.9)),
    (lambda: optimizers.SGD(0.1, momentum=0.9, nesterov=True), lambda w, g: ref_sgd(w, g, 0.1, 0.9, True)),
    (lambda: optimizers.Adam(0.01), lambda w, g: ref_adam(w, g, 0.01)),
    (lambda: optimizers.Adam(0.01, 0.8, 0.9, 1e-3, amsgrad=True),
     lambda w, g: ref_adam(w, g, 0.01, 0.8, 0.9, 1e-3, True)),
    (lambda: optimizers.RMSprop(0.01), lambda w, g: ref_rmsprop(w, g, 0.01)),
    (lambda: optimizers.RMSprop(0.01, 0.8, 0.5, 1e-3, centered=True),
     lambda w, g: ref_rmsprop(w, g, 0.01, 0.8, 0.5, 1e-3, True)),
]


@pytest.mark.parametrize("make, reference", CASES)
def test_steps_match_keras_rule(make, reference):
    # float64 variables; the learning rate alone is float32 (as Keras' variable): a 1e-8 relative difference
    opt = make()
    start, final = run(opt)
    grads = grads_sequence(6)
    for i, (w0, w) in enumerate(zip(start, final)):
        np.testing.assert_allclose(w, reference(w0, [g[i] for g in grads]), rtol=1e-6, atol=1e-9)
    assert opt.iterations == 6


@pytest.mark.parametrize("make, reference", CASES)
def test_float32_steps_stay_float32_and_in_place(make, reference):
    opt = make()
    rng = np.random.default_rng(1)
    var = Variable(rng.normal(size=(5, 3)).astype(np.float32), name="d/kernel:0")
    before, buffer = var.value.copy(), var.value
    grads = [rng.normal(size=(5, 3)).astype(np.float32) for _ in range(4)]
    for g in grads:
        opt.apply_gradients([(g, var)])
    assert var.value is buffer and var.value.dtype == np.float32
    assert all(s.value.dtype == np.float32 for s in opt.variables[1:])
    np.testing.assert_allclose(var.value, reference(before.astype(np.float64), grads), rtol=2e-5, atol=2e-6)


# ----------------------------------------------------------------------------------------------- torch
def _torch_run(torch_opt_cls, keras_opt, steps=5, **torch_kwargs):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(3)
    w0 = rng.normal(size=(4, 3))
    param = torch.tensor(w0.copy(), requires_grad=True)
    topt = torch_opt_cls([param], **torch_kwargs)
    var = Variable(w0.copy(), name="w:0")
    for _ in range(steps):
        g = rng.normal(size=w0.shape)
        param.grad = torch.tensor(g)
        topt.step()
        keras_opt.apply_gradients([(g, var)])
    return param.detach().numpy(), var.value


@pytest.mark.parametrize("nesterov", [False, True])
def test_sgd_momentum_matches_torch(nesterov):
    # torch keeps buf = mu buf + g and steps -lr buf; Keras keeps m = mu m - lr g = -lr buf: same trajectory
    torch = pytest.importorskip("torch")
    theirs, ours = _torch_run(torch.optim.SGD, optimizers.SGD(0.125, momentum=0.75, nesterov=nesterov),
                              lr=0.125, momentum=0.75, nesterov=nesterov)
    np.testing.assert_allclose(ours, theirs, rtol=1e-12, atol=1e-12)


def test_adam_matches_torch_when_epsilon_is_zero():
    # torch puts eps after its bias correction of sqrt(v); without eps the two rules are the same
    torch = pytest.importorskip("torch")
    theirs, ours = _torch_run(torch.optim.Adam, optimizers.Adam(0.125, epsilon=0.0), lr=0.125, eps=0.0)
    np.testing.assert_allclose(ours, theirs, rtol=1e-6, atol=1e-9)


def test_rmsprop_matches_torch_when_epsilon_is_zero():
    # torch adds eps outside the sqrt and keeps its momentum buffer without lr; equal when eps = 0
    torch = pytest.importorskip("torch")
    theirs, ours = _torch_run(torch.optim.RMSprop, optimizers.RMSprop(0.125, rho=0.75, momentum=0.5, epsilon=0.0,
                                                                      centered=True),
                              lr=0.125, alpha=0.75, momentum=0.5, eps=0.0, centered=True)
    np.testing.assert_allclose(ours, theirs, rtol=1e-9, atol=1e-12)


# ----------------------------------------------------------------------------------------------- real Keras files
def _mlp(weights, layer_names):
    variables = []
    for name, kernel, bias in zip(layer_names, weights[0::2], weights[1::2]):
        variables += [Variable(kernel.copy(), name=f"{name}/kernel:0"), Variable(bias.copy(), name=f"{name}/bias:0")]
    return variables


def _forward(v, x):
    h = ops.relu(ops.dense(x, v[0], v[1]))
    h = ops.relu(ops.dense(h, v[2], v[3]))
    return ops.softmax(ops.dense(h, v[4], v[5]))


def _fit(variables, optimizer, x, y, batch, epochs):
    loss = losses.get("categorical_crossentropy")
    for _ in range(epochs):
        for i in range(0, len(x), batch):
            with Tape() as tape:
                value = loss(y[i:i + batch], _forward(variables, x[i:i + batch]))
            optimizer.apply_gradients(zip(tape.gradient(value, variables), variables))


def _assert_keras_weights(variables, expected):
    for var, ref in zip(variables, expected):
        np.testing.assert_allclose(var.value, ref, rtol=1e-3, atol=2e-5)  # what Keras itself meets on these files


def test_resumed_adam_training_matches_keras():
    data = np.load(os.path.join(DATA, "mnist_model_resume.npz"))
    meta = json.loads(str(data["meta"]))
    with h5py.File(os.path.join(DATA, "mnist_model_resume.h5"), "r") as f:
        config = json.loads(f.attrs["training_config"])["optimizer_config"]
        group = f["optimizer_weights"]
        names = [n.decode() if isinstance(n, bytes) else str(n) for n in group.attrs["weight_names"]]
        state = [group[n][()] for n in names]
    variables = _mlp([data[f"w_saved_{i}"] for i in range(6)], ["dense_8", "dense_9", "dense_10"])
    optimizer = optimizers.get(config)
    assert config["class_name"] == "Custom>Adam" and type(optimizer) is optimizers.Adam
    assert optimizer.get_config() == config["config"]
    optimizer.set_state(state, variables)
    assert [v.name for v in optimizer.variables()] == names  # iteration:0, Adam/m/dense_8/kernel:0, Adam/v/...
    assert optimizer.iterations == 4
    _fit(variables, optimizer, data["x0"], data["y0"], meta["batch"], meta["epochs"])
    assert optimizer.iterations == 8
    _assert_keras_weights(variables, [data[f"w_resumed_{i}"] for i in range(6)])


@pytest.mark.parametrize("kind", ["sgd", "adam"])
def test_training_from_scratch_matches_keras(kind):
    data = np.load(os.path.join(DATA, "mnist_model.npz"))
    meta = json.loads(str(data["meta"]))
    names = ["dense", "dense_1", "dense_2"]
    with h5py.File(os.path.join(DATA, "mnist_model.h5"), "r") as f:
        weights = [f["model_weights"][n][n][w][()] for n in names for w in ("kernel:0", "bias:0")]
        if kind == "sgd":
            config = json.loads(f.attrs["training_config"])["optimizer_config"]
            assert optimizers.get(config).get_config() == config["config"]
    optimizer = optimizers.get(kind)
    optimizer.learning_rate = meta[f"{kind}_lr"]
    variables = _mlp(weights, names)
    _fit(variables, optimizer, data["x0"], data["y0"], meta["batch"], meta["epochs"])
    _assert_keras_weights(variables, [data[f"w_after_{kind}_{i}"] for i in range(6)])
    final = losses.get("categorical_crossentropy")(data["y0"], _forward(variables, data["x0"]))
    assert float(final) == pytest.approx(float(data[f"loss_after_{kind}"]), rel=1e-4)


# ----------------------------------------------------------------------------------------------- state
def _named_vars():
    return [Variable(np.zeros((2, 3), np.float32), name="dense/kernel:0"),
            Variable(np.zeros(3, np.float32), name="dense/bias:0")]


@pytest.mark.parametrize("opt, slots", [
    (optimizers.SGD(), ["SGD/m/dense/kernel:0", "SGD/m/dense/bias:0"]),  # m exists even without momentum
    (optimizers.Adam(), ["Adam/m/dense/kernel:0", "Adam/v/dense/kernel:0", "Adam/m/dense/bias:0",
                         "Adam/v/dense/bias:0"]),
    (optimizers.Adam(amsgrad=True), ["Adam/m/dense/kernel:0", "Adam/v/dense/kernel:0", "Adam/m/dense/bias:0",
                                     "Adam/v/dense/bias:0", "Adam/vhat/dense/kernel:0", "Adam/vhat/dense/bias:0"]),
    (optimizers.RMSprop(), ["RMSprop/velocity/dense/kernel:0", "RMSprop/velocity/dense/bias:0"]),
    (optimizers.RMSprop(momentum=0.5, centered=True),
     ["RMSprop/velocity/dense/kernel:0", "RMSprop/velocity/dense/bias:0", "RMSprop/momentum/dense/kernel:0",
      "RMSprop/momentum/dense/bias:0", "RMSprop/average_gradient/dense/kernel:0",
      "RMSprop/average_gradient/dense/bias:0"]),
])
def test_variables_in_keras_order(opt, slots):
    assert [v.name for v in opt.variables] == ["iteration:0"]  # slots appear lazily, on the first apply
    variables = _named_vars()
    opt.apply_gradients([(np.ones(v.shape, np.float32), v) for v in variables])
    assert [v.name for v in opt.variables()] == ["iteration:0"] + slots
    assert opt.variables[0].value.dtype == np.int64 and int(opt.variables[0].value) == 1


def test_set_state_restores_and_continues_identically():
    grads = grads_sequence(6, seed=5)
    a_vars = [Variable(np.ones(s), name=f"l/w{i}:0") for i, s in enumerate(SHAPES)]
    a = optimizers.Adam(0.01)
    for g in grads[:3]:
        a.apply_gradients(zip(g, a_vars))
    b_vars = [Variable(v.value.copy(), name=v.name) for v in a_vars]
    b = optimizers.Adam(0.01)
    b.set_state(a.get_weights(), b_vars)
    assert b.iterations == 3
    for g in grads[3:]:
        a.apply_gradients(zip(g, a_vars))
        b.apply_gradients(zip(g, b_vars))
    for x, y in zip(a_vars, b_vars):
        np.testing.assert_array_equal(x.value, y.value)
    with pytest.raises(ValueError, match="13 weights"):
        b.set_weights([np.zeros(1)] * 13)
    with pytest.raises(ValueError, match="not yet been built"):
        optimizers.SGD().set_weights([np.int64(0)])


def test_unknown_variable_after_build_raises():
    opt = optimizers.SGD()
    opt.apply_gradients([(np.ones(3), Variable(np.zeros(3), name="a:0"))])
    with pytest.raises(KeyError, match="cannot recognize variable b:0"):
        opt.apply_gradients([(np.ones(3), Variable(np.zeros(3), name="b:0"))])


def test_adam_steps_all_variables_at_once_unless_a_subclass_overrides_update_step():
    """Adam updates its variables in one kernel pass; the bits are those of a step per variable, and a
    subclass's own update_step is still called for every variable."""
    rng = np.random.default_rng(3)
    values = [rng.standard_normal(s).astype(dt) for s, dt in (((30, 20), np.float32), ((20,), np.float32),
                                                               ((5,), np.float64))]
    grads = [[rng.standard_normal(v.shape).astype(v.dtype) for v in values] for _ in range(3)]
    calls = []

    class OneByOne(optimizers.Adam):
        def update_step(self, g, w, slots):
            calls.append(w.name)
            super().update_step(g, w, slots)

    results = []
    for opt in (optimizers.Adam(0.01), OneByOne(0.01)):
        variables = [Variable(v.copy(), name=f"v{i}:0") for i, v in enumerate(values)]
        for step in grads:
            opt.apply_gradients(zip(step, variables))
        results.append([v.value for v in variables])
    assert calls == ["v0:0", "v1:0", "v2:0"] * 3
    for fused, each in zip(*results):
        np.testing.assert_array_equal(fused, each)
    assert not np.array_equal(results[0][0], values[0])


def test_none_gradients_are_skipped_but_count_an_iteration():
    a, b = Variable(np.zeros(2), name="a:0"), Variable(np.zeros(2), name="b:0")
    opt = optimizers.SGD(0.5)
    opt.apply_gradients([(np.ones(2), a), (None, b)])
    np.testing.assert_array_equal(a.value, [-0.5, -0.5])
    np.testing.assert_array_equal(b.value, [0.0, 0.0])
    assert opt.iterations == 1


def test_learning_rate_is_float32_and_settable_through_lr():
    opt = optimizers.SGD(learning_rate=0.01)
    assert opt.learning_rate.dtype == np.float32 and opt.get_config()["learning_rate"] == 0.009999999776482582
    opt.lr = 0.5
    assert opt.learning_rate == 0.5
    var = Variable(np.zeros(2, np.float32), name="w:0")
    opt.apply_gradients([(np.ones(2, np.float32), var)])
    np.testing.assert_array_equal(var.value, [-0.5, -0.5])
    with pytest.warns(UserWarning, match="ignored"):
        assert optimizers.SGD(lr=0.3).learning_rate == np.float32(0.01)  # as tf.keras >= 2.11


def test_gradient_clipping_and_weight_decay():
    g = np.array([3.0, 4.0])  # norm 5
    for kwargs, expected in [({"clipnorm": 1.0}, [-0.6, -0.8]), ({"clipvalue": 3.5}, [-3.0, -3.5]),
                             ({"global_clipnorm": 2.5}, [-1.5, -2.0]), ({"clipnorm": 10.0}, [-3.0, -4.0])]:
        var = Variable(np.zeros(2), name="w:0")
        optimizers.SGD(1.0, **kwargs).apply_gradients([(g, var)])
        np.testing.assert_allclose(var.value, expected, err_msg=str(kwargs))
    var = Variable(np.array([2.0, -2.0]), name="w:0")
    optimizers.SGD(0.5, weight_decay=0.1).apply_gradients([(np.zeros(2), var)])
    np.testing.assert_allclose(var.value, [1.9, -1.9])  # w -= w * wd * lr, then the step
    with pytest.raises(ValueError, match="SGD: only one of `clipnorm`, `clipvalue` and `global_clipnorm`"):
        optimizers.SGD(clipnorm=1.0, global_clipnorm=1.0)


# ----------------------------------------------------------------------------------------------- lookup, config
@pytest.mark.parametrize("identifier, cls", [
    ("sgd", optimizers.SGD), ("SGD", optimizers.SGD), ("adam", optimizers.Adam), ("Adam", optimizers.Adam),
    ("rmsprop", optimizers.RMSprop), ("RMSprop", optimizers.RMSprop),
    ({"class_name": "Custom>RMSprop", "config": {"learning_rate": 0.5}}, optimizers.RMSprop),
    ({"class_name": "adam", "config": {}}, optimizers.Adam),
])
def test_get(identifier, cls):
    assert type(optimizers.get(identifier)) is cls


def test_get_instance_and_unknown():
    opt = optimizers.RMSprop()
    assert optimizers.get(opt) is opt
    with pytest.raises(ValueError, match="Unknown optimizer: 'adamx'"):
        optimizers.get("adamx")
    with pytest.raises(ValueError, match="'Lion'"):
        optimizers.get({"class_name": "Lion", "config": {}})


def test_configs_have_keras_keys_and_round_trip():
    base = {"name", "weight_decay", "clipnorm", "global_clipnorm", "clipvalue", "use_ema", "ema_momentum",
            "ema_overwrite_frequency", "jit_compile", "is_legacy_optimizer", "learning_rate"}
    for opt, extra in [(optimizers.SGD(0.2, momentum=0.5, nesterov=True), {"momentum", "nesterov"}),
                       (optimizers.Adam(amsgrad=True), {"beta_1", "beta_2", "epsilon", "amsgrad"}),
                       (optimizers.RMSprop(centered=True), {"rho", "momentum", "epsilon", "centered"})]:
        config = opt.get_config()
        assert set(config) == base | extra
        again = registry.deserialize(registry.serialize(opt), kind="optimizer")
        assert type(again) is type(opt) and again.get_config() == config
    assert optimizers.RMSprop().get_config()["ema_overwrite_frequency"] == 100  # Keras' RMSprop default
