"""Wrappers: Bidirectional (an RNN read both ways) and TimeDistributed (a layer on every step)."""
import numpy as np

from minigraph import ops, registry
from minigraph.layers._builtin import BuiltinLayer
from minigraph.layers.base import KerasTensor, shape_str

_MERGE_MODES = ("concat", "sum", "mul", "ave", None)


@registry.register
class Bidirectional(BuiltinLayer):
    """An RNN and its copy reading the sequence backwards, outputs merged by merge_mode (Keras's names:
    'forward_<layer>' and 'backward_<layer>'; the forward layer's weights first)."""

    supports_masking = True

    def __init__(self, layer, merge_mode="concat", weights=None, backward_layer=None, **kwargs):
        if isinstance(layer, dict):
            layer = registry.deserialize(layer)
        if isinstance(backward_layer, dict):
            backward_layer = registry.deserialize(backward_layer)
        super().__init__(weights=weights, **kwargs)
        if merge_mode not in _MERGE_MODES:
            raise self._error(f"merge_mode must be one of {_MERGE_MODES}, got {merge_mode!r}")
        if not hasattr(layer, "go_backwards") or not hasattr(layer, "return_sequences"):
            raise self._error(f"wraps a recurrent layer (an RNN), got {type(layer).__name__}")
        config = layer.get_config()
        self.forward_layer = type(layer).from_config({**config, "name": f"forward_{config['name']}"})
        if backward_layer is None:
            backward = {**config, "name": f"backward_{config['name']}", "go_backwards": not layer.go_backwards}
            self.backward_layer = type(layer).from_config(backward)
        else:
            if backward_layer.go_backwards == layer.go_backwards:
                raise self._error("backward_layer must read the other way: its go_backwards must differ from "
                                  "the forward layer's")
            if backward_layer.return_sequences != layer.return_sequences:
                raise self._error("backward_layer must have the forward layer's return_sequences")
            self.backward_layer = backward_layer
        self.merge_mode = merge_mode
        self.return_sequences = layer.return_sequences
        self.return_state = layer.return_state

    def build(self, input_shape):
        self.forward_layer._maybe_build(input_shape)
        self.backward_layer._maybe_build(input_shape)
        self.built = True

    def _merge(self, a, b):
        if self.merge_mode == "concat":
            return ops.concatenate([a, b], axis=-1)
        if self.merge_mode == "sum":
            return a + b
        if self.merge_mode == "mul":
            return a * b
        if self.merge_mode == "ave":
            return (a + b) * 0.5
        return [a, b]

    def compute_output_shape(self, input_shape):
        forward = self.forward_layer.compute_output_shape(input_shape)
        out = forward[0] if self.return_state else forward
        states = list(forward[1:]) if self.return_state else []
        if self.merge_mode == "concat":
            out = tuple(out[:-1]) + (None if out[-1] is None else 2 * out[-1],)
        outs = [out, out] if self.merge_mode is None else [out]
        return outs + states * 2 if (self.return_state or self.merge_mode is None) else out

    def compute_output_spec(self, inputs, initial_state=None, **kwargs):
        shapes = self.compute_output_shape(inputs.shape)
        if isinstance(shapes, list):
            return [KerasTensor(s, self.dtype) for s in shapes]
        return KerasTensor(shapes, self.dtype)

    def call(self, inputs, mask=None, training=None, initial_state=None):
        if initial_state is not None:
            half = len(initial_state) // 2
            forward_state, backward_state = initial_state[:half], initial_state[half:]
        else:
            forward_state = backward_state = None
        kwargs = {"mask": mask, "training": training}
        y = self.forward_layer.call(inputs, initial_state=forward_state, **kwargs)
        y_rev = self.backward_layer.call(inputs, initial_state=backward_state, **kwargs)
        states = []
        if self.return_state:
            states = list(y[1:]) + list(y_rev[1:])
            y, y_rev = y[0], y_rev[0]
        if self.return_sequences:
            y_rev = y_rev[:, ::-1]  # back in the input's order
        merged = self._merge(y, y_rev)
        if self.return_state:
            return (merged if isinstance(merged, list) else [merged]) + states
        return merged

    def compute_mask(self, inputs, mask=None):
        mask = mask if not isinstance(mask, (list, tuple)) else mask[0]
        out = mask if self.return_sequences else None
        if self.merge_mode is None:
            out = [out, out]
        else:
            out = [out] if self.return_state else out
        if self.return_state:
            n = len(self.forward_layer.compute_mask(inputs, mask)) - 1
            out = out + [None] * (2 * n)
        return out

    def get_config(self):
        config = {**super().get_config(), "merge_mode": self.merge_mode,
                  "layer": registry.serialize(self.forward_layer.__class__.from_config(
                      {**self.forward_layer.get_config(), "name": self.forward_layer.name[len("forward_"):]}))}
        config["backward_layer"] = registry.serialize(self.backward_layer)
        return config


@registry.register
class TimeDistributed(BuiltinLayer):
    """The wrapped layer applied to every step of (batch, time, ...), as one call on (batch * time, ...)."""

    supports_masking = True

    def __init__(self, layer, **kwargs):
        if isinstance(layer, dict):
            layer = registry.deserialize(layer)
        super().__init__(**kwargs)
        self.layer = layer

    def _inner_shape(self, input_shape):
        shape = self._input_shape(input_shape, min_rank=3)
        return shape, (None,) + shape[2:]

    def build(self, input_shape):
        _, inner = self._inner_shape(input_shape)
        self.layer._maybe_build(inner)
        self.built = True

    def compute_output_shape(self, input_shape):
        shape, inner = self._inner_shape(input_shape)
        out = self.layer.compute_output_shape(inner)
        if isinstance(out, list):
            raise self._error("wraps a layer with one output")
        return (shape[0], shape[1]) + tuple(out[1:])

    def call(self, inputs, training=None):
        batch, steps = inputs.shape[:2]
        flat = ops.reshape(inputs, (batch * steps,) + tuple(inputs.shape[2:]))
        out = self.layer._call_eager((flat,), {}, training, None)
        return ops.reshape(out, (batch, steps) + tuple(out.shape[1:]))

    def get_config(self):
        return {**super().get_config(), "layer": registry.serialize(self.layer)}
