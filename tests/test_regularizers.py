"""keras.regularizers and keras.constraints, and Dense/Conv2D/Conv2DTranspose carrying them.

Reference numbers from real Keras (tests/data/make_regularizer_files.py): regularizers_reference.json holds
penalties (tf_keras 2.21 and Keras 3) and constraint projections (tf_keras) on fixed float32 weights;
keras_regularized.h5/.npz is a tf_keras model with every regularizer and constraint on its layers.
"""
import json
import os

import numpy as np
import pytest

import minigraph as keras
from minigraph import constraints, layers, regularizers
from minigraph.autodiff import Tape, Variable

DATA = os.path.join(os.path.dirname(__file__), "data")
with open(os.path.join(DATA, "regularizers_reference.json")) as _f:
    REFERENCE = json.load(_f)
WEIGHTS = {k: np.array(v, dtype=np.float32) for k, v in REFERENCE["weights"].items()}

REGULARIZERS = {
    "L1(0.3)": lambda: regularizers.L1(0.3),
    "L2(0.3)": lambda: regularizers.L2(0.3),
    "L1L2(0.1,0.2)": lambda: regularizers.L1L2(0.1, 0.2),
    "L1L2(l2=0.05)": lambda: regularizers.L1L2(l2=0.05),
    "Orthogonal(0.1,rows)": lambda: regularizers.OrthogonalRegularizer(0.1, "rows"),
    "Orthogonal(0.1,columns)": lambda: regularizers.OrthogonalRegularizer(0.1, "columns"),
}
CONSTRAINTS = {
    "MaxNorm(0.5)": lambda: constraints.MaxNorm(0.5),
    "MaxNorm(1.5,axis=1)": lambda: constraints.MaxNorm(1.5, axis=1),
    "MaxNorm(2,axis=[0,1,2])": lambda: constraints.MaxNorm(2, axis=[0, 1, 2]),
    "MinMaxNorm(0.5,1.0,0.7)": lambda: constraints.MinMaxNorm(0.5, 1.0, 0.7),
    "MinMaxNorm(1.2,3.0,1.0,axis=[0,1,2])": lambda: constraints.MinMaxNorm(1.2, 3.0, 1.0, axis=[0, 1, 2]),
    "NonNeg": lambda: constraints.NonNeg(),
    "UnitNorm": lambda: constraints.UnitNorm(),
    "UnitNorm(axis=1)": lambda: constraints.UnitNorm(axis=1),
    "RadialConstraint": lambda: constraints.RadialConstraint(),
}


# ----------------------------------------------------------------------------------------------- penalties
@pytest.mark.parametrize("key", sorted(REFERENCE["penalties"]))
def test_penalties_are_keras_values(key):
    name, weight = key.split("|")
    expected = REFERENCE["penalties"][key]
    got = REGULARIZERS[name]()(WEIGHTS[weight])
    assert np.asarray(got).dtype == np.float32 and np.ndim(got) == 0
    np.testing.assert_allclose(got, expected["keras3"], rtol=2e-6)
    if weight != "zero_row":  # tf_keras normalises with a different epsilon; the same otherwise
        np.testing.assert_allclose(got, expected["tf_keras"], rtol=2e-6)


def test_penalty_formulas_in_float64():
    w = np.array([[1.0, -2.0, 0.5], [0.0, 3.0, -1.0]])
    assert regularizers.L1(0.5)(w) == 0.5 * 7.5
    assert regularizers.L2(0.25)(w) == 0.25 * 15.25
    assert regularizers.L1L2(0.5, 0.25)(w) == 0.5 * 7.5 + 0.25 * 15.25
    assert regularizers.L1L2()(w) == 0.0 and regularizers.Regularizer()(w) == 0.0
    rows = w / np.linalg.norm(w, axis=1, keepdims=True)
    cosine = rows[0] @ rows[1]
    np.testing.assert_allclose(regularizers.OrthogonalRegularizer(0.5)(w), 0.5 * 0.5 * 2 * abs(cosine) / 1.0,
                               rtol=1e-14)
    columns = w / np.linalg.norm(w, axis=0, keepdims=True)
    gram = columns.T @ columns
    off = np.abs(gram - np.diag(np.diag(gram))).sum()
    np.testing.assert_allclose(regularizers.OrthogonalRegularizer(0.5, "columns")(w), 0.5 * 0.5 * off / 3.0,
                               rtol=1e-14)
    assert regularizers.L2(0.25)(w).dtype == np.float64


