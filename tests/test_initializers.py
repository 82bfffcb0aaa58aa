"""keras.initializers: names, configs as tf_keras writes them, statistics and fans, seeds as in Keras 3.

Reference configs: tests/data/regularizers_reference.json (tests/data/make_regularizer_files.py, tf_keras 2.21).
"""
import json
import math
import os

import numpy as np
import pytest

import minigraph as keras
from minigraph import initializers, layers

DATA = os.path.join(os.path.dirname(__file__), "data")
with open(os.path.join(DATA, "regularizers_reference.json")) as _f:
    REFERENCE = json.load(_f)

TRUNCATED_STD = 0.87962566103423978  # std of a unit normal cut at +-2
CONV = (3, 3, 16, 32)  # fan_in 144, fan_out 288
N = 400_000


# ----------------------------------------------------------------------------------------------- names
@pytest.mark.parametrize("key", sorted(k for k in REFERENCE["names"] if k.startswith("initializers|")))
def test_every_keras_name_gives_keras_class_and_config(key):
    name = key.split("|")[1]
    expected = REFERENCE["names"][key]
    init = initializers.get(name)
    assert type(init).__name__ == expected["class_name"]
    assert init.get_config() == expected["config"]
    assert initializers.serialize(init) == expected


@pytest.mark.parametrize("snake, camel", [
    ("random_normal", "RandomNormal"), ("random_uniform", "RandomUniform"), ("truncated_normal", "TruncatedNormal"),
    ("he_normal", "HeNormal"), ("he_uniform", "HeUniform"), ("lecun_normal", "LecunNormal"),
    ("lecun_uniform", "LecunUniform"), ("glorot_normal", "GlorotNormal"), ("glorot_uniform", "GlorotUniform"),
    ("orthogonal", "Orthogonal"), ("constant", "Constant"), ("identity", "Identity"),
    ("variance_scaling", "VarianceScaling"), ("zeros", "Zeros"), ("ones", "Ones")])
def test_snake_and_camel_names_classes_and_module_attributes(snake, camel):
    cls = getattr(initializers, camel)
    assert getattr(initializers, snake) is cls  # keras.initializers.he_normal is the class too
    assert type(initializers.get(snake)) is cls and type(initializers.get(camel)) is cls
    assert type(initializers.get(cls)) is cls
    instance = cls()
    assert initializers.get(instance) is instance
    clone = initializers.get(initializers.serialize(instance))
    assert type(clone) is cls and clone.get_config() == instance.get_config()


def test_get_accepts_configs_callables_arrays_and_none():
    newer = {"module": "keras.initializers", "class_name": "RandomNormal",
             "config": {"mean": 1.0, "stddev": 0.5, "seed": 3}, "registered_name": None}
    init = initializers.get(newer)
    assert init.get_config() == {"mean": 1.0, "stddev": 0.5, "seed": 3}
    np.testing.assert_array_equal(init((4, 5)), initializers.RandomNormal(1.0, 0.5, seed=3)((4, 5)))

    def halves(shape, dtype=None):
        return np.full(shape, 0.5, dtype=dtype)
    assert initializers.get(halves) is halves
    fixed = np.arange(6, dtype=np.float32).reshape(2, 3)
    from_array = initializers.get(fixed)
    np.testing.assert_array_equal(from_array((2, 3), dtype="float64"), fixed)
    assert from_array((2, 3), dtype="float64").dtype == np.float64
    with pytest.raises(ValueError, match=r"\(2, 3\).*\(3, 2\)"):
        from_array((3, 2))
    assert initializers.get(None) is None
    with pytest.raises(ValueError, match="'nope'"):
        initializers.get("nope")
    with pytest.raises(ValueError, match="he_normal"):  # the message lists what is known
        initializers.get("HE_NORMAL")
    with pytest.raises(ValueError, match="Could not interpret initializer"):
        initializers.get(3)


