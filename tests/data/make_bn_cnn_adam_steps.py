"""Keras's 3-epoch Adam run on bn_cnn.h5, step by step, written by tf_keras 2.21 (run by hand with the oracle:
`python tests/data/make_bn_cnn_adam_steps.py tests/data`; needs tensorflow and tf_keras).

The run is bn_cnn.npz's Adam run (Adam(meta.adam_lr), batch meta.batch, meta.epochs epochs, no shuffle), taken
one batch at a time with a GradientTape in eager mode. For each step k (0 .. n_steps-1):
- `s<k>/w<j>`: every model weight before the step (model.weights order, the moving statistics included);
- `s<k>/opt<j>`: the Adam state before the step (optimizer.variables: iteration, then m, v per trainable weight);
- `s<k>/g<j>`: the gradient of the batch's loss for each trainable weight; `s<k>/loss`: that loss;
- `s<k>/after<j>`: every model weight after the step; `s<k>/opt_after<j>`: the Adam state after it.

`final/w<j>`: the weights at the end. `reordered/w<j>`: the same 3 epochs in Keras with the samples of each batch
in reverse order: the same batches, so the same run in exact arithmetic, only the float32 sums taken in another
order. Their difference is how far Keras's own trajectory moves under rounding alone.

`fit_eps/w<j>`: `model.fit` (as in bn_cnn.npz) with Adam(meta.adam_lr, epsilon=meta.fit_eps_epsilon): a larger
epsilon bounds Adam's gain on a gradient's rounding by lr / epsilon', so this run can be matched tightly;
`fit_eps/loss`: the loss of each of its epochs.
"""
import json
import os
import sys

import numpy as np
import tensorflow as tf
import tf_keras as keras


def _fresh(out_dir, lr):
    model = keras.models.load_model(os.path.join(out_dir, "bn_cnn.h5"), compile=False)
    optimizer = keras.optimizers.Adam(learning_rate=lr)
    optimizer.build(model.trainable_weights)
    return model, optimizer


def _run(out_dir, meta, x, y, record=None, order=None):
    model, optimizer = _fresh(out_dir, meta["adam_lr"])
    loss_fn = keras.losses.CategoricalCrossentropy()
    step = 0
    for _ in range(meta["epochs"]):
        for i in range(0, len(x), meta["batch"]):
            rows = slice(i, i + meta["batch"]) if order is None else i + order
            if record is not None:
                for j, w in enumerate(model.weights):
                    record[f"s{step}/w{j}"] = w.numpy()
                for j, v in enumerate(optimizer.variables):
                    record[f"s{step}/opt{j}"] = v.numpy()
            with tf.GradientTape() as tape:
                loss = loss_fn(y[rows], model(x[rows], training=True))
            grads = tape.gradient(loss, model.trainable_weights)
            optimizer.apply_gradients(zip(grads, model.trainable_weights))
            if record is not None:
                record[f"s{step}/loss"] = np.float32(loss.numpy())
                for j, g in enumerate(grads):
                    record[f"s{step}/g{j}"] = g.numpy()
                for j, w in enumerate(model.weights):
                    record[f"s{step}/after{j}"] = w.numpy()
                for j, v in enumerate(optimizer.variables):
                    record[f"s{step}/opt_after{j}"] = v.numpy()
            step += 1
    return model, step


def main(out_dir):
    ref = np.load(os.path.join(out_dir, "bn_cnn.npz"))
    meta = json.loads(str(ref["meta"]))
    x, y = ref["x0"], ref["y0"]
    data = {}
    model, n_steps = _run(out_dir, meta, x, y, record=data)
    for j, w in enumerate(model.weights):
        data[f"final/w{j}"] = w.numpy()
    reordered, _ = _run(out_dir, meta, x, y, order=np.arange(meta["batch"])[::-1])
    for j, w in enumerate(reordered.weights):
        data[f"reordered/w{j}"] = w.numpy()
    fit_epsilon = 1e-3
    model = keras.models.load_model(os.path.join(out_dir, "bn_cnn.h5"), compile=False)
    model.compile(optimizer=keras.optimizers.Adam(learning_rate=meta["adam_lr"], epsilon=fit_epsilon),
                  loss=meta["loss"])
    history = model.fit(x, y, batch_size=meta["batch"], epochs=meta["epochs"], shuffle=False, verbose=0)
    data["fit_eps/loss"] = np.asarray(history.history["loss"], dtype=np.float32)
    for j, w in enumerate(model.weights):
        data[f"fit_eps/w{j}"] = w.numpy()
    data["names"] = json.dumps([w.name for w in model.weights])
    data["trainable_names"] = json.dumps([w.name for w in model.trainable_weights])
    data["meta"] = json.dumps({**meta, "n_steps": n_steps, "fit_eps_epsilon": fit_epsilon, "keras": keras.__version__})
    np.savez_compressed(os.path.join(out_dir, "bn_cnn_adam_steps.npz"), **data)


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else os.path.dirname(__file__))
