"""Writes tests/data/keras_*.h5 / .npz with real Keras (tf_keras 2.x); run by hand, needs tensorflow + tf_keras:

    python tests/data/make_keras_files.py tests/data

Models the seed's reference files leave out: every layer type, two inputs, nested models (one called twice),
Sequential, and the optimizer states of SGD (momentum, nesterov), RMSprop (momentum, centered) and Adam (amsgrad).
Each .npz holds x<i>, y0, pred0 (predict with the file's weights), opt_<i> (the optimizer variables as loaded),
and, for trained models, w_resumed_<i>: get_weights() after loading the file and fitting meta.epochs more epochs.
"""
import json
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
import numpy as np  # noqa: E402
import tf_keras as keras  # noqa: E402
from tf_keras import layers  # noqa: E402

out = sys.argv[1] if len(sys.argv) > 1 else "."
keras.utils.set_random_seed(7)
rng = np.random.default_rng(7)


def every_layer():
    img = keras.Input(shape=(8, 8, 3), name="img")
    vec = keras.Input(shape=(5,), name="vec")
    x = layers.Conv2D(4, 3, strides=2, padding="same", activation="relu")(img)            # 4x4x4
    x = layers.MaxPooling2D(2, strides=1, padding="same")(x)                              # 4x4x4
    up = layers.UpSampling2D(2)(x)                                                        # 8x8x4
    tr = layers.Conv2DTranspose(4, 3, strides=2, padding="same", activation="tanh")(x)    # 8x8x4
    hi, lo = layers.Maximum()([up, tr]), layers.Minimum()([up, tr])
    mid = layers.Average()([hi, lo])
    flat = layers.Dense(5, activation="sigmoid")(layers.Flatten()(mid))
    v = layers.Dense(5, activation="tanh")(vec)
    prod = layers.Multiply()([layers.Add()([flat, v]), layers.Subtract()([flat, v])])
    prod = layers.Activation("relu")(layers.Reshape((5,))(layers.Reshape((5, 1))(prod)))
    c = layers.Concatenate()([layers.GlobalAveragePooling2D()(mid), layers.GlobalMaxPooling2D()(mid), prod])
    return keras.Model([img, vec], layers.Dense(3, activation="softmax")(c), name="every_layer")


def nested():
    enc_in = keras.Input(shape=(6, 6, 1), name="enc_in")
    e = layers.Conv2D(3, 3, activation="relu")(enc_in)
    enc = keras.Model(enc_in, layers.GlobalMaxPooling2D()(e), name="enc")
    dec_in = keras.Input(shape=(6,), name="dec_in")
    dec = keras.Model(dec_in, layers.Dense(4)(layers.Dense(8, activation="relu")(dec_in)), name="dec")
    a, b = keras.Input(shape=(6, 6, 1), name="a"), keras.Input(shape=(6, 6, 1), name="b")
    joined = layers.Concatenate()([enc(a), enc(b)])                                        # enc called twice
    return keras.Model([a, b], dec(joined), name="siamese")


def sequential():
    return keras.Sequential([keras.Input(shape=(7,)), layers.Dense(6, activation="relu"), layers.Dropout(0.5),
                             layers.Dense(3, activation="softmax")], name="seq")


def data(model, n=8):
    xs = [rng.random((n,) + tuple(t.shape[1:])).astype("float32") for t in model.inputs]
    return xs if len(xs) > 1 else xs[0]


def write(name, model, optimizer, loss, y, resume_epochs):
    x = data(model)
    model.compile(optimizer=optimizer, loss=loss)
    model.fit(x, y, batch_size=4, epochs=1, shuffle=False, verbose=0)
    path = os.path.join(out, f"{name}.h5")
    model.save(path)
    loaded = keras.models.load_model(path)
    arrays = {"y0": y, "pred0": loaded.predict(x, verbose=0)}
    arrays.update({f"x{i}": a for i, a in enumerate(x if isinstance(x, list) else [x])})
    arrays.update({f"opt_{i}": v.numpy() for i, v in enumerate(loaded.optimizer.variables)})
    if resume_epochs:
        loaded.fit(x, y, batch_size=4, epochs=resume_epochs, shuffle=False, verbose=0)
        arrays.update({f"w_resumed_{i}": w for i, w in enumerate(loaded.get_weights())})
    meta = {"loss": loss, "batch": 4, "epochs": resume_epochs, "keras": keras.__version__,
            "opt_names": [v.name for v in loaded.optimizer.variables]}
    np.savez(os.path.join(out, f"{name}.npz"), meta=json.dumps(meta), **arrays)


onehot = np.eye(3, dtype="float32")[np.arange(8) % 3]
write("keras_every_layer", every_layer(), keras.optimizers.SGD(0.05, momentum=0.9, nesterov=True),
      "categorical_crossentropy", onehot, 2)
write("keras_nested", nested(), keras.optimizers.RMSprop(0.01, momentum=0.5, centered=True), "mse",
      rng.random((8, 4)).astype("float32"), 2)
write("keras_sequential", sequential(), keras.optimizers.Adam(0.01, amsgrad=True), "categorical_crossentropy",
      onehot, 0)