@pytest.mark.parametrize("init, config", [
    (initializers.RandomNormal(0.5, 2.0, seed=1), {"mean": 0.5, "stddev": 2.0, "seed": 1}),
    (initializers.RandomUniform(-1, 3, seed=2), {"minval": -1, "maxval": 3, "seed": 2}),
    (initializers.TruncatedNormal(stddev=0.2, seed=3), {"mean": 0.0, "stddev": 0.2, "seed": 3}),
    (initializers.VarianceScaling(2.0, "fan_avg", "uniform", seed=4),
     {"scale": 2.0, "mode": "fan_avg", "distribution": "uniform", "seed": 4}),
    (initializers.VarianceScaling(distribution="normal", seed=9),  # Keras's old name for the truncated normal
     {"scale": 1.0, "mode": "fan_in", "distribution": "truncated_normal", "seed": 9}),
    (initializers.HeUniform(seed=5), {"seed": 5}),
    (initializers.Orthogonal(gain=1.5, seed=6), {"gain": 1.5, "seed": 6}),
    (initializers.Constant(0.3), {"value": 0.3}),
    (initializers.Constant(np.array([1.0, 2.0])), {"value": [1.0, 2.0]}),
    (initializers.Identity(gain=2.0), {"gain": 2.0}),
])
def test_configs_are_keras_and_round_trip_through_json(init, config):
    assert init.get_config() == config
    data = json.loads(json.dumps(initializers.serialize(init)))
    assert data == {"class_name": type(init).__name__, "config": config}
    clone = initializers.deserialize(data)
    assert type(clone) is type(init) and clone.get_config() == config
    np.testing.assert_array_equal(clone((2, 2)), init((2, 2)))  # seeded (or constant): the same values


# ----------------------------------------------------------------------------------------------- fans
@pytest.mark.parametrize("shape, fans", [
    ((), (1, 1)), ((5,), (5, 5)), ((3, 4), (3, 4)), (CONV, (144, 288)), ((2, 3, 4, 5, 6), (120, 144)),
    ((5, 7, 3), (35, 15))])
def test_compute_fans_as_keras(shape, fans):
    assert initializers.compute_fans(shape) == fans


def test_compute_fans_with_axes():
    assert initializers.compute_fans((2, 3, 4, 5), input_axes=[0, 1], output_axes=[2, 3]) == (6, 20)
    init = initializers.VarianceScaling(3.0, "fan_in", "uniform", seed=1, input_axes=[0, 1], output_axes=[2])
    values = init((40, 6, 50))
    limit = math.sqrt(3.0 * 3.0 / 240)
    assert np.abs(values).max() <= limit and np.abs(values).max() > 0.99 * limit
    assert init.get_config()["input_axes"] == [0, 1]
    with pytest.raises(ValueError, match="together"):
        initializers.VarianceScaling(input_axes=[0])


# ----------------------------------------------------------------------------------------------- statistics
def _n(mode, shape):
    fan_in, fan_out = initializers.compute_fans(shape)
    return {"fan_in": fan_in, "fan_out": fan_out, "fan_avg": (fan_in + fan_out) / 2}[mode]


@pytest.mark.parametrize("mode", ["fan_in", "fan_out", "fan_avg"])
@pytest.mark.parametrize("distribution", ["truncated_normal", "untruncated_normal", "uniform"])
def test_variance_scaling_variance_is_scale_over_fan(mode, distribution):
    """Every distribution has variance scale / n (the truncated normal after truncation, thanks to the
    0.8796... correction); the uniform's limit is sqrt(3 scale / n) exactly."""
    scale, shape = 1.7, (50, 5, 16, 32)  # 128,000 values
    values = initializers.VarianceScaling(scale, mode, distribution, seed=11)(shape).astype(np.float64)
    variance = scale / _n(mode, shape)
    assert abs(values.mean()) < 4 * math.sqrt(variance / values.size)
    np.testing.assert_allclose(values.var(), variance, rtol=0.02)
    if distribution == "uniform":
        limit = math.sqrt(3 * variance)
        assert np.abs(values).max() <= limit + 1e-7 and np.abs(values).max() > 0.999 * limit
    elif distribution == "truncated_normal":
        cut = 2 * math.sqrt(variance) / TRUNCATED_STD
        assert np.abs(values).max() <= cut * (1 + 1e-6) and np.abs(values).max() > 0.99 * cut
    else:
        assert np.abs(values).max() > 4 * math.sqrt(variance)  # tails are not cut


