"""Every optimizer and schedule against tf_keras 2.21's numbers (tests/data/make_optimizer_reference.py):
trajectories with and without clipping, weight decay, EMA and schedules; slot names and order; schedule
values; configs; and resuming Adagrad/Nadam models from Keras's .h5 files."""
import json
import os

import h5py
import numpy as np
import pytest

import minigraph as keras
from minigraph import optimizers, registry
from minigraph.autodiff import Variable
from minigraph.optimizers import schedules

DATA = os.path.join(os.path.dirname(__file__), "data")
REF = np.load(os.path.join(DATA, "optimizer_reference.npz"))
with open(os.path.join(DATA, "optimizer_reference.json")) as _f:
    META = json.load(_f)
KEYS = ("kernel", "bias")


def make_optimizer(spec):
    kwargs = dict(spec["kwargs"])
    if spec["schedule"]:
        kwargs["learning_rate"] = schedules.deserialize(spec["schedule"])
    opt = getattr(optimizers, spec["class"])(**kwargs)
    if spec["exclude_names"]:
        opt.exclude_from_weight_decay(var_names=spec["exclude_names"])
    return opt


# ----------------------------------------------------------------------------------------------- trajectories
@pytest.mark.parametrize("name", sorted(META["cases"]))
def test_trajectory_and_state_match_keras(name):
    case = META["cases"][name]
    opt = make_optimizer(case)
    variables = {k: Variable(REF[f"start_{k}"].copy(), name=f"dense/{k}:0") for k in KEYS}
    for step in range(META["steps"]):
        opt.apply_gradients([(REF[f"grads_{k}"][step], variables[k]) for k in KEYS])
        for k in KEYS:
            np.testing.assert_allclose(variables[k].value, REF[f"{name}/step{step}/{k}"], rtol=1e-5, atol=1e-7,
                                       err_msg=f"{name}, step {step}, {k}")
    assert [v.name for v in opt.variables] == case["state_names"]
    for j, var in enumerate(opt.variables):
        np.testing.assert_allclose(var.value, REF[f"{name}/state{j}"], rtol=1e-5, atol=1e-7, err_msg=var.name)
    assert opt.get_config() == case["config"]


@pytest.mark.parametrize("name", ["nadam", "adagrad_init", "ftrl_regularized", "adam_ema_overwrite", "adadelta"])
def test_restored_state_continues_identically(name):
    case = META["cases"][name]
    first = make_optimizer(case)
    a = {k: Variable(REF[f"start_{k}"].copy(), name=f"dense/{k}:0") for k in KEYS}
    grads = [[REF[f"grads_{k}"][s] for k in KEYS] for s in range(META["steps"])]
    for g in grads[:2]:
        first.apply_gradients(zip(g, a.values()))
    b = {k: Variable(v.value.copy(), name=v.name) for k, v in a.items()}
    second = make_optimizer(case)
    store = {}
    first.save_own_variables(store)
    second.build(list(b.values()))
    second.load_own_variables(store)
    for g in grads[2:]:
        first.apply_gradients(zip(g, a.values()))
        second.apply_gradients(zip(g, b.values()))
    for k in KEYS:
        np.testing.assert_array_equal(a[k].value, b[k].value)


def test_finalize_variable_values_takes_the_moving_average():
    opt = optimizers.SGD(0.1, use_ema=True, ema_momentum=0.5)
    var = Variable(np.array([1.0, 2.0], np.float32), name="w:0")
    opt.apply_gradients([(np.array([1.0, -1.0], np.float32), var)])
    np.testing.assert_allclose(var.value, [0.9, 2.1], rtol=1e-6)
    opt.finalize_variable_values([var])
    np.testing.assert_allclose(var.value, [0.95, 2.05], rtol=1e-6)  # 0.5 * start + 0.5 * after the step


# ----------------------------------------------------------------------------------------------- schedules
@pytest.mark.parametrize("name", sorted(META["schedules"]))
def test_schedule_values_and_config_match_keras(name):
    ref = META["schedules"][name]
    schedule = schedules.deserialize(ref["serialized"])
    values = [schedule(step) for step in META["schedule_steps"]]
    assert all(isinstance(v, np.float32) for v in values)
    np.testing.assert_allclose(values, ref["values"], rtol=1e-6, atol=1e-8)
    assert schedules.serialize(schedule) == ref["serialized"]
    again = type(schedule).from_config(schedule.get_config())
    assert again.get_config() == schedule.get_config()


