"""Train the functional-API walkthrough's MLP on MNIST from keras.datasets (needs the file mnist.npz).

    pip install . && python examples/train_mnist.py [--epochs 2] [--plot model.png]

The first run downloads mnist.npz (11 MB) from Keras's origin into ~/.keras/datasets (or $KERAS_HOME/datasets),
the cache Keras itself uses; later runs read it from there. Without network access the script says which
file to fetch and where to put it. The Quick start example (examples/train_digits.py) needs no download.
"""
import argparse
import os
import sys

import minigraph as keras
from minigraph import layers
from minigraph.file_utils import DownloadError, keras_home

MNIST_ORIGIN = "https://storage.googleapis.com/tensorflow/tf-keras-datasets/mnist.npz"


def load_mnist():
    """((x_train, y_train), (x_test, y_test)) as flat float32 pixels in [0, 1], or None when unavailable."""
    try:
        (x_train, y_train), (x_test, y_test) = keras.datasets.mnist.load_data()
    except (DownloadError, ValueError) as err:
        target = os.path.join(keras_home(), "datasets", "mnist.npz")
        print(f"Could not get the MNIST data set: {err}\n\n"
              f"This example needs the file mnist.npz (11 MB). To run it without network access, download\n"
              f"    {MNIST_ORIGIN}\n"
              f"on a machine that has it and copy the file to\n"
              f"    {target}\n"
              f"(KERAS_HOME chooses another cache folder; MINIGRAPH_DATASETS_ORIGIN=<base URL> fetches the "
              f"data sets from a mirror).", file=sys.stderr)
        return None

    def flat(images):
        return images.reshape(len(images), 784).astype("float32") / 255
    return (flat(x_train), y_train), (flat(x_test), y_test)


def mlp():
    inputs = keras.Input(shape=(784,), name="img")
    x = layers.Dense(64, activation="relu")(inputs)
    x = layers.Dense(64, activation="relu")(x)
    outputs = layers.Dense(10, activation="softmax")(x)
    return keras.Model(inputs=inputs, outputs=outputs, name="mnist_model")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--plot", metavar="FILE", help="also draw the model to FILE (needs pydot and Graphviz)")
    args = parser.parse_args(argv)

    data = load_mnist()
    if data is None:
        return 1
    (x_train, y_train), (x_test, y_test) = data
    keras.utils.set_random_seed(0)
    model = mlp()
    model.summary()
    if args.plot:
        keras.utils.plot_model(model, to_file=args.plot, show_shapes=True)
        print(f"model drawn to {args.plot}")
    model.compile(optimizer=keras.optimizers.RMSprop(), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    model.fit(x_train, y_train, batch_size=64, epochs=args.epochs, validation_split=0.2, verbose=2)
    loss, accuracy = model.evaluate(x_test, y_test, verbose=0)
    print(f"test loss {loss:.4f}, test accuracy {accuracy:.4f} on {len(x_test)} images")
    return 0


if __name__ == "__main__":
    sys.exit(main())