def _finite_difference(fn, w, eps=1e-6):
    grad = np.zeros_like(w)
    for i in np.ndindex(w.shape):
        up, down = w.copy(), w.copy()
        up[i] += eps
        down[i] -= eps
        grad[i] = (float(fn(up)) - float(fn(down))) / (2 * eps)
    return grad


@pytest.mark.parametrize("name", sorted(REGULARIZERS))
def test_penalties_are_differentiable_on_variables(name):
    regularizer = REGULARIZERS[name]()
    w = np.random.default_rng(3).normal(size=(4, 3))
    var = Variable(w.copy(), name="w")
    with Tape() as tape:
        penalty = regularizer(var)
    (grad,) = tape.gradient(penalty, [var])
    np.testing.assert_allclose(float(penalty.data), float(regularizer(w)), rtol=1e-14)
    np.testing.assert_allclose(grad, _finite_difference(regularizer, w), rtol=1e-6, atol=1e-9)
    if name == "L2(0.3)":
        np.testing.assert_allclose(grad, 2 * np.float32(0.3) * w, rtol=1e-12)


def test_penalty_of_a_traced_value_flows_back():
    var = Variable(np.array([[1.0, -2.0], [0.5, 0.25]]), name="w")
    with Tape() as tape:
        doubled = var * 2.0
        penalty = regularizers.L1(0.5)(doubled)
    (grad,) = tape.gradient(penalty, [var])
    np.testing.assert_allclose(grad, 0.5 * 2.0 * np.sign(var.value), rtol=1e-12)


# ----------------------------------------------------------------------------------------------- names, configs
@pytest.mark.parametrize("key", sorted(k for k in REFERENCE["names"] if not k.startswith("initializers|")))
def test_names_give_keras_classes_and_configs(key):
    module, name = key.split("|")
    expected = REFERENCE["names"][key]
    obj = {"regularizers": regularizers, "constraints": constraints}[module].get(name)
    assert type(obj).__name__ == expected["class_name"]
    assert obj.get_config() == expected["config"]


@pytest.mark.parametrize("obj, config", [
    (regularizers.L2(), {"l2": 0.009999999776482582}),  # Keras's default 0.01, kept as float32 like tf_keras
    (regularizers.L1(0.3), {"l1": 0.30000001192092896}),
    (regularizers.L1L2(l1=0.1), {"l1": 0.10000000149011612, "l2": 0.0}),
    (regularizers.l1_l2(), {"l1": 0.009999999776482582, "l2": 0.009999999776482582}),
    (regularizers.OrthogonalRegularizer(0.5, "columns"), {"factor": 0.5, "mode": "columns"}),
    (constraints.MaxNorm(3, axis=[0, 1, 2]), {"max_value": 3, "axis": [0, 1, 2]}),
    (constraints.MinMaxNorm(0.5, 2.0, 0.3, axis=1), {"min_value": 0.5, "max_value": 2.0, "rate": 0.3, "axis": 1}),
    (constraints.NonNeg(), {}),
    (constraints.UnitNorm(axis=-1), {"axis": -1}),
    (constraints.RadialConstraint(), {}),
])
def test_configs_round_trip_through_json(obj, config):
    module = regularizers if isinstance(obj, regularizers.Regularizer) else constraints
    data = json.loads(json.dumps(module.serialize(obj)))
    assert data == {"class_name": type(obj).__name__, "config": config}
    clone = module.get(data)
    assert type(clone) is type(obj) and clone.get_config() == config
    newer = {"module": f"keras.{module.__name__.split('.')[-1]}", "registered_name": None, **data}
    assert module.deserialize(newer).get_config() == config


def test_get_accepts_classes_instances_callables_and_none():
    for module, cls in ((regularizers, regularizers.L1L2), (constraints, constraints.UnitNorm)):
        assert module.get(None) is None and module.serialize(None) is None
        assert type(module.get(cls)) is cls
        instance = cls()
        assert module.get(instance) is instance

    def half_sum(x):
        return 0.5 * np.sum(x)
    assert regularizers.get(half_sum) is half_sum
    assert regularizers.serialize(half_sum) == "half_sum"
    assert regularizers.deserialize("half_sum", custom_objects={"half_sum": half_sum}) is half_sum
    with pytest.raises(ValueError, match="Could not interpret regularizer identifier: 0.5"):
        regularizers.get(0.5)
    with pytest.raises(ValueError, match="Unknown regularizer 'l3'.*'l1_l2'"):
        regularizers.get("l3")
    with pytest.raises(ValueError, match="Unknown constraint 'non_negative'"):
        constraints.get("non_negative")


