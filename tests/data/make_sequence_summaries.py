"""Write tests/data/sequence_summaries.json: what tf_keras 2.21 reports for the models of
tests/sequence_models.py (run with the oracle python, /work/oracle/bin/python; tests/test_sequence_summary.py
reads it).

Per model: `layers`, [name, class, output shape as summary() prints it, parameter count] in model.layers
order; `total`, `trainable`, `non_trainable`; `text`, the printed summary (line_length 120).  `ticket_training`:
the ticket model with 50 words and LSTMs of 8 and 4 units, fixed data, its weight names, and after one epoch
of SGD(0.1) with the guide's from_logits losses and loss weights (batch 4, no shuffle) the history and the
predictions; its weights before (`initial_<i>`) and after (`trained_<i>`) go to sequence_ticket_training.npz.
"""
import json
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
import numpy as np
import tf_keras as keras

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
import sequence_models  # noqa: E402

out = {"keras_version": keras.__version__}
for name, build in sequence_models.MODELS.items():
    keras.backend.clear_session()
    model = build(keras)
    lines = []
    model.summary(line_length=120, print_fn=lines.append)
    layers = [[layer.name, type(layer).__name__, str(layer.output_shape), layer.count_params()]
              for layer in model.layers]
    trainable = int(sum(np.prod(w.shape) for w in model.trainable_weights))
    non_trainable = int(sum(np.prod(w.shape) for w in model.non_trainable_weights))
    out[name] = {"layers": layers, "total": trainable + non_trainable, "trainable": trainable,
                 "non_trainable": non_trainable, "text": "\n".join(lines)}

keras.backend.clear_session()
keras.utils.set_random_seed(5)
model = sequence_models.ticket(keras, num_words=50, units=(8, 4))
rng = np.random.default_rng(5)
data = {"title": rng.integers(0, 50, (8, 6)).tolist(), "body": rng.integers(0, 50, (8, 9)).tolist(),
        "tags": rng.integers(0, 2, (8, 12)).astype("float32").tolist()}
targets = {"priority": rng.random((8, 1)).tolist(),
           "department": np.eye(4)[rng.integers(0, 4, 8)].tolist()}
arrays = {f"initial_{i}": w for i, w in enumerate(model.get_weights())}
model.compile(optimizer=keras.optimizers.SGD(0.1),
              loss={"priority": keras.losses.BinaryCrossentropy(from_logits=True),
                    "department": keras.losses.CategoricalCrossentropy(from_logits=True)},
              loss_weights={"priority": 1.0, "department": 0.2})
history = model.fit({k: np.array(v) for k, v in data.items()}, {k: np.array(v) for k, v in targets.items()},
                    batch_size=4, epochs=1, shuffle=False, verbose=0).history
prediction = model.predict({k: np.array(v) for k, v in data.items()}, verbose=0)
arrays.update({f"trained_{i}": w for i, w in enumerate(model.get_weights())})
np.savez(os.path.join(HERE, "sequence_ticket_training.npz"), **arrays)
out["ticket_training"] = {"weight_names": [w.name for w in model.weights], "data": data, "targets": targets,
                          "history": history, "prediction": {k: v.tolist() for k, v in prediction.items()}}
with open(os.path.join(HERE, "sequence_summaries.json"), "w") as f:
    json.dump(out, f)
