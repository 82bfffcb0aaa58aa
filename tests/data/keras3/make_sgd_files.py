"""Writes sgd_<variant>.weights.h5: what Keras 3 saves of a tiny trained model's SGD state, for the
variants whose optimizer variables differ (no momentum: no momentum slots; momentum; use_ema; a learning
rate schedule), and sgd_start.npz: the data (x, y) and the model's starting weights (kernel, bias).
`variants` and `train` take the Keras module, so the test trains minigraph by the same steps.
Run with the oracle: /work/oracle/bin/python tests/data/keras3/make_sgd_files.py OUT_DIR"""
import os
import sys

import numpy as np


def variants(keras):
    return {
        "plain": dict(learning_rate=0.05),
        "momentum": dict(learning_rate=0.05, momentum=0.9),
        "plain_ema": dict(learning_rate=0.05, use_ema=True),
        "plain_schedule": dict(learning_rate=keras.optimizers.schedules.ExponentialDecay(0.05, 10, 0.5)),
    }


def train(keras, variant, start):
    """Dense(2) on 3 features from the starting weights, mean squared error, one epoch of two batches of 4
    without shuffling."""
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2, name="dense")], name="tiny")
    model.set_weights([start["kernel"], start["bias"]])
    model.compile(optimizer=keras.optimizers.SGD(**variants(keras)[variant]), loss="mean_squared_error")
    model.fit(start["x"], start["y"], batch_size=4, epochs=1, shuffle=False, verbose=0)
    return model


def main(out):
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
    import keras
    rng = np.random.default_rng(0)
    start = dict(x=rng.standard_normal((8, 3)).astype("float32"), y=rng.standard_normal((8, 2)).astype("float32"),
                 kernel=rng.standard_normal((3, 2)).astype("float32"), bias=rng.standard_normal(2).astype("float32"))
    np.savez(os.path.join(out, "sgd_start.npz"), **start)
    for variant in variants(keras):
        model = train(keras, variant, start)
        model.save_weights(os.path.join(out, f"sgd_{variant}.weights.h5"))
        print(variant, [v.path for v in model.optimizer.variables])


if __name__ == "__main__":
    main(sys.argv[1])
