"""Write optimizer_reference.npz, optimizer_reference.json and optimizer_resume_<name>.h5: tf_keras's
optimizer trajectories, state names and schedule values (tests/test_optimizer_reference.py holds minigraph
to them). Run with the oracle environment (tf_keras 2.x):

    /path/to/oracle/bin/python tests/data/make_optimizer_reference.py

Trajectories: two float32 variables ('dense/kernel' 3x4, 'dense/bias' 4) take STEPS fixed gradients; the
weights after each step and the final optimizer variables (names, values) are recorded. Each case is a
spec both sides build from: {"class", "kwargs", "schedule" (a serialized schedule or null),
"exclude_names" (exclude_from_weight_decay var_names or null)}.

Resume files: a Dense 4-3 model compiled with the case's optimizer, trained `epochs_before` epochs and
saved to .h5 (with its optimizer state); `resumed_<name>_<i>` are its weights after `epochs_after` more
epochs of uninterrupted training, `keras_resumed_<name>_<i>` what tf_keras itself gives after loading the
file and training the same epochs. All runs are eager (run_eagerly=True): inside a traced train function
tf_keras's Nadam multiplies its momentum-factor product once per variable and step instead of once per step
(a Python counter read at trace time), which the eager run, its docs and Keras 3 do not.
"""
import json
import os

import numpy as np
import tensorflow as tf
import tf_keras as keras

HERE = os.path.dirname(os.path.abspath(__file__))
STEPS = 5
SHAPES = {"kernel": (3, 4), "bias": (4,)}
EXP = {"class_name": "ExponentialDecay", "config": {"initial_learning_rate": 0.1, "decay_steps": 2,
                                                    "decay_rate": 0.5, "staircase": False, "name": None}}
PIECEWISE = {"class_name": "PiecewiseConstantDecay", "config": {"boundaries": [1, 3], "values": [0.2, 0.1, 0.05],
                                                                "name": None}}
COSINE_WARMUP = {"class_name": "CosineDecay", "config": {"initial_learning_rate": 0.0, "decay_steps": 4,
                                                         "alpha": 0.1, "name": None, "warmup_target": 0.1,
                                                         "warmup_steps": 2}}