@pytest.mark.parametrize("cls, limit", [
    (initializers.GlorotUniform, math.sqrt(6 / (144 + 288))),
    (initializers.HeUniform, math.sqrt(6 / 144)),
    (initializers.LecunUniform, math.sqrt(3 / 144)),
])
def test_uniform_presets_limits(cls, limit):
    values = cls(seed=3)(CONV)
    assert values.dtype == np.float32
    assert np.abs(values).max() <= np.float32(limit) and np.abs(values).max() > 0.995 * limit
    np.testing.assert_allclose(values.astype(np.float64).var(), limit**2 / 3, rtol=0.05)


@pytest.mark.parametrize("cls, scale, mode", [
    (initializers.GlorotNormal, 1.0, "fan_avg"), (initializers.HeNormal, 2.0, "fan_in"),
    (initializers.LecunNormal, 1.0, "fan_in")])
def test_normal_presets_std_after_truncation(cls, scale, mode):
    shape = (60, 16, 144)  # fan_in 960, fan_out 8640
    values = cls(seed=4)(shape).astype(np.float64)
    std = math.sqrt(scale / _n(mode, shape))
    np.testing.assert_allclose(values.std(), std, rtol=0.01)
    assert np.abs(values).max() <= 2 * std / TRUNCATED_STD * (1 + 1e-6)
    assert np.abs(values).max() > 0.99 * 2 * std / TRUNCATED_STD


def test_random_normal_uniform_and_truncated_defaults_and_statistics():
    normal = initializers.RandomNormal(seed=1)((N,)).astype(np.float64)  # Keras's default stddev 0.05
    assert abs(normal.mean()) < 4 * 0.05 / math.sqrt(N)
    np.testing.assert_allclose(normal.std(), 0.05, rtol=0.01)
    shifted = initializers.RandomNormal(mean=3.0, stddev=2.0, seed=2)((N,)).astype(np.float64)
    np.testing.assert_allclose([shifted.mean(), shifted.std()], [3.0, 2.0], rtol=0.01)

    uniform = initializers.RandomUniform(seed=3)((N,))  # Keras's default [-0.05, 0.05)
    assert uniform.min() >= -0.05 and uniform.max() <= 0.05 and uniform.max() > 0.0499
    np.testing.assert_allclose(uniform.astype(np.float64).var(), 0.1**2 / 12, rtol=0.01)
    ranged = initializers.RandomUniform(2.0, 5.0, seed=4)((N,))
    assert ranged.min() >= 2.0 and ranged.max() <= 5.0
    np.testing.assert_allclose(ranged.astype(np.float64).mean(), 3.5, rtol=0.002)

    truncated = initializers.TruncatedNormal(mean=1.0, stddev=0.5, seed=5)((N,)).astype(np.float64)
    assert truncated.min() >= 0.0 and truncated.max() <= 2.0  # redrawn beyond mean +- 2 stddev
    assert truncated.min() < 0.01 and truncated.max() > 1.99
    np.testing.assert_allclose(truncated.mean(), 1.0, atol=4 * 0.5 / math.sqrt(N))
    np.testing.assert_allclose(truncated.std(), 0.5 * TRUNCATED_STD, rtol=0.01)


# ----------------------------------------------------------------------------------------------- deterministic ones
@pytest.mark.parametrize("shape", [(7, 4), (4, 7), (5, 5), (3, 3, 4, 6), (2, 2, 3, 20)])
def test_orthogonal_gives_orthonormal_rows_or_columns_times_gain(shape):
    q = initializers.Orthogonal(gain=1.0, seed=2)(shape, dtype="float64")
    assert q.shape == shape and q.dtype == np.float64
    flat = q.reshape(-1, shape[-1])
    gram = flat.T @ flat if flat.shape[0] >= flat.shape[1] else flat @ flat.T
    np.testing.assert_allclose(gram, np.eye(gram.shape[0]), atol=1e-12)
    scaled = initializers.Orthogonal(gain=2.5, seed=2)(shape, dtype="float64")
    np.testing.assert_allclose(scaled, 2.5 * q, rtol=1e-12)
    q32 = initializers.Orthogonal(seed=2)(shape)
    assert q32.dtype == np.float32
    flat32 = q32.reshape(-1, shape[-1]).astype(np.float64)
    gram32 = flat32.T @ flat32 if flat32.shape[0] >= flat32.shape[1] else flat32 @ flat32.T
    np.testing.assert_allclose(gram32, np.eye(gram32.shape[0]), atol=1e-5)