@pytest.mark.parametrize("make, match", [
    (lambda: regularizers.L2(-0.1), r"L2.*l2.*-0.1"),
    (lambda: regularizers.L1(float("nan")), r"L1.*l1.*nan"),
    (lambda: regularizers.L1L2(l1="0.1"), r"L1L2.*l1.*'0.1'"),
    (lambda: regularizers.OrthogonalRegularizer(mode="diagonal"), r"OrthogonalRegularizer.*'diagonal'"),
    (lambda: regularizers.OrthogonalRegularizer()(np.ones((2, 2, 2))), r"OrthogonalRegularizer.*rank 2.*\(2, 2, 2\)"),
    (lambda: regularizers.OrthogonalRegularizer()(np.ones((1, 4))), r"OrthogonalRegularizer.*2 rows.*\(1, 4\)"),
    (lambda: constraints.MaxNorm(axis=2)(np.ones((2, 2))), r"MaxNorm.*axis 2.*\(2, 2\)"),
    (lambda: constraints.UnitNorm(axis="rows"), r"UnitNorm.*axis.*'rows'"),
    (lambda: constraints.RadialConstraint()(np.ones((3, 3))), r"RadialConstraint.*rank 4.*\(3, 3\)"),
    (lambda: constraints.RadialConstraint()(np.ones((3, 2, 1, 1))), r"RadialConstraint.*square.*\(3, 2, 1, 1\)"),
])
def test_bad_arguments_name_the_object(make, match):
    with pytest.raises(ValueError, match=match):
        make()


