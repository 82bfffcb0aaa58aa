"""keras.models.clone_model: the same graph of new layers."""
from minigraph.engine.sequential import Sequential
from minigraph.engine.training import Model
from minigraph.layers.base import KerasTensor, flatten, map_structure
from minigraph.layers.input_layer import InputLayer


def _clone_layer(layer):
    return layer.__class__.from_config(layer.get_config())


def clone_model(model, input_tensors=None, clone_function=None):
    """Keras' clone_model: the same graph of new layers (clone_function(layer), by default from the layer's
    config, so with fresh weights); shared layers stay shared. Sequential models clone to Sequential."""
    clone_function = clone_function or _clone_layer
    if isinstance(model, Sequential):
        layers = [clone_function(layer) for layer in model.layers]
        if input_tensors is not None:
            first = flatten(input_tensors)
            if len(first) != 1 or not isinstance(first[0], KerasTensor):
                raise ValueError(f"clone_model: a Sequential model takes one input tensor from keras.Input, got "
                                 f"{input_tensors!r}")
            layers = first + layers
        elif model.built:
            source = model._layers[0]
            layers = [InputLayer.from_config(source.get_config())] + layers
        return Sequential(layers, name=model.name)
    if not getattr(model, "_is_graph_network", False):
        raise ValueError(f"clone_model expects a functional or Sequential model, got {type(model).__name__}")

    mapped = {}  # id of each tensor of the original graph -> its counterpart in the clone
    if input_tensors is None:
        new_inputs = [InputLayer.from_config(t.node.layer.get_config())._inbound_nodes[0].outputs[0]
                      for t in model.inputs]
    else:
        new_inputs = flatten(input_tensors)
        if len(new_inputs) != len(model.inputs) or not all(isinstance(t, KerasTensor) for t in new_inputs):
            raise ValueError(f"clone_model: input_tensors must be {len(model.inputs)} tensor(s) from keras.Input, "
                             f"got {input_tensors!r}")
    mapped.update((id(old), new) for old, new in zip(model.inputs, new_inputs))
    # layer by layer in model.layers order, each layer's calls in their order: the clone's node indices are the
    # original's, and every input is ready (a layer comes after all layers feeding it)
    for layer in model.layers:
        calls = [node for node in layer._inbound_nodes if node in model._network_nodes and not node.is_input]
        new_layer = clone_function(layer) if calls else None
        for node in calls:
            def swap(t):
                return mapped[id(t)] if isinstance(t, KerasTensor) else t
            out = new_layer(*map_structure(swap, node.call_args), **map_structure(swap, node.call_kwargs))
            mapped.update((id(old), new) for old, new in zip(node.outputs, flatten(out)))
    outputs = [mapped[id(t)] for t in model.outputs]
    multi_in = isinstance(model._nested_inputs, (list, tuple))
    multi_out = isinstance(model._nested_outputs, (list, tuple))
    return Model(new_inputs if multi_in else new_inputs[0], outputs if multi_out else outputs[0], name=model.name)
