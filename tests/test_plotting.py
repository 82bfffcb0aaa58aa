"""plot_model / model_to_dot: labels as Keras 3 draws them, edges, nesting, files, and the install errors."""
import json
import os
import shutil

import pytest

import minigraph as keras
from minigraph import layers, plotting

pydot = pytest.importorskip("pydot", reason="pydot is the optional `plot` extra (pip install '.[plot]')")
needs_graphviz = pytest.mark.skipif(shutil.which("dot") is None,
                                    reason="Graphviz's `dot` is not installed (apt-get install graphviz)")

with open(os.path.join(os.path.dirname(__file__), "data", "keras3_utils_reference.json")) as _f:
    KERAS_LABELS = json.load(_f)["plot_labels"]


def plotted_model():
    """The model whose labels Keras 3 drew (tests/data/make_keras3_utils_reference.py: plot_labels)."""
    inp = keras.Input((8,), name="inp")
    a = layers.Dense(4, activation="relu", name="a")(inp)
    b = layers.Dense(4, name="b")(inp)
    c = layers.Add(name="add")([a, b])
    frozen = layers.Dense(2, name="frozen")
    frozen.trainable = False
    return keras.Model(inp, frozen(c), name="plotted")


def nodes_by_name(dot):
    """{layer name: label} of a Dot (subgraphs included), and edges as (source name, destination name)."""
    ids, labels = {}, {}
    graphs = [dot]
    while graphs:
        graph = graphs.pop()
        graphs.extend(graph.get_subgraphs())
        for node in graph.get_nodes():
            label = node.get("label")
            if label and "<b>" in label:
                name = label.split("<b>", 1)[1].split("</b>", 1)[0]
                ids[node.get_name()] = name
                labels[name] = label
    edges = set()
    graphs = [dot]
    while graphs:
        graph = graphs.pop()
        graphs.extend(graph.get_subgraphs())
        edges.update((ids[e.get_source()], ids[e.get_destination()]) for e in graph.get_edges())
    return labels, edges


@pytest.mark.parametrize("flags, options", [
    ("default", {}),
    ("everything", dict(show_shapes=True, show_dtype=True, show_layer_activations=True, show_trainable=True)),
])
def test_labels_are_keras_3_labels(flags, options):
    labels, _ = nodes_by_name(keras.utils.model_to_dot(plotted_model(), **options))
    assert labels == KERAS_LABELS[flags]


def test_labels_without_layer_names_show_the_class():
    dot = keras.utils.model_to_dot(plotted_model(), show_shapes=True, show_layer_names=False)
    labels = sorted(node.get("label") for node in dot.get_nodes() if node.get("label"))
    assert labels == sorted(KERAS_LABELS["shapes_no_names"].values())


def test_edges_and_graph_attributes():
    dot = keras.utils.model_to_dot(plotted_model(), rankdir="LR", dpi=96)
    _, edges = nodes_by_name(dot)
    assert edges == {("inp", "a"), ("inp", "b"), ("a", "add"), ("b", "add"), ("add", "frozen")}
    assert dot.get("rankdir") == "LR" and str(dot.get("dpi")) == "96"


def test_sequential_is_a_chain_without_its_input_layer():
    model = keras.Sequential([keras.Input((3,)), layers.Dense(5, name="d1"), layers.Dense(1, name="d2")],
                             name="seq")
    labels, edges = nodes_by_name(keras.utils.model_to_dot(model, show_shapes=True))
    assert set(labels) == {"d1", "d2"} and edges == {("d1", "d2")}
    assert "Input shape: <b>(None, 5)</b>" in labels["d2"]


def test_unbuilt_model_is_refused():
    with pytest.raises(ValueError, match="not yet been built"):
        keras.utils.model_to_dot(keras.Sequential([layers.Dense(2)]))


def nested_model():
    inner_in = keras.Input((4,), name="inner_in")
    inner = keras.Model(inner_in, layers.Dense(3, name="inner_dense")(inner_in), name="inner")
    stack = keras.Sequential([keras.Input((3,)), layers.Dense(3, name="s1"), layers.Dense(2, name="s2")], name="stack")
    x = keras.Input((4,), name="x")
    shared = layers.Dense(4, name="shared")
    y = shared(shared(x))
    return keras.Model(x, layers.Dense(1, name="head")(stack(inner(y))), name="outer")


def test_nested_models_as_single_boxes_and_a_shared_layer():
    labels, edges = nodes_by_name(keras.utils.model_to_dot(nested_model(), show_shapes=True))
    assert set(labels) == {"x", "shared", "inner", "stack", "head"}
    assert edges == {("x", "shared"), ("shared", "shared"), ("shared", "inner"), ("inner", "stack"),
                     ("stack", "head")}
    assert "Input shape: <b>multiple</b>" in labels["shared"]  # called twice in this model


def test_expand_nested_draws_the_inner_layers_in_clusters():
    dot = keras.utils.model_to_dot(nested_model(), expand_nested=True)
    labels, edges = nodes_by_name(dot)
    assert {"inner_in", "inner_dense", "s1", "s2"} <= set(labels) and "inner" not in labels
    assert {("shared", "inner_in"), ("inner_in", "inner_dense"), ("inner_dense", "s1"), ("s1", "s2"),
            ("s2", "head")} <= edges
    assert len(dot.get_subgraphs()) == 2


@needs_graphviz
@pytest.mark.parametrize("suffix, magic", [(".png", b"\x89PNG"), (".svg", b"<?xml"), (".pdf", b"%PDF"),
                                           ("", b"\x89PNG")])
def test_plot_model_writes_the_format_of_the_suffix(tmp_path, suffix, magic):
    target = tmp_path / f"model{suffix}"
    keras.utils.plot_model(nested_model(), to_file=str(target), show_shapes=True, expand_nested=True)
    assert target.read_bytes().startswith(magic)
    if suffix == ".svg":
        assert "inner_dense" in target.read_text()


@needs_graphviz
def test_unknown_suffix_is_refused(tmp_path):
    with pytest.raises(ValueError, match="'docx'"):
        keras.utils.plot_model(plotted_model(), to_file=str(tmp_path / "model.docx"))


def test_without_pydot_the_error_says_what_to_install(monkeypatch, tmp_path):
    monkeypatch.setattr(plotting, "pydot", None)
    with pytest.raises(ImportError, match="pip install pydot"):
        keras.utils.plot_model(plotted_model(), to_file=str(tmp_path / "m.png"))
    with pytest.raises(ImportError, match="pip install pydot"):
        keras.utils.model_to_dot(plotted_model())


def test_without_graphviz_the_error_says_what_to_install(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))  # no `dot` to be found
    with pytest.raises(ImportError, match="apt-get install graphviz"):
        keras.utils.plot_model(plotted_model(), to_file=str(tmp_path / "m.png"))
    assert not (tmp_path / "m.png").exists()


def test_unknown_argument_is_refused(tmp_path):
    with pytest.raises(TypeError, match="layer_range"):
        keras.utils.plot_model(plotted_model(), to_file=str(tmp_path / "m.png"), layer_range=["a", "b"])