# ----------------------------------------------------------------------------------------------- constraints
@pytest.mark.parametrize("key", sorted(REFERENCE["projections"]))
def test_constraint_projections_are_keras_values(key):
    name, weight = key.split("|")
    got = CONSTRAINTS[name]()(WEIGHTS[weight])
    assert got.dtype == np.float32 and got.shape == WEIGHTS[weight].shape
    np.testing.assert_allclose(got, np.array(REFERENCE["projections"][key], dtype=np.float32), rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("size", sorted(REFERENCE["radial"], key=int))
def test_radial_constraint_as_tf_keras_for_odd_and_even_sizes(size):
    case = REFERENCE["radial"][size]
    got = constraints.RadialConstraint()(np.array(case["w"], dtype=np.float32))
    np.testing.assert_array_equal(got, np.array(case["out"], dtype=np.float32))


def test_constraints_keep_the_dtype_and_project():
    w = np.array([[3.0, 0.1], [4.0, -0.2]])  # column norms 5 and ~0.224
    out = constraints.MaxNorm(2.0)(w)
    assert out.dtype == np.float64
    np.testing.assert_allclose(np.linalg.norm(out, axis=0), [2.0, np.hypot(0.1, 0.2)], rtol=1e-6)
    np.testing.assert_allclose(np.linalg.norm(constraints.UnitNorm()(w), axis=0), [1.0, 1.0], rtol=1e-6)
    np.testing.assert_allclose(np.linalg.norm(constraints.MinMaxNorm(1.0, 2.0)(w), axis=0), [2.0, 1.0], rtol=1e-6)
    half = constraints.MinMaxNorm(1.0, 2.0, rate=0.5)(w)
    np.testing.assert_allclose(np.linalg.norm(half, axis=0), [3.5, 0.5 + 0.5 * np.hypot(0.1, 0.2)], rtol=1e-6)
    np.testing.assert_array_equal(constraints.NonNeg()(w), [[3.0, 0.1], [4.0, 0.0]])
    np.testing.assert_array_equal(constraints.Constraint()(w), w)
    var = Variable(w.copy(), name="w")
    np.testing.assert_array_equal(constraints.NonNeg()(var), [[3.0, 0.1], [4.0, 0.0]])


# ----------------------------------------------------------------------------------------------- layers
def _stripped(config):
    """A config as JSON holds it (tuples as lists), without the keys tf_keras 2.21 adds over the dialect
    minigraph writes: 'module'/'registered_name' beside class names, and InputLayer's 'optional'."""
    if isinstance(config, dict):
        return {k: _stripped(v) for k, v in config.items() if k not in ("module", "registered_name", "optional")}
    if isinstance(config, (list, tuple)):
        return [_stripped(v) for v in config]
    return config


def _keras_layer_configs():
    h5py = pytest.importorskip("h5py")
    with h5py.File(os.path.join(DATA, "keras_regularized.h5"), "r") as f:
        config = json.loads(f["/"].attrs["model_config"])
    return {entry["config"]["name"]: entry for entry in config["config"]["layers"]}


KEYS = ("kernel_regularizer", "bias_regularizer", "activity_regularizer", "kernel_constraint", "bias_constraint")


@pytest.mark.parametrize("name", ["dense_reg", "conv_reg", "convt_reg", "head"])
def test_layer_configs_as_tf_keras_writes_them(name):
    entry = _keras_layer_configs()[name]
    cls = getattr(layers, entry["class_name"])
    layer = cls.from_config(entry["config"])
    config = layer.get_config()
    assert any(config[k] is not None for k in KEYS)
    assert _stripped(config) == _stripped(entry["config"])
    assert cls.from_config(json.loads(json.dumps(config))).get_config() == config
    for key in KEYS:
        value = getattr(layer, key)
        assert (value is None) == (entry["config"][key] is None)
        if value is not None:
            assert type(value).__name__ == entry["config"][key]["class_name"]


def test_keras_file_loads_predicts_and_saves_back_with_the_same_configs(tmp_path):
    reference = np.load(os.path.join(DATA, "keras_regularized.npz"))
    model = keras.models.load_model(os.path.join(DATA, "keras_regularized.h5"))
    np.testing.assert_allclose(model.predict(reference["x0"]), reference["pred0"], atol=1e-5)
    keras_configs = _keras_layer_configs()
    path = str(tmp_path / "again.h5")
    model.save(path)
    again = keras.models.load_model(path)
    for layer in again.layers:
        assert _stripped(layer.get_config()) == _stripped(keras_configs[layer.name]["config"]), layer.name
    np.testing.assert_allclose(again.predict(reference["x0"]), reference["pred0"], atol=1e-5)


def test_each_penalty_of_the_keras_model_from_the_regularizer_objects():
    """Keras's model.losses after model(x0): per layer the activity penalty (divided by the batch size), then
    the kernel's and the bias's. Recomputed here from the loaded layers' regularizer objects."""
    reference = np.load(os.path.join(DATA, "keras_regularized.npz"))
    model = keras.models.load_model(os.path.join(DATA, "keras_regularized.h5"))
    x = reference["x0"]
    penalties, h = [], x
    for layer in model.layers[1:]:
        h = layer(h)
        if layer.activity_regularizer is not None:
            penalties.append(layer.activity_regularizer(h) / len(x))
        for weight, regularizer in ((getattr(layer, "kernel", None), getattr(layer, "kernel_regularizer", None)),
                                    (getattr(layer, "bias", None), getattr(layer, "bias_regularizer", None))):
            if regularizer is not None:
                penalties.append(regularizer(weight))
    np.testing.assert_allclose(np.array(penalties, dtype=np.float32), reference["reg_losses0"], rtol=2e-6)
    # Keras's evaluate: the mse plus every penalty (one batch of all 16 samples)
    mse = np.mean((model.predict(x) - reference["y0"]) ** 2)
    np.testing.assert_allclose(mse + np.sum(penalties, dtype=np.float32), reference["total_loss0"], rtol=1e-6)


@pytest.mark.parametrize("make, kernel_shape", [
    (lambda **kw: layers.Dense(3, **kw), (4, 3)),
    (lambda **kw: layers.Conv2D(3, 2, **kw), (2, 2, 4, 3)),
    (lambda **kw: layers.Conv2DTranspose(3, 2, **kw), (2, 2, 3, 4)),
])
def test_layers_hand_regularizers_and_constraints_to_add_weight(make, kernel_shape, monkeypatch):
    """What the base layer receives: regularizer= and constraint= per weight, activity_regularizer kept."""
    calls = {}
    base_add_weight = layers.Dense.add_weight

    def recording_add_weight(self, name, shape, *args, **kwargs):
        calls[name] = (tuple(shape), kwargs.get("regularizer"), kwargs.get("constraint"))
        return base_add_weight(self, name, shape, *args, **kwargs)
    monkeypatch.setattr(keras.layers.base.Layer, "add_weight", recording_add_weight)
    layer = make(kernel_regularizer="l2", bias_regularizer=regularizers.L1(0.2), activity_regularizer="l1_l2",
                 kernel_constraint="max_norm", bias_constraint=constraints.NonNeg)
    layer.build((None, 5, 5, 4) if len(kernel_shape) == 4 else (None, 4))
    assert isinstance(layer.kernel_regularizer, regularizers.L2)
    assert layer.bias_regularizer.get_config() == {"l1": 0.20000000298023224}
    assert layer.activity_regularizer.get_config() == regularizers.l1_l2().get_config()
    assert isinstance(layer.kernel_constraint, constraints.MaxNorm)
    assert isinstance(layer.bias_constraint, constraints.NonNeg)
    assert calls["kernel"] == (kernel_shape, layer.kernel_regularizer, layer.kernel_constraint)
    assert calls["bias"] == ((3,), layer.bias_regularizer, layer.bias_constraint)
    bare = make()
    assert all(getattr(bare, key) is None for key in KEYS)
    assert all(bare.get_config()[key] is None for key in KEYS)


def test_bad_regularizer_or_constraint_names_the_layer_and_argument():
    with pytest.raises(ValueError, match=r"'bad_kreg'.*kernel_regularizer.*'l3'"):
        layers.Dense(2, kernel_regularizer="l3", name="bad_kreg")
    with pytest.raises(ValueError, match=r"'bad_bcons'.*bias_constraint.*'positive'"):
        layers.Conv2D(2, 3, bias_constraint="positive", name="bad_bcons")
    with pytest.raises(ValueError, match=r"'bad_areg'.*activity_regularizer"):
        layers.Conv2DTranspose(2, 3, activity_regularizer=0.1, name="bad_areg")


def test_from_config_finds_custom_objects_and_names_the_layer_on_unknown_classes():
    class Quartic(regularizers.Regularizer):
        def __init__(self, factor=1.0):
            self.factor = factor

        def __call__(self, x):
            return self.factor * np.sum(np.asarray(x) ** 4)

        def get_config(self):
            return {"factor": self.factor}
    layer = layers.Dense(2, kernel_regularizer=Quartic(0.5), bias_constraint="non_neg", name="custom_reg")
    config = json.loads(json.dumps(layer.get_config()))
    assert config["kernel_regularizer"] == {"class_name": "Quartic", "config": {"factor": 0.5}}
    clone = layers.Dense.from_config(config, custom_objects={"Quartic": Quartic})
    assert isinstance(clone.kernel_regularizer, Quartic) and clone.kernel_regularizer.factor == 0.5
    assert clone.kernel_regularizer(np.full((2, 2), 2.0)) == 0.5 * 4 * 16
    with pytest.raises(ValueError, match=r"Dense 'custom_reg': kernel_regularizer: Unknown regularizer 'Quartic'"):
        layers.Dense.from_config(config)

    def tiny(x):
        return 1e-3 * np.sum(np.abs(np.asarray(x)))
    named = layers.Dense.from_config({"name": "fn_reg", "units": 2, "bias_regularizer": "tiny"},
                                     custom_objects={"tiny": tiny})
    assert named.bias_regularizer is tiny


def test_a_training_step_projects_each_constrained_weight_once():
    """Keras's optimizer applies a variable's constraint once, after its update; the training step does not
    apply it again (a MaxNorm applied twice moves the weight a second time, by its epsilon)."""
    seen = []

    class Halve(constraints.Constraint):
        def __call__(self, w):
            seen.append(1)
            return np.asarray(w) * 0.5

    inputs = keras.Input((3,))
    model = keras.Model(inputs, layers.Dense(2, kernel_constraint=Halve(), kernel_initializer="ones",
                                             bias_initializer="zeros")(inputs))
    model.compile(optimizer=keras.optimizers.SGD(0.0), loss="mse")
    model.train_on_batch(np.ones((4, 3), np.float32), np.ones((4, 2), np.float32))
    assert len(seen) == 1
    np.testing.assert_array_equal(model.layers[1].kernel.numpy(), np.full((3, 2), 0.5, np.float32))
    model.fit(np.ones((8, 3), np.float32), np.ones((8, 2), np.float32), batch_size=4, epochs=1, verbose=0)
    assert len(seen) == 3
    np.testing.assert_array_equal(model.layers[1].kernel.numpy(), np.full((3, 2), 0.125, np.float32))
