"""Prints what tf.keras 2 and Keras 3 report from `evaluate` with (n,) binary targets against an (n, 1)
sigmoid output, with and without sample_weight (the constants of test_losses.py's
test_evaluate_with_sample_weight_as_tf_keras_2). Run with /work/oracle/bin/python."""
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
import numpy as np  # noqa: E402

X = np.array([[1.0], [1.0], [1.0], [1.0], [-1.0]], np.float32)
Y = np.array([1, 1, 1, 0, 0], np.float32)
W = np.array([1, 2, 1, 3, 1], np.float32)


def report(keras):
    inputs = keras.Input((1,))
    dense = keras.layers.Dense(1, activation="sigmoid", kernel_initializer="ones", bias_initializer="zeros")
    model = keras.Model(inputs, dense(inputs))
    model.compile("sgd", "mse", metrics=["accuracy"])
    plain = model.evaluate(X, Y, batch_size=4, verbose=0)
    weighted = model.evaluate(X, Y, batch_size=4, sample_weight=W, verbose=0)
    print(keras.__name__, keras.__version__, "[loss, accuracy]:", repr(plain), "with sample_weight:", repr(weighted))


if __name__ == "__main__":
    import tf_keras
    report(tf_keras)
    import keras
    report(keras)
