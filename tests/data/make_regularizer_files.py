"""Writes tests/data/keras_regularized.h5 / .npz and regularizers_reference.json with real Keras; run by hand,
needs tensorflow, tf_keras and Keras 3:

    python tests/data/make_regularizer_files.py tests/data

keras_regularized.h5: a tf_keras model whose Dense, Conv2D and Conv2DTranspose layers carry every regularizer
and constraint class (and non-default initializers), saved with model.save(...h5). Its .npz holds x0, y0,
pred0 (predict with the file's weights), total_loss0 (evaluate: the mse plus every regularization penalty,
before training), reg_losses0 (model.losses, in order) and w_after_sgd_<i> (get_weights() after
fit(x0, y0, batch_size=meta.batch, epochs=meta.epochs, shuffle=False) with SGD(meta.sgd_lr): the
penalties' gradients and the constraints after each step).

regularizers_reference.json: penalties of each regularizer (tf_keras and Keras 3) and projections of each
constraint (tf_keras) on fixed float32 weights, and the configs tf_keras gives each name.
"""
import json
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
import tf_keras  # noqa: E402
import keras as keras3  # noqa: E402

out = sys.argv[1] if len(sys.argv) > 1 else "."
rng = np.random.default_rng(11)
tf_keras.utils.set_random_seed(11)
K2 = tf_keras


def weights():
    """Fixed float32 weights: a wide and a tall matrix, a vector, a conv kernel, one with a zero row."""
    wide = rng.normal(size=(3, 5)).astype(np.float32)
    tall = rng.normal(size=(6, 2)).astype(np.float32)
    zero_row = rng.normal(size=(4, 3)).astype(np.float32)
    zero_row[1] = 0
    return {"wide": wide, "tall": tall, "vector": rng.normal(size=(7,)).astype(np.float32),
            "kernel": rng.normal(size=(3, 3, 2, 4)).astype(np.float32), "zero_row": zero_row}


REGULARIZERS = {  # name -> (tf_keras object, Keras 3 object)
    "L1(0.3)": (K2.regularizers.L1(0.3), keras3.regularizers.L1(0.3)),
    "L2(0.3)": (K2.regularizers.L2(0.3), keras3.regularizers.L2(0.3)),
    "L1L2(0.1,0.2)": (K2.regularizers.L1L2(0.1, 0.2), keras3.regularizers.L1L2(0.1, 0.2)),
    "L1L2(l2=0.05)": (K2.regularizers.L1L2(l2=0.05), keras3.regularizers.L1L2(l2=0.05)),
    "Orthogonal(0.1,rows)": (K2.regularizers.OrthogonalRegularizer(0.1, "rows"),
                             keras3.regularizers.OrthogonalRegularizer(0.1, "rows")),
    "Orthogonal(0.1,columns)": (K2.regularizers.OrthogonalRegularizer(0.1, "columns"),
                                keras3.regularizers.OrthogonalRegularizer(0.1, "columns")),
}
CONSTRAINTS = {
    "MaxNorm(0.5)": K2.constraints.MaxNorm(0.5),
    "MaxNorm(1.5,axis=1)": K2.constraints.MaxNorm(1.5, axis=1),
    "MaxNorm(2,axis=[0,1,2])": K2.constraints.MaxNorm(2, axis=[0, 1, 2]),
    "MinMaxNorm(0.5,1.0,0.7)": K2.constraints.MinMaxNorm(0.5, 1.0, 0.7),
    "MinMaxNorm(1.2,3.0,1.0,axis=[0,1,2])": K2.constraints.MinMaxNorm(1.2, 3.0, 1.0, axis=[0, 1, 2]),
    "NonNeg": K2.constraints.NonNeg(),
    "UnitNorm": K2.constraints.UnitNorm(),
    "UnitNorm(axis=1)": K2.constraints.UnitNorm(axis=1),
    "RadialConstraint": K2.constraints.RadialConstraint(),
}