def test_orthogonal_is_not_biased_in_sign():
    """The sign correction by R's diagonal makes Q uniform (Haar): entries average zero over many draws."""
    firsts = np.array([initializers.Orthogonal(seed=s)((3, 3), dtype="float64")[0, 0] for s in range(400)])
    assert abs(firsts.mean()) < 0.1 and 0.25 < np.mean(firsts > 0.5) + np.mean(firsts < -0.5) < 0.75


def test_identity_constant_zeros_ones():
    np.testing.assert_array_equal(initializers.Identity()((2, 3)), [[1, 0, 0], [0, 1, 0]])
    np.testing.assert_array_equal(initializers.Identity(gain=2.0)((3, 2)), [[2, 0], [0, 2], [0, 0]])
    with pytest.raises(ValueError, match="Identity.*2-D.*\\(2, 2, 2\\)"):
        initializers.Identity()((2, 2, 2))
    np.testing.assert_array_equal(initializers.Constant(3)((2,)), [3.0, 3.0])
    assert initializers.Constant(3)((2,)).dtype == np.float32
    assert initializers.Constant(3)((2,), dtype="float64").dtype == np.float64
    np.testing.assert_array_equal(initializers.Constant([1, 2])((2, 2)), [[1, 2], [1, 2]])
    with pytest.raises(ValueError, match="Constant.*\\(3,\\).*\\(2, 2\\)"):
        initializers.Constant([1, 2, 3])((2, 2))
    assert initializers.Zeros()((2, 3), dtype="int32").dtype == np.int32
    np.testing.assert_array_equal(initializers.Ones()((2,), dtype="float64"), [1.0, 1.0])


# ----------------------------------------------------------------------------------------------- dtypes
@pytest.mark.parametrize("name", ["random_normal", "random_uniform", "truncated_normal", "he_normal", "glorot_uniform",
                                  "lecun_normal", "orthogonal", "variance_scaling"])
def test_random_initializers_draw_in_the_requested_dtype(name):
    init = initializers.get(name)
    assert init((8, 6)).dtype == np.float32  # Keras's floatx
    wide = init((8, 6), dtype="float64")
    assert wide.dtype == np.float64
    assert np.mean(wide != wide.astype(np.float32)) > 0.9  # real float64 values, not float32 ones widened
    assert init((8, 6), dtype="float16").dtype == np.float16
    with pytest.raises(ValueError, match="int32"):
        init((2, 2), dtype="int32")


def test_numpy_dtype_objects_are_not_taken_for_the_names_float_and_int():
    """np.dtype('float64') == 'float' in numpy; standardize_dtype must still give float64, not floatx."""
    from minigraph import ops, random
    assert ops.cast(np.ones(2, np.float32), np.dtype("float64")).dtype == np.float64
    assert ops.cast(np.ones(2), np.dtype("int64")).dtype == np.int64
    assert ops.cast(np.ones(2), "float").dtype == np.float32 and ops.cast(np.ones(2), float).dtype == np.float32
    assert random.normal((2,), dtype=np.dtype("float64"), seed=1).dtype == np.float64
    assert initializers.HeNormal(seed=1)((3, 2), dtype=np.dtype("float64")).dtype == np.float64


# ----------------------------------------------------------------------------------------------- seeds
def test_seeded_instances_are_reproducible_and_seeds_differ():
    a = initializers.GlorotUniform(seed=7)
    first = a((5, 4))
    np.testing.assert_array_equal(a((5, 4)), first)  # Keras 3: one instance, the same values each call
    np.testing.assert_array_equal(initializers.GlorotUniform(seed=7)((5, 4)), first)
    assert not np.array_equal(initializers.GlorotUniform(seed=8)((5, 4)), first)
    with pytest.raises(ValueError, match="RandomNormal.*seed.*1.5"):
        initializers.RandomNormal(seed=1.5)


