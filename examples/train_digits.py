"""The main example: train the seed's MLP and a small conv net on scikit-learn's 8x8 digits, save the
conv model to .h5, reload it and evaluate again.

    pip install ".[examples]" && python examples/train_digits.py
"""
import os
import tempfile

import numpy as np
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

import minigraph as keras
from minigraph import layers


def load_data():
    digits = load_digits()
    x = (digits.images / 16.0).astype("float32")
    return train_test_split(x, digits.target, test_size=0.25, random_state=0, stratify=digits.target)


def mlp():
    """The seed's MLP (784-64-64-10), on 8x8 = 64 pixels."""
    inputs = keras.Input(shape=(64,), name="img")
    x = layers.Dense(64, activation="relu")(inputs)
    x = layers.Dense(64, activation="relu")(x)
    outputs = layers.Dense(10, activation="softmax")(x)
    return keras.Model(inputs=inputs, outputs=outputs, name="mnist_model")


def conv_net():
    inputs = keras.Input(shape=(8, 8, 1), name="img")
    x = layers.Conv2D(32, 3, padding="same", activation="relu")(inputs)
    x = layers.Conv2D(32, 3, activation="relu")(x)
    x = layers.MaxPooling2D(2)(x)
    x = layers.Flatten()(x)
    x = layers.Dense(64, activation="relu")(x)
    outputs = layers.Dense(10, activation="softmax")(x)
    return keras.Model(inputs, outputs, name="digits_conv")


def main():
    keras.utils.set_random_seed(0)
    x_train, x_test, y_train, y_test = load_data()

    model = mlp()
    model.compile(optimizer=keras.optimizers.Adam(0.005), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    model.fit(x_train.reshape(-1, 64), y_train, batch_size=32, epochs=30, verbose=0)
    _, mlp_acc = model.evaluate(x_test.reshape(-1, 64), y_test, verbose=0)
    print(f"MLP test accuracy: {mlp_acc:.4f}")

    model = conv_net()
    model.summary()
    model.compile(optimizer=keras.optimizers.Adam(0.003), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    model.fit(x_train[..., None], y_train, batch_size=32, epochs=20, validation_split=0.1, verbose=2)
    loss, acc = model.evaluate(x_test[..., None], y_test, verbose=0)
    print(f"conv test accuracy: {acc:.4f} (loss {loss:.4f})")

    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "digits_conv.h5")
        model.save(path)
        reloaded = keras.models.load_model(path)
        loss2, acc2 = reloaded.evaluate(x_test[..., None], y_test, verbose=0)
        same = np.array_equal(model.predict(x_test[..., None]), reloaded.predict(x_test[..., None]))
    print(f"reloaded from {os.path.basename(path)}: test accuracy {acc2:.4f} (loss {loss2:.4f}), "
          f"identical predictions: {same}")
    if acc < 0.97 or acc2 != acc or not same:
        raise SystemExit("the conv model fell short of 97% test accuracy or did not reload identically")


if __name__ == "__main__":
    main()
