"""Sequential: a Functional model whose graph is a chain, rebuilt as layers are added."""
import numpy as np

from minigraph import registry
from minigraph.engine.training import Functional
from minigraph.layers.base import KerasTensor, Layer, unique_name
from minigraph.layers.input_layer import Input, InputLayer
from minigraph.layers.tracking import TrackedList


@registry.register
class Sequential(Functional):
    _UNTRACKED = Functional._UNTRACKED | {"_stack", "_graph_nodes", "_input_shape_given", "_input_name"}

    def __init__(self, layers=None, name=None, trainable=True):
        super().__init__(name=name or unique_name("sequential"), trainable=trainable)
        self._stack = TrackedList()  # the layers, in order, without the input layer (add/pop move the version)
        self._input_shape_given = None
        self._input_name = None  # an InputLayer added first keeps its name (Keras does; configs round-trip)
        self._graph_nodes = []
        self.built = False
        for layer in layers or []:
            self.add(layer)

    def add(self, layer):
        if isinstance(layer, KerasTensor):  # model.add(keras.Input(...))
            layer = layer.node.layer
        if isinstance(layer, InputLayer):
            if self._stack:
                raise ValueError(f"Sequential '{self.name}': an InputLayer can only be the first layer")
            self._input_shape_given = layer._batch_input_shape
            self._input_name = layer.name
            return
        if not isinstance(layer, Layer):
            raise ValueError(f"Sequential '{self.name}': can only add layers, got {type(layer).__name__}")
        if any(existing.name == layer.name for existing in self._stack):
            raise ValueError(f"Sequential '{self.name}': all layers added to a Sequential model should have unique "
                             f"names; '{layer.name}' is already there")
        self._stack.append(layer)
        if self._input_shape_given is None and len(self._stack) == 1 and layer._batch_input_shape is not None:
            self._input_shape_given = layer._batch_input_shape
        if self._input_shape_given is not None:
            self._build_graph(self._input_shape_given)

    def pop(self):
        if not self._stack:
            raise ValueError(f"Sequential '{self.name}' has no layers to pop")
        self._stack.pop()
        if self._input_shape_given is not None and self._stack:
            self._build_graph(self._input_shape_given)

    def _build_graph(self, batch_input_shape):
        for node in self._graph_nodes:  # forget the nodes of the previous chain
            node.layer._inbound_nodes.remove(node)
        self._inbound_nodes = [n for n in self._inbound_nodes if not n.internal]  # and the old node 0
        name = self._input_name or f"{self._stack[0].name}_input"
        x = inputs = Input(batch_shape=tuple(batch_input_shape), name=name)
        for layer in self._stack:
            x = layer(x)
        self._init_graph(inputs, x)
        self._graph_nodes = [node for layer in self._stack for node in layer._inbound_nodes
                             if node in self._network_nodes]

    def build(self, input_shape=None):
        if input_shape is None:
            input_shape = self._input_shape_given
        if input_shape is None:
            raise ValueError(f"Sequential '{self.name}': build() needs an input shape, e.g. build((None, 784))")
        if not self.built:  # the batch size stays free: data of any batch size runs
            self._build_graph((None,) + tuple(input_shape[1:]))

    def _prepare_inputs(self, x):
        if not self.built:
            arr = np.asarray(x[0] if isinstance(x, (list, tuple)) and len(x) == 1 else x)
            self._input_shape_given = (None,) + arr.shape[1:]
            self._build_graph(self._input_shape_given)
        return super()._prepare_inputs(x)

    @property
    def layers(self):
        return list(self._stack)

    def _sublayers(self):
        return list(self._stack)

    def get_config(self):
        layer_configs = []
        if self.built:
            layer_configs.append({"class_name": "InputLayer", "config": self._layers[0].get_config()})
        layer_configs += [registry.serialize(layer) for layer in self._stack]
        return {"name": self.name, "layers": layer_configs}

    @classmethod
    def from_config(cls, config, custom_objects=None):
        if isinstance(config, list):  # very old Keras wrote the bare list
            config = {"layers": config}
        model = cls(name=config.get("name"))
        for layer_config in config["layers"]:
            model.add(registry.deserialize(layer_config, custom_objects))
        return model