def reference_values():
    ws = weights()
    penalties, projections = {}, {}
    for name, (k2, k3) in REGULARIZERS.items():
        for wname, w in ws.items():
            if name.startswith("Orthogonal") and w.ndim != 2:
                continue
            penalties[f"{name}|{wname}"] = {"tf_keras": float(k2(tf.constant(w))),
                                             "keras3": float(k3(tf.constant(w)))}
    for name, c in CONSTRAINTS.items():
        for wname, w in ws.items():
            if ("axis=[0,1,2]" in name or name == "RadialConstraint") != (w.ndim == 4):
                continue
            if "axis=1" in name and w.ndim < 2:
                continue
            projections[f"{name}|{wname}"] = np.asarray(c(tf.constant(w))).tolist()
    radial = {}
    for n in (2, 3, 4, 5, 6, 7):
        w = rng.normal(size=(n, n, 2, 3)).astype(np.float32)
        radial[str(n)] = {"w": w.tolist(), "out": np.asarray(K2.constraints.RadialConstraint()(tf.constant(w))).tolist()}
    names = {}
    for module, idents in ((K2.regularizers, ["l1", "l2", "l1_l2", "L1", "L2", "L1L2", "OrthogonalRegularizer",
                                              "orthogonal_regularizer"]),
                           (K2.constraints, ["max_norm", "min_max_norm", "non_neg", "unit_norm", "radial_constraint",
                                             "MaxNorm", "MinMaxNorm", "NonNeg", "UnitNorm", "RadialConstraint",
                                             "maxnorm", "nonneg", "unitnorm"]),
                           (K2.initializers, ["random_normal", "random_uniform", "truncated_normal", "he_normal",
                                              "he_uniform", "lecun_normal", "lecun_uniform", "glorot_normal",
                                              "glorot_uniform", "orthogonal", "constant", "identity",
                                              "variance_scaling", "zeros", "ones", "normal", "uniform", "zero",
                                              "one", "RandomNormal", "VarianceScaling", "Orthogonal"])):
        for ident in idents:
            obj = module.get(ident)
            names[f"{module.__name__.split('.')[-1]}|{ident}"] = {"class_name": type(obj).__name__,
                                                                  "config": obj.get_config()}
    return {"weights": {k: v.tolist() for k, v in ws.items()}, "penalties": penalties, "projections": projections,
            "radial": radial, "names": names, "versions": {"tf_keras": K2.__version__, "keras": keras3.__version__}}


def regularized_model():
    R, C, I = K2.regularizers, K2.constraints, K2.initializers
    inp = K2.Input(shape=(6,), name="vec")
    x = K2.layers.Dense(8, activation="relu", name="dense_reg", kernel_initializer=I.HeUniform(seed=1),
                        bias_initializer=I.Constant(0.05), kernel_regularizer=R.L2(0.02), bias_regularizer="l1",
                        activity_regularizer=R.L1L2(l1=0.001, l2=0.002), kernel_constraint=C.MaxNorm(1.5),
                        bias_constraint="non_neg")(inp)
    x = K2.layers.Reshape((2, 2, 2))(x)
    x = K2.layers.Conv2D(4, 2, padding="same", activation="tanh", name="conv_reg",
                         kernel_initializer=I.VarianceScaling(1.5, "fan_avg", "uniform", seed=2),
                         kernel_regularizer=R.L1(0.01), bias_regularizer=R.L1L2(0.01, 0.03),
                         kernel_constraint=C.MinMaxNorm(0.2, 0.9, 0.8, axis=[0, 1, 2]),
                         bias_constraint=C.UnitNorm())(x)
    x = K2.layers.Conv2DTranspose(3, 3, padding="same", name="convt_reg", kernel_initializer=I.Orthogonal(1.2, seed=3),
                                  bias_initializer="ones", kernel_regularizer="l1_l2", kernel_constraint=C.RadialConstraint(),
                                  bias_constraint=C.MaxNorm(0.5))(x)
    x = K2.layers.Flatten()(x)
    out = K2.layers.Dense(2, name="head", kernel_initializer=I.TruncatedNormal(0.0, 0.3, seed=4),
                          kernel_regularizer=R.OrthogonalRegularizer(0.2, "rows"), kernel_constraint=C.UnitNorm(axis=1),
                          activity_regularizer="l2")(x)
    return K2.Model(inp, out, name="regularized")


def main():
    with open(os.path.join(out, "regularizers_reference.json"), "w") as f:
        json.dump(reference_values(), f)
    model = regularized_model()
    # eagerly: tf_keras's RadialConstraint creates a variable per call, which tf.function refuses
    model.compile(optimizer=K2.optimizers.SGD(0.05), loss="mse", run_eagerly=True)
    x = rng.normal(size=(16, 6)).astype(np.float32)
    y = rng.normal(size=(16, 2)).astype(np.float32)
    model.save(os.path.join(out, "keras_regularized.h5"))
    arrays = {"x0": x, "y0": y, "pred0": model.predict(x, verbose=0)}
    arrays["total_loss0"] = np.float32(model.evaluate(x, y, batch_size=16, verbose=0))
    model(x)
    arrays["reg_losses0"] = np.array([float(v) for v in model.losses], dtype=np.float32)
    meta = {"loss": "mse", "epochs": 2, "batch": 8, "sgd_lr": 0.05, "tf_keras": K2.__version__}
    model.fit(x, y, batch_size=meta["batch"], epochs=meta["epochs"], shuffle=False, verbose=0)
    for i, w in enumerate(model.get_weights()):
        arrays[f"w_after_sgd_{i}"] = w
    np.savez(os.path.join(out, "keras_regularized.npz"), meta=json.dumps(meta), **arrays)


if __name__ == "__main__":
    main()