CASES = {
    "sgd": ("SGD", {"learning_rate": 0.1}),
    "sgd_momentum": ("SGD", {"learning_rate": 0.1, "momentum": 0.9}),
    "sgd_nesterov": ("SGD", {"learning_rate": 0.1, "momentum": 0.8, "nesterov": True}),
    "adam": ("Adam", {"learning_rate": 0.1}),
    "adam_amsgrad": ("Adam", {"learning_rate": 0.1, "beta_1": 0.8, "beta_2": 0.9, "epsilon": 1e-3, "amsgrad": True}),
    "adamw": ("AdamW", {"learning_rate": 0.1, "weight_decay": 0.05}),
    "adamw_amsgrad": ("AdamW", {"learning_rate": 0.1, "amsgrad": True}),
    "nadam": ("Nadam", {"learning_rate": 0.1}),
    "nadam_betas": ("Nadam", {"learning_rate": 0.05, "beta_1": 0.7, "beta_2": 0.95, "epsilon": 1e-4}),
    "adamax": ("Adamax", {"learning_rate": 0.1}),
    "adamax_betas": ("Adamax", {"learning_rate": 0.05, "beta_1": 0.7, "beta_2": 0.95, "epsilon": 1e-4}),
    "adagrad": ("Adagrad", {"learning_rate": 0.1}),
    "adagrad_init": ("Adagrad", {"learning_rate": 0.2, "initial_accumulator_value": 0.5, "epsilon": 1e-3}),
    "adadelta": ("Adadelta", {"learning_rate": 1.0}),
    "adadelta_rho": ("Adadelta", {"learning_rate": 0.5, "rho": 0.8, "epsilon": 1e-4}),
    "ftrl": ("Ftrl", {"learning_rate": 0.1}),
    "ftrl_regularized": ("Ftrl", {"learning_rate": 0.1, "learning_rate_power": -0.7, "initial_accumulator_value": 0.2,
                                  "l1_regularization_strength": 0.01, "l2_regularization_strength": 0.02,
                                  "l2_shrinkage_regularization_strength": 0.03, "beta": 0.1}),
    "rmsprop": ("RMSprop", {"learning_rate": 0.01}),
    "rmsprop_centered": ("RMSprop", {"learning_rate": 0.01, "rho": 0.8, "momentum": 0.5, "centered": True}),
    # the shared options
    "adam_clipnorm": ("Adam", {"learning_rate": 0.1, "clipnorm": 0.5}),
    "sgd_clipvalue": ("SGD", {"learning_rate": 0.1, "momentum": 0.5, "clipvalue": 0.3}),
    "rmsprop_global_clipnorm": ("RMSprop", {"learning_rate": 0.01, "global_clipnorm": 0.7}),
    "sgd_weight_decay": ("SGD", {"learning_rate": 0.1, "weight_decay": 0.1}),
    "adagrad_weight_decay_excluded": ("Adagrad", {"learning_rate": 0.1, "weight_decay": 0.2}, None, ["bias"]),
    "nadam_weight_decay_schedule": ("Nadam", {"weight_decay": 0.1}, EXP),
    "sgd_ema": ("SGD", {"learning_rate": 0.1, "momentum": 0.9, "use_ema": True, "ema_momentum": 0.7}),
    "adam_ema_overwrite": ("Adam", {"learning_rate": 0.1, "use_ema": True, "ema_momentum": 0.5,
                                    "ema_overwrite_frequency": 2}),
    "sgd_exponential": ("SGD", {"momentum": 0.5}, EXP),
    "adam_piecewise": ("Adam", {}, PIECEWISE),
    "adamax_cosine_warmup": ("Adamax", {}, COSINE_WARMUP),
}
SCHEDULES = {
    "exponential": EXP,
    "exponential_staircase": {"class_name": "ExponentialDecay",
                              "config": {"initial_learning_rate": 0.3, "decay_steps": 3, "decay_rate": 0.7,
                                         "staircase": True}},
    "piecewise": PIECEWISE,
    "polynomial": {"class_name": "PolynomialDecay", "config": {"initial_learning_rate": 0.5, "decay_steps": 7}},
    "polynomial_cycle": {"class_name": "PolynomialDecay",
                         "config": {"initial_learning_rate": 0.5, "decay_steps": 7, "end_learning_rate": 0.01,
                                    "power": 2.0, "cycle": True}},
    "inverse_time": {"class_name": "InverseTimeDecay",
                     "config": {"initial_learning_rate": 0.4, "decay_steps": 3, "decay_rate": 0.5}},
    "inverse_time_staircase": {"class_name": "InverseTimeDecay",
                               "config": {"initial_learning_rate": 0.4, "decay_steps": 3, "decay_rate": 0.5,
                                          "staircase": True}},
    "cosine": {"class_name": "CosineDecay", "config": {"initial_learning_rate": 0.2, "decay_steps": 9}},
    "cosine_alpha": {"class_name": "CosineDecay", "config": {"initial_learning_rate": 0.2, "decay_steps": 9,
                                                             "alpha": 0.25}},
    "cosine_warmup": COSINE_WARMUP,
    "cosine_restarts": {"class_name": "CosineDecayRestarts",
                        "config": {"initial_learning_rate": 0.2, "first_decay_steps": 3}},
    "cosine_restarts_flat": {"class_name": "CosineDecayRestarts",
                             "config": {"initial_learning_rate": 0.2, "first_decay_steps": 4, "t_mul": 1.0,
                                        "m_mul": 0.5, "alpha": 0.1}},
}
SCHEDULE_STEPS = [0, 1, 2, 3, 4, 5, 7, 8, 10, 13, 20, 31, 50]
RESUME = {
    "adagrad": ("Adagrad", {"learning_rate": 0.1}, EXP),
    "nadam": ("Nadam", {"learning_rate": 0.02}, None),
}


def spec(case):
    cls, kwargs, schedule, exclude = (tuple(case) + (None, None))[:4]
    return {"class": cls, "kwargs": kwargs, "schedule": schedule, "exclude_names": exclude}