def test_seed_generator_seeds_give_new_values_each_call_as_keras_3():
    from minigraph import random
    init = initializers.RandomUniform(seed=random.SeedGenerator(4))
    first, second = init((5,)), init((5,))
    assert not np.array_equal(first, second)
    again = initializers.RandomUniform(seed=random.SeedGenerator(4))
    np.testing.assert_array_equal(again((5,)), first)
    np.testing.assert_array_equal(again((5,)), second)
    config = json.loads(json.dumps(initializers.serialize(init)))
    assert config["config"]["seed"]["class_name"] == "SeedGenerator"
    assert config["config"]["seed"]["config"]["seed"] == 4
    np.testing.assert_array_equal(initializers.deserialize(config)((5,)), first)  # the stream from its start


def test_unseeded_instances_follow_set_random_seed():
    b = initializers.RandomNormal()
    np.testing.assert_array_equal(b((6,)), b((6,)))  # as Keras 3: the seed is fixed when the object is made
    assert not np.array_equal(initializers.RandomNormal()((6,)), b((6,)))  # each new instance draws its own
    keras.utils.set_random_seed(123)
    first = [initializers.HeNormal()((4, 3)), initializers.Orthogonal()((3, 3))]
    keras.utils.set_random_seed(123)
    again = [initializers.HeNormal()((4, 3)), initializers.Orthogonal()((3, 3))]
    for x, y in zip(first, again):
        np.testing.assert_array_equal(x, y)
    keras.utils.set_random_seed(124)
    assert not np.array_equal(initializers.HeNormal()((4, 3)), first[0])


def test_layers_initialise_from_their_initializers_and_set_random_seed():
    layer = layers.Dense(3, kernel_initializer=initializers.RandomNormal(stddev=0.3, seed=5),
                         bias_initializer=initializers.Constant(0.25), name="init_dense")
    layer.build((None, 4))
    np.testing.assert_array_equal(layer.kernel.value, initializers.RandomNormal(stddev=0.3, seed=5)((4, 3)))
    np.testing.assert_array_equal(layer.bias.value, [0.25] * 3)

    def built_kernels():
        keras.utils.set_random_seed(99)
        model = keras.Sequential([keras.Input((5,)), layers.Dense(4), layers.Dense(2, kernel_initializer="he_normal")])
        return [w.copy() for w in model.get_weights()]
    first, again = built_kernels(), built_kernels()
    for x, y in zip(first, again):
        np.testing.assert_array_equal(x, y)


# ----------------------------------------------------------------------------------------------- errors
@pytest.mark.parametrize("make, match", [
    (lambda: initializers.VarianceScaling(scale=0), r"VarianceScaling.*scale.*0"),
    (lambda: initializers.VarianceScaling(mode="fan_max"), r"VarianceScaling.*'fan_max'"),
    (lambda: initializers.VarianceScaling(distribution="cauchy"), r"VarianceScaling.*'cauchy'"),
    (lambda: initializers.Orthogonal()((5,)), r"Orthogonal.*2 dimensions.*\(5,\)"),
    (lambda: initializers.RandomUniform()((2, -1)), r"RandomUniform.*negative.*\(2, -1\)"),
    (lambda: initializers.deserialize({"class_name": "Glorot", "config": {}}), r"Unknown initializer 'Glorot'"),
    (lambda: initializers.deserialize({"config": {}}), r"class_name"),
])
def test_bad_arguments_name_the_initializer(make, match):
    with pytest.raises(ValueError, match=match):
        make()


def test_unknown_config_key_is_a_type_error():
    with pytest.raises(TypeError, match="stdev"):
        initializers.deserialize({"class_name": "RandomNormal", "config": {"stdev": 1.0}})


def test_custom_initializer_class_through_custom_objects():
    class Twos(initializers.Initializer):
        def __call__(self, shape, dtype=None):
            return np.full(shape, 2.0, dtype=dtype or "float32")
    config = json.loads(json.dumps(initializers.serialize(Twos())))
    assert config == {"class_name": "Twos", "config": {}}
    clone = initializers.deserialize(config, custom_objects={"Twos": Twos})
    np.testing.assert_array_equal(clone((2,)), [2.0, 2.0])
