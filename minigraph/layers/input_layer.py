"""InputLayer and Input: where a functional graph starts."""
import numpy as np

from minigraph import registry
from minigraph.layers.base import KerasTensor, Layer, Node, unique_name


@registry.register
class InputLayer(Layer):
    """The layer behind `Input`: it has one node with no inputs and one symbolic output."""

    def __init__(self, input_shape=None, batch_size=None, dtype=None, input_tensor=None, sparse=False,
                 name=None, ragged=False, batch_input_shape=None, **kwargs):
        if sparse or ragged:
            raise ValueError(f"InputLayer '{name}': sparse and ragged inputs are not supported")
        if batch_input_shape is None:
            if input_shape is None:
                raise ValueError("InputLayer needs input_shape (or batch_input_shape)")
            if isinstance(input_shape, int):
                input_shape = (input_shape,)
            batch_input_shape = (batch_size,) + tuple(input_shape)
        for d in batch_input_shape[1:]:
            if d is not None and (not isinstance(d, int) or d <= 0):
                raise ValueError(f"InputLayer '{name}': dimensions must be positive ints or None, "
                                 f"got shape {tuple(batch_input_shape)}")
        kwargs.pop("dtype", None)
        name = name or unique_name("input", zero_based=False)
        try:  # data is cast to this dtype: only real numbers compute
            supported = dtype is None or np.dtype(dtype).kind in "fiub"
        except TypeError:
            supported = False
        if not supported:
            raise ValueError(f"InputLayer '{name}': dtype {dtype!r} is not supported; inputs must be floating, "
                             f"integer or boolean")
        super().__init__(name=name, dtype=dtype)
        self._batch_input_shape = tuple(None if d is None else int(d) for d in batch_input_shape)
        self.built = True
        Node(self, (), {}, [KerasTensor(self._batch_input_shape, self.dtype, name=self.name)])

    def get_config(self):
        return {"batch_input_shape": list(self._batch_input_shape), "dtype": self.dtype,
                "sparse": False, "ragged": False, "name": self.name}

    @classmethod
    def from_config(cls, config, custom_objects=None):
        config = dict(config)
        if isinstance(config.get("dtype"), dict):  # Keras' DTypePolicy dict
            config["dtype"] = config["dtype"].get("config", {}).get("name", "float32")
        return cls(**config)


def Input(shape=None, batch_size=None, name=None, dtype=None, sparse=False, tensor=None, ragged=False,
          batch_shape=None, **kwargs):
    """A symbolic input: `Input(shape=(784,))` has shape (None, 784)."""
    if shape is None and batch_shape is None:
        raise ValueError("Input needs a shape, e.g. Input(shape=(784,))")
    layer = InputLayer(input_shape=shape, batch_size=batch_size, name=name, dtype=dtype, sparse=sparse,
                       ragged=ragged, batch_input_shape=batch_shape)
    return layer._inbound_nodes[0].outputs[0]