def make_optimizer(s):
    kwargs = dict(s["kwargs"])
    if s["schedule"]:
        kwargs["learning_rate"] = keras.optimizers.schedules.deserialize(s["schedule"])
    opt = getattr(keras.optimizers, s["class"])(**kwargs)
    if s["exclude_names"]:
        opt.exclude_from_weight_decay(var_names=s["exclude_names"])
    return opt


def trajectories(out, meta):
    rng = np.random.default_rng(7)
    start = {k: rng.standard_normal(shape).astype(np.float32) for k, shape in SHAPES.items()}
    grads = [{k: rng.standard_normal(shape).astype(np.float32) for k, shape in SHAPES.items()} for _ in range(STEPS)]
    for k in SHAPES:
        out[f"start_{k}"] = start[k]
        out[f"grads_{k}"] = np.stack([g[k] for g in grads])
    meta["cases"] = {}
    for name, case in CASES.items():
        s = spec(case)
        opt = make_optimizer(s)
        with tf.name_scope("dense"):
            variables = {k: tf.Variable(start[k], name=k) for k in SHAPES}
        for i, g in enumerate(grads):
            opt.apply_gradients([(tf.constant(g[k]), variables[k]) for k in SHAPES])
            for k in SHAPES:
                out[f"{name}/step{i}/{k}"] = variables[k].numpy()
        names = [v.name for v in opt.variables]
        for j, v in enumerate(opt.variables):
            out[f"{name}/state{j}"] = v.numpy()
        meta["cases"][name] = {**s, "state_names": names, "config": json.loads(json.dumps(
            opt.get_config(), default=float))}


def schedule_values(meta):
    meta["schedules"] = {}
    for name, config in SCHEDULES.items():
        schedule = keras.optimizers.schedules.deserialize(config)
        meta["schedules"][name] = {"serialized": keras.optimizers.schedules.serialize(schedule),
                                   "values": [float(schedule(step)) for step in SCHEDULE_STEPS]}
    meta["schedule_steps"] = SCHEDULE_STEPS


def resume_files(out, meta):
    rng = np.random.default_rng(11)
    x = rng.standard_normal((24, 4)).astype(np.float32)
    y = rng.standard_normal((24, 3)).astype(np.float32)
    out["resume_x"], out["resume_y"] = x, y
    meta["resume"] = {"batch": 8, "epochs_before": 2, "epochs_after": 2, "loss": "mse"}
    for name, case in RESUME.items():
        s = spec(case)
        keras.utils.set_random_seed(3)
        model = keras.Sequential([keras.layers.Dense(3, input_shape=(4,), name="dense")], name=f"resume_{name}")
        model.compile(optimizer=make_optimizer(s), loss="mse", run_eagerly=True)
        model.fit(x, y, batch_size=8, epochs=2, shuffle=False, verbose=0)
        path = os.path.join(HERE, f"optimizer_resume_{name}.h5")
        model.save(path)
        for i, w in enumerate(model.get_weights()):
            out[f"saved_{name}_{i}"] = w
        model.fit(x, y, batch_size=8, epochs=2, shuffle=False, verbose=0)
        for i, w in enumerate(model.get_weights()):
            out[f"resumed_{name}_{i}"] = w
        loaded = keras.models.load_model(path)
        loaded.compile(optimizer=loaded.optimizer, loss="mse", run_eagerly=True)
        loaded.fit(x, y, batch_size=8, epochs=2, shuffle=False, verbose=0)
        for i, w in enumerate(loaded.get_weights()):
            out[f"keras_resumed_{name}_{i}"] = w
        meta["resume"][name] = s


def main():
    out, meta = {}, {"keras": keras.__version__, "tensorflow": tf.__version__, "steps": STEPS}
    trajectories(out, meta)
    schedule_values(meta)
    resume_files(out, meta)
    np.savez(os.path.join(HERE, "optimizer_reference.npz"), **out)
    with open(os.path.join(HERE, "optimizer_reference.json"), "w") as f:
        json.dump(meta, f, indent=1, default=float)


if __name__ == "__main__":
    main()
