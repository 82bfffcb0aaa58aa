"""summary() of sequence models against what tf_keras 2.21 reports (tests/data/sequence_summaries.json, made
by tests/data/make_sequence_summaries.py): layer order, output shapes (multi-output shapes whole, continued
on further rows as tf_keras prints them), parameter counts; and the guide's ticket-routing model (a dict of
two outputs) trained one epoch to tf_keras's losses and weights."""
import json
import os

import numpy as np
import pytest

import minigraph as keras
import sequence_models

DATA = os.path.join(os.path.dirname(__file__), "data")
with open(os.path.join(DATA, "sequence_summaries.json")) as f:
    REFERENCE = json.load(f)


def _table_rows(lines, positions):
    """(name-and-type, whole shape text, params) per layer row of a summary table, joining the shape column's
    continuation rows."""
    body = lines[lines.index("=" * len(lines[1])) + 1:]
    rows = []
    for line in body:
        if line.startswith(("_", "=", "Total")):
            if line.startswith("Total"):
                break
            continue
        name, shape = line[:positions[0]].strip(), line[positions[0]:positions[1]].strip()
        params = line[positions[1]:positions[2]].strip()
        if name:
            rows.append([name, shape, params])
        elif shape:
            rows[-1][1] += " " + shape
    return rows


@pytest.mark.parametrize("name", sorted(sequence_models.MODELS))
def test_summary_shapes_and_parameter_counts_match_tf_keras(name):
    keras.backend.clear_session()
    model = sequence_models.MODELS[name](keras)
    expected = REFERENCE[name]
    assert [[layer.name, type(layer).__name__, layer.count_params()] for layer in model.layers] == \
        [[n, cls, params] for n, cls, _, params in expected["layers"]]
    lines = []
    model.summary(line_length=120, print_fn=lines.append)
    sequential_like = name == "stacked"
    positions = [54, 102, 120] if sequential_like else [39, 66, 80]
    rows = _table_rows(lines, positions)
    assert len(rows) == len(expected["layers"])
    for (label, shape, params), (n, cls, keras_shape, keras_params) in zip(rows, expected["layers"]):
        assert f"{n} ({cls})".startswith(label)  # the classic table cuts long names, as the seed shows
        assert shape.replace(",  ", ", ") == keras_shape, (n, shape, keras_shape)
        assert int(params) == keras_params
    total = f"Total params: {expected['total']:,}"
    assert total in lines and f"Trainable params: {expected['trainable']:,}" in lines
    assert f"Non-trainable params: {expected['non_trainable']:,}" in lines


def test_no_summary_line_is_longer_than_the_table():
    keras.backend.clear_session()
    lines = []
    sequence_models.states(keras).summary(line_length=98, print_fn=lines.append)
    assert max(len(line) for line in lines) == 98
    assert any(line.strip() == "(None, 4)]" or line.strip().startswith("(None, 4)]") for line in lines)


def test_the_ticket_model_trains_with_a_dict_of_outputs_as_tf_keras():
    reference = REFERENCE["ticket_training"]
    weights = np.load(os.path.join(DATA, "sequence_ticket_training.npz"))
    keras.backend.clear_session()
    model = sequence_models.ticket(keras, num_words=50, units=(8, 4))
    assert model.output_names == ["department", "priority"]  # Keras flattens a dict by sorted key
    assert [w.name for w in model.weights] == reference["weight_names"]
    model.set_weights([weights[f"initial_{i}"] for i in range(len(model.weights))])
    model.compile(optimizer=keras.optimizers.SGD(0.1),
                  loss={"priority": keras.losses.BinaryCrossentropy(from_logits=True),
                        "department": keras.losses.CategoricalCrossentropy(from_logits=True)},
                  loss_weights={"priority": 1.0, "department": 0.2})
    data = {k: np.array(v) for k, v in reference["data"].items()}
    data["tags"] = data["tags"].astype("float32")
    targets = {k: np.array(v, "float32") for k, v in reference["targets"].items()}
    history = model.fit(data, targets, batch_size=4, epochs=1, shuffle=False, verbose=0).history
    assert sorted(history) == sorted(reference["history"])
    for key, values in reference["history"].items():
        np.testing.assert_allclose(history[key], values, rtol=1e-5, err_msg=key)
    for i, got in enumerate(model.get_weights()):
        np.testing.assert_allclose(got, weights[f"trained_{i}"], rtol=1e-3, atol=2e-5, err_msg=str(i))
    prediction = model.predict(data, verbose=0)
    assert isinstance(prediction, dict) and sorted(prediction) == ["department", "priority"]
    for key, values in reference["prediction"].items():
        np.testing.assert_allclose(prediction[key], values, rtol=1e-4, atol=1e-5, err_msg=key)
