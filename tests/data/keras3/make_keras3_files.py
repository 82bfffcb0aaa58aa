"""Writes nested_autoencoder, shared and sequential (.keras and Keras 3's .h5, with .npz reference numbers)
with Keras 3 (run with /work/oracle/bin/python: tensorflow 2.21, Keras 3.15.1), into the folder given.

The .npz (numpy.load, no pickles): x<i> the inputs, y<i> the targets, pred<i> the saved model's predictions,
w_<i> its get_weights(), opt_<i> its optimizer variables (opt_names their paths), loss the evaluate loss.
"""
import json
import os
import sys

os.environ["KERAS_BACKEND"] = "tensorflow"
os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
import keras  # noqa: E402
import numpy as np  # noqa: E402
from keras import layers  # noqa: E402


def nested_autoencoder():
    encoder_input = keras.Input(shape=(28, 28, 1), name="original_img")
    x = layers.Conv2D(16, 3, activation="relu")(encoder_input)
    x = layers.Conv2D(32, 3, activation="relu")(x)
    x = layers.MaxPooling2D(3)(x)
    x = layers.Conv2D(32, 3, activation="relu")(x)
    x = layers.Conv2D(16, 3, activation="relu")(x)
    encoder = keras.Model(encoder_input, layers.GlobalMaxPooling2D()(x), name="encoder")
    decoder_input = keras.Input(shape=(16,), name="encoded_img")
    x = layers.Reshape((4, 4, 1))(decoder_input)
    x = layers.Conv2DTranspose(16, 3, activation="relu")(x)
    x = layers.Conv2DTranspose(32, 3, activation="relu")(x)
    x = layers.UpSampling2D(3)(x)
    x = layers.Conv2DTranspose(16, 3, activation="relu")(x)
    decoder = keras.Model(decoder_input, layers.Conv2DTranspose(1, 3, activation="relu")(x), name="decoder")
    autoencoder_input = keras.Input(shape=(28, 28, 1), name="img")
    return keras.Model(autoencoder_input, decoder(encoder(autoencoder_input)), name="autoencoder")


def shared():
    left, right = keras.Input(shape=(6,), name="left"), keras.Input(shape=(6,), name="right")
    dense = layers.Dense(5, activation="relu", name="shared")
    inner_input = keras.Input(shape=(5,), name="inner_in")
    tower = keras.Model(inner_input, layers.Dense(3, name="tower_dense")(inner_input), name="tower")
    merged = layers.concatenate([tower(dense(left)), tower(dense(right))], name="merge")
    return keras.Model([left, right], layers.Dense(1, name="out")(merged), name="shared_model")


def sequential():
    return keras.Sequential([keras.Input(shape=(5,), name="seq_in"), layers.Dense(4, activation="relu", name="h"),
                             layers.Dense(2, name="o")], name="seq")


def main(folder):
    rng = np.random.default_rng(0)
    for name, build in [("nested_autoencoder", nested_autoencoder), ("shared", shared), ("sequential", sequential)]:
        keras.utils.set_random_seed(1)
        model = build()
        model.compile(keras.optimizers.Adam(learning_rate=0.01), "mean_squared_error")
        xs = [rng.random((8,) + tuple(t.shape[1:]), dtype=np.float32) for t in model.inputs]
        ys = [rng.random((8,) + tuple(t.shape[1:]), dtype=np.float32) for t in model.outputs]
        x, y = (xs if len(xs) > 1 else xs[0]), (ys if len(ys) > 1 else ys[0])
        model.fit(x, y, batch_size=4, epochs=2, shuffle=False, verbose=0)
        model.save(os.path.join(folder, f"{name}.keras"))
        model.save(os.path.join(folder, f"{name}.h5"))
        pred = model.predict(x, verbose=0)
        pred = pred if isinstance(pred, list) else [pred]
        arrays = {f"x{i}": a for i, a in enumerate(xs)}
        arrays.update({f"y{i}": a for i, a in enumerate(ys)}, **{f"pred{i}": p for i, p in enumerate(pred)})
        arrays.update({f"w_{i}": w for i, w in enumerate(model.get_weights())})
        arrays.update({f"opt_{i}": np.asarray(v) for i, v in enumerate(model.optimizer.variables)})
        arrays["opt_names"] = np.array([v.path for v in model.optimizer.variables])
        arrays["n_weights"] = np.array(len(model.get_weights()))
        arrays["loss"] = np.array(model.evaluate(x, y, verbose=0))
        arrays["meta"] = np.array(json.dumps({"keras": keras.__version__, "epochs": 2, "batch": 4}))
        np.savez(os.path.join(folder, f"{name}.npz"), **arrays)


if __name__ == "__main__":
    main(sys.argv[1])