def test_optimizer_learning_rate_follows_its_schedule():
    opt = optimizers.SGD(schedules.ExponentialDecay(0.5, 1, 0.5))
    var = Variable(np.zeros(1, np.float32), name="w:0")
    for expected_rate, expected_value in [(0.5, -0.5), (0.25, -0.75), (0.125, -0.875)]:
        assert opt.learning_rate == np.float32(expected_rate)  # Keras's current_learning_rate, at the iteration
        opt.apply_gradients([(np.ones(1, np.float32), var)])
        np.testing.assert_allclose(var.value, [expected_value])
    with pytest.raises(TypeError, match="not settable"):
        opt.learning_rate = 0.1


def test_custom_schedule_subclass_round_trips():
    @registry.register_keras_serializable(package="OptimTest")
    class HalfEvery(schedules.LearningRateSchedule):
        def __init__(self, start, every):
            self.start, self.every = start, every

        def __call__(self, step):
            return np.float32(self.start * 0.5 ** (step // self.every))

        def get_config(self):
            return {"start": self.start, "every": self.every}

    opt = optimizers.Adam(HalfEvery(0.4, 2))
    config = opt.get_config()["learning_rate"]
    assert config["class_name"] == "HalfEvery" and config["registered_name"] == "OptimTest>HalfEvery"
    again = optimizers.Adam.from_config(opt.get_config())
    assert isinstance(again._learning_rate, HalfEvery) and again._learning_rate.get_config() == {"start": 0.4,
                                                                                                 "every": 2}
    opt.iterations = 5
    assert opt.learning_rate == np.float32(0.1)
    with pytest.raises(NotImplementedError, match="must override `__call__"):
        schedules.LearningRateSchedule()(0)


def test_bad_schedule_arguments():
    with pytest.raises(ValueError, match="PiecewiseConstantDecay: the length of boundaries"):
        schedules.PiecewiseConstantDecay([1, 2], [0.1, 0.2])
    with pytest.raises(ValueError, match="ExponentialDecay: `decay_steps` must be > 0"):
        schedules.ExponentialDecay(0.1, 0, 0.5)
    with pytest.raises(ValueError, match="Unknown learning rate schedule 'Nope'"):
        schedules.deserialize({"class_name": "Nope", "config": {}})


# ----------------------------------------------------------------------------------------------- configs
ALL = [optimizers.SGD, optimizers.Adam, optimizers.AdamW, optimizers.Nadam, optimizers.Adamax, optimizers.Adagrad,
       optimizers.Adadelta, optimizers.Ftrl, optimizers.RMSprop]


@pytest.mark.parametrize("cls", ALL, ids=lambda c: c.__name__)
def test_default_config_is_keras(cls):
    # Keras's config of the first case of the class: its defaults for every argument the case leaves out
    case = next(c for c in META["cases"].values() if c["class"] == cls.__name__ and not c["schedule"])
    assert cls(**case["kwargs"]).get_config() == case["config"]
    for identifier in (cls.__name__, cls.__name__.lower(), {"class_name": f"Custom>{cls.__name__}", "config": {}}):
        assert type(optimizers.get(identifier)) is cls


@pytest.mark.parametrize("cls", ALL, ids=lambda c: c.__name__)
def test_config_round_trip_with_every_option(cls):
    opt = cls(learning_rate=schedules.CosineDecay(0.1, 10, warmup_target=0.2, warmup_steps=3), clipvalue=0.5,
              weight_decay=0.01, use_ema=True, ema_momentum=0.9, ema_overwrite_frequency=3)
    again = registry.deserialize(registry.serialize(opt), kind="optimizer")
    assert type(again) is cls and again.get_config() == opt.get_config()
    assert again.get_config()["learning_rate"]["module"] == "keras.optimizers.schedules"
    json.dumps(opt.get_config())  # what an .h5 file stores


@pytest.mark.parametrize("cls", ALL, ids=lambda c: c.__name__)
def test_bad_arguments_name_the_optimizer_and_the_argument(cls):
    with pytest.raises(ValueError, match=f"{cls.__name__}: `learning_rate` must be a non-negative"):
        cls(learning_rate=-0.1)
    with pytest.raises(ValueError, match=f"{cls.__name__}: only one of `clipnorm`, `clipvalue`.*clipnorm=1.0, "
                                         f"clipvalue=2.0"):
        cls(clipnorm=1.0, clipvalue=2.0)
    with pytest.raises(ValueError, match=f"{cls.__name__}: `ema_momentum` must be in the range"):
        cls(use_ema=True, ema_momentum=1.5)
    with pytest.raises(ValueError, match=f"{cls.__name__}: `clipnorm` must be a non-negative"):
        cls(clipnorm=-1.0)
    with pytest.raises(TypeError, match=f"momentun is not a valid argument for {cls.__name__}"):
        cls(momentun=0.9)


def test_optimizer_specific_bad_arguments():
    with pytest.raises(ValueError, match="AdamW: `weight_decay` must be a float"):
        optimizers.AdamW(weight_decay=None)
    with pytest.raises(ValueError, match="Ftrl: `learning_rate_power` needs to be negative"):
        optimizers.Ftrl(learning_rate_power=0.5)
    with pytest.raises(ValueError, match="Ftrl: `l1_regularization_strength` needs to be positive"):
        optimizers.Ftrl(l1_regularization_strength=-1.0)
    with pytest.raises(ValueError, match="Adagrad: `initial_accumulator_value` must be non-negative"):
        optimizers.Adagrad(initial_accumulator_value=-0.1)
    with pytest.raises(ValueError, match="SGD: `momentum` must be between"):
        optimizers.SGD(momentum=1.5)
    opt = optimizers.Adam()
    opt.build([Variable(np.zeros(2), name="w:0")])
    with pytest.raises(ValueError, match="Adam: `exclude_from_weight_decay\\(\\)` can only be configured before"):
        opt.exclude_from_weight_decay(var_names=["bias"])


# ----------------------------------------------------------------------------------------------- models and .h5
def _resume_data():
    return REF["resume_x"], REF["resume_y"], META["resume"]


@pytest.mark.parametrize("name", ["adagrad", "nadam"])
def test_resuming_a_keras_h5_continues_as_uninterrupted_training(name):
    # Keras's own resume of Nadam differs from its uninterrupted run (its h5 files do not hold Nadam's running
    # product of momentum factors); minigraph recomputes it and continues exactly as uninterrupted training.
    # The references are eager tf_keras runs (see the script for the traced train function's difference).
    x, y, meta = _resume_data()
    path = os.path.join(DATA, f"optimizer_resume_{name}.h5")
    model = keras.models.load_model(path)
    spec = meta[name]
    assert type(model.optimizer).__name__ == spec["class"]
    with h5py.File(path, "r") as f:
        config = json.loads(f.attrs["training_config"])["optimizer_config"]["config"]
        names = [n.decode() if isinstance(n, bytes) else n for n in f["optimizer_weights"].attrs["weight_names"]]
    assert model.optimizer.get_config() == config
    assert model.optimizer.iterations == 6
    for i, w in enumerate(model.get_weights()):
        np.testing.assert_array_equal(w, REF[f"saved_{name}_{i}"])
    model.fit(x, y, batch_size=meta["batch"], epochs=meta["epochs_after"], shuffle=False, verbose=0)
    assert [v.name for v in model.optimizer.variables] == names
    for i, w in enumerate(model.get_weights()):
        np.testing.assert_allclose(w, REF[f"resumed_{name}_{i}"], rtol=1e-5, atol=1e-6)
    keras_own_resume_gap = max(np.abs(REF[f"keras_resumed_{name}_{i}"] - REF[f"resumed_{name}_{i}"]).max()
                               for i in range(2))
    assert keras_own_resume_gap == 0 if name == "adagrad" else keras_own_resume_gap > 1e-3


@pytest.mark.parametrize("name", ["adagrad", "nadam"])
def test_minigraph_h5_round_trip_resumes_exactly(tmp_path, name):
    x, y, meta = _resume_data()
    model = keras.models.load_model(os.path.join(DATA, f"optimizer_resume_{name}.h5"))
    path = str(tmp_path / "again.h5")
    model.save(path)
    again = keras.models.load_model(path)
    assert again.optimizer.get_config() == model.optimizer.get_config()
    for a, b in zip(model.optimizer.variables, again.optimizer.variables):
        assert a.name == b.name
        np.testing.assert_array_equal(a.value, b.value)
    for m in (model, again):
        m.fit(x, y, batch_size=meta["batch"], epochs=1, shuffle=False, verbose=0)
    for a, b in zip(model.get_weights(), again.get_weights()):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("cls", ALL, ids=lambda c: c.__name__)
def test_compiled_model_h5_round_trip_of_every_optimizer(tmp_path, cls):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((16, 4)).astype(np.float32)
    y = rng.standard_normal((16, 2)).astype(np.float32)
    model = keras.Sequential([keras.layers.Dense(2, input_shape=(4,))])
    model.compile(optimizer=cls(learning_rate=schedules.InverseTimeDecay(0.05, 2, 0.5), global_clipnorm=1.0),
                  loss="mse")
    model.fit(x, y, batch_size=8, epochs=1, shuffle=False, verbose=0)
    path = str(tmp_path / "m.h5")
    model.save(path)
    again = keras.models.load_model(path)
    assert type(again.optimizer) is cls and again.optimizer.get_config() == model.optimizer.get_config()
    assert isinstance(again.optimizer._learning_rate, schedules.InverseTimeDecay)
    for m in (model, again):
        m.fit(x, y, batch_size=8, epochs=1, shuffle=False, verbose=0)
    for a, b in zip(model.get_weights(), again.get_weights()):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("make, count", [
    # Keras 3's optimizer variables (checked with Keras 3.x on one 2x2 kernel): no learning_rate with a
    # schedule, Nadam's running product last
    (lambda: optimizers.Adam(schedules.ExponentialDecay(0.1, 2, 0.5)), 3),  # iteration, m, v
    (lambda: optimizers.Nadam(), 5),  # iteration, learning_rate, m, v, u_product
    (lambda: optimizers.SGD(use_ema=True, momentum=0.5), 4),  # iteration, learning_rate, average, m
    (lambda: optimizers.Adagrad(), 3),
])
def test_keras3_state_layout(make, count):
    opt = make()
    opt.build([Variable(np.ones((2, 2), np.float32), name="kernel:0")])
    store = {}
    opt.save_own_variables(store)
    assert len(store) == count


@pytest.mark.parametrize("make", [lambda: optimizers.Nadam(0.01),
                                  lambda: optimizers.Adagrad(schedules.PolynomialDecay(0.1, 4)),
                                  lambda: optimizers.SGD(schedules.CosineDecayRestarts(0.1, 2))])
def test_keras_zip_round_trip_resumes_exactly(tmp_path, make):
    rng = np.random.default_rng(1)
    x = rng.standard_normal((16, 4)).astype(np.float32)
    y = rng.standard_normal((16, 2)).astype(np.float32)
    model = keras.Sequential([keras.layers.Dense(2, input_shape=(4,))])
    model.compile(optimizer=make(), loss="mse")
    model.fit(x, y, batch_size=8, epochs=2, shuffle=False, verbose=0)
    path = str(tmp_path / "m.keras")
    model.save(path)
    again = keras.models.load_model(path)
    assert again.optimizer.iterations == 4 and again.optimizer.get_config() == model.optimizer.get_config()
    for m in (model, again):
        m.fit(x, y, batch_size=8, epochs=1, shuffle=False, verbose=0)
    for a, b in zip(model.get_weights(), again.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_exclude_from_weight_decay_by_variable_and_by_name():
    kernel = Variable(np.array([2.0, -2.0], np.float32), name="dense/kernel:0")
    bias = Variable(np.array([1.0], np.float32), name="dense/bias:0")
    other = Variable(np.array([4.0], np.float32), name="norm/gamma:0")
    opt = optimizers.SGD(0.5, weight_decay=0.1)
    opt.exclude_from_weight_decay(var_list=[other], var_names=["bias"])
    opt.apply_gradients([(np.zeros_like(v.value), v) for v in (kernel, bias, other)])
    np.testing.assert_allclose(kernel.value, [1.9, -1.9], rtol=1e-6)  # w -= w * 0.1 * 0.5
    np.testing.assert_array_equal(bias.value, [1.0])
    np.testing.assert_array_equal(other.value, [4.0])


@pytest.mark.parametrize("value, error, message", [
    ("0.1", TypeError, "Adam: `learning_rate` must be a float or a LearningRateSchedule"),
    (lambda: 0.1, TypeError, "Adam: `learning_rate` must be a float or a LearningRateSchedule"),
    (float("nan"), ValueError, "Adam: `learning_rate` must be a non-negative finite float"),
    ([0.1, 0.2], ValueError, "Adam: `learning_rate` must be a non-negative finite float"),
])
def test_bad_learning_rates(value, error, message):
    with pytest.raises(error, match=message):
        optimizers.Adam(learning_rate=value)
    opt = optimizers.Adam()
    with pytest.raises(error, match=message):
        opt.learning_rate = value
