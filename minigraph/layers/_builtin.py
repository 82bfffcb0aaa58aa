"""What the built-in layers share: Keras-config handling and argument validation.

Every error names the layer, so that a message from deep inside a model still says where it came from.
"""
import inspect
import math
import numbers

import numpy as np

from minigraph import activations, constraints, initializers, ops, regularizers
from minigraph.kernels import shapes
from minigraph.layers.base import Layer, check_rank, shape_str

_DTYPES = ("float32", "float64")  # what the kernels compute in


def standardize_dtype(dtype):
    """A Keras dtype or dtype policy (a name, or a {'class_name': 'DTypePolicy', 'config': {...}} dict) as a
    numpy dtype name; mixed-precision policies change the computation and are refused."""
    if isinstance(dtype, dict):
        dtype = dtype.get("config", {}).get("name")
    dtype = getattr(dtype, "as_numpy_dtype", dtype)  # a KerasTensor's (or TensorFlow's) DType
    if dtype is None:
        return None
    try:
        name = np.dtype(dtype).name
    except TypeError:  # e.g. the policy 'mixed_float16'
        name = str(dtype)
    if name not in _DTYPES:
        raise ValueError(f"dtype {dtype!r} is not supported; use one of {list(_DTYPES)}")
    return name


def _is_integral(v):
    """An int (numpy's too) or an integral float such as 3.0 (Keras takes int(v)); not a bool, 2.5 or '3'."""
    if isinstance(v, bool) or not isinstance(v, numbers.Real):
        return False
    return isinstance(v, numbers.Integral) or (math.isfinite(v) and float(v).is_integer())


# how from_config turns a nested {"class_name", "config"} back into an object, by the key's suffix
_DESERIALIZERS = (("_initializer", initializers.deserialize), ("_regularizer", regularizers.deserialize),
                  ("_constraint", constraints.deserialize))


class BuiltinLayer(Layer):
    """Base of minigraph's concrete layers."""

    def __init__(self, activity_regularizer=None, **kwargs):
        who = type(self).__name__ + (f" '{kwargs['name']}'" if kwargs.get("name") else "")
        try:  # before Layer.__init__ there is no name yet unless one was given
            kwargs["dtype"] = standardize_dtype(kwargs.get("dtype"))
        except ValueError as err:
            raise ValueError(f"{who}: {err}") from None
        try:
            activity_regularizer = regularizers.get(activity_regularizer)
        except ValueError as err:
            raise ValueError(f"{who}: argument activity_regularizer: {err}") from None
        super().__init__(activity_regularizer=activity_regularizer, **kwargs)

    # ------------------------------------------------------------------ errors and argument checks
    def _error(self, message):
        return ValueError(f"Layer '{self.name}' ({type(self).__name__}): {message}")

    def _positive_int(self, value, arg):
        # Keras takes int(units); an integral float such as 64.0 is fine, 2.5 is a mistake (and NaN or inf)
        if (isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value)
                or value != int(value) or value <= 0):
            raise self._error(f"argument {arg} must be a positive integer, got {value!r}")
        return int(value)

    def _tuple(self, value, arg, rank=2, minimum=1):
        """An int or a tuple of `rank` ints (window sizes, strides, rates), each at least `minimum`."""
        items = tuple(value) if isinstance(value, (list, tuple, np.ndarray)) else (value,)
        if not all(_is_integral(v) for v in items):  # normalize_tuple would truncate (2, 1.5) to (2, 1)
            what = "a pair of ints" if rank == 2 else f"a tuple of {rank} int{'s' if rank > 1 else ''}"
            raise self._error(f"{arg} must be an int or {what}, got {value!r}")
        try:
            ints = tuple(int(v) for v in items)
            out = shapes.normalize_tuple(ints if isinstance(value, (list, tuple, np.ndarray)) else ints[0],
                                         rank, arg)
        except ValueError as err:
            raise self._error(str(err)) from None
        if min(out) < minimum:
            raise self._error(f"argument {arg} must be >= {minimum}, got {value!r}")
        if max(out) >= 2**31:  # the kernels index in C integers
            raise self._error(f"argument {arg} must be < 2**31, got {value!r}")
        return out

    def _pair(self, value, arg, minimum=1):
        return self._tuple(value, arg, 2, minimum)

    def _padding(self, value):
        try:
            return shapes.normalize_padding(value)
        except ValueError as err:
            raise self._error(str(err)) from None

    def _data_format(self, value):
        if value is None or value == "channels_last":
            return "channels_last"
        raise self._error(f"data_format={value!r} is not supported (only 'channels_last')")

    def _lookup(self, getter, value, arg):
        """activations.get, initializers.get, ... with the layer and argument in the message."""
        try:
            return getter(value)
        except ValueError as err:
            raise self._error(f"argument {arg}: {err}") from None

    def _input_shape(self, input_shape, rank=None, min_rank=1):
        """The single input's shape as a tuple, checked for rank; ValueError naming the layer otherwise."""
        if not isinstance(input_shape, (list, tuple)) or not all(
                d is None or isinstance(d, (int, np.integer)) for d in input_shape):
            raise self._error(f"expects a single input, got shape(s) {input_shape!r}")
        shape = tuple(None if d is None else int(d) for d in input_shape)
        if rank is not None:
            check_rank(self, shape, rank)
        elif len(shape) < min_rank:
            raise self._error(f"expects an input of rank >= {min_rank} (batch included), got shape "
                              f"{shape_str(shape)}")
        return shape

    def _window_output_dims(self, shape, window, strides, padding, arg):
        """Output spatial sizes of a sliding window over a channels_last shape (batch, *spatial, channels),
        one per entry of `window`; under 'valid' a window larger than the input is an error rather than an
        empty output. 'causal' (1-D convolutions) pads before the data only, so it keeps the length as
        'same' does at stride 1."""
        dims = shape[1:1 + len(window)]
        if padding == "valid" and any(n is not None and n < k for n, k in zip(dims, window)):
            raise self._error(f"{arg} {window} is larger than the input's spatial size {dims} with "
                              f"padding='valid' (input shape {shape_str(shape)})")
        mode = "same" if padding == "causal" else padding
        return tuple(None if n is None else shapes.conv_output_length(n, k, s, mode)
                     for n, k, s in zip(dims, window, strides))

    def _check_defined(self, input_shape, axis, what):
        if input_shape[axis] is None:
            raise self._error(f"the {what} dimension (axis {axis}) of the input must be defined, got shape "
                              f"{shape_str(input_shape)}")

    # ------------------------------------------------------------------ configs
    @classmethod
    def _accepted_keys(cls):
        keys = set(Layer._BASE_KWARGS)
        for klass in cls.__mro__:
            init = klass.__dict__.get("__init__")
            if init is not None:
                keys.update(p.name for p in inspect.signature(init).parameters.values()
                            if p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL) and p.name != "self")
        return keys

    @classmethod
    def from_config(cls, config, custom_objects=None):
        """A layer from a Keras config (Keras 2 or 3). Keys this layer does not know are ignored when they
        are null (they do not change the computation) and refused otherwise."""
        config = dict(config)
        accepted = cls._accepted_keys()  # once: inspect.signature is slow, and big models load many layers
        unknown = sorted(k for k in set(config) - accepted if config[k] is not None)
        if unknown:
            raise ValueError(f"{cls.__name__} '{config.get('name')}': config key(s) not supported (they change the "
                             f"computation): {', '.join(f'{k}={config[k]!r}' for k in unknown)}")
        config = {k: v for k, v in config.items() if k in accepted}
        for key, value in config.items():
            custom = isinstance(value, str) and bool(custom_objects) and value in custom_objects
            for suffix, deserialize in _DESERIALIZERS:
                if key.endswith(suffix) and (isinstance(value, dict) or custom):
                    try:
                        config[key] = deserialize(value, custom_objects)
                    except ValueError as err:
                        raise ValueError(f"{cls.__name__} '{config.get('name')}': {key}: {err}") from None
        if custom_objects and isinstance(config.get("activation"), str):
            config["activation"] = custom_objects.get(config["activation"], config["activation"])
        return cls(**config)


class KernelLayer(BuiltinLayer):
    """Dense and the convolutions: a kernel, an optional bias, an activation after."""

    def __init__(self, activation=None, use_bias=True, kernel_initializer="glorot_uniform",
                 bias_initializer="zeros", kernel_regularizer=None, bias_regularizer=None,
                 kernel_constraint=None, bias_constraint=None, **kwargs):
        super().__init__(**kwargs)
        self.activation = self._lookup(activations.get, activation, "activation")
        self.use_bias = bool(use_bias)
        self.kernel_initializer = self._lookup(initializers.get, kernel_initializer, "kernel_initializer")
        self.bias_initializer = self._lookup(initializers.get, bias_initializer, "bias_initializer")
        self.kernel_regularizer = self._lookup(regularizers.get, kernel_regularizer, "kernel_regularizer")
        self.bias_regularizer = self._lookup(regularizers.get, bias_regularizer, "bias_regularizer")
        self.kernel_constraint = self._lookup(constraints.get, kernel_constraint, "kernel_constraint")
        self.bias_constraint = self._lookup(constraints.get, bias_constraint, "bias_constraint")
        self.kernel = self.bias = None

    def _activate(self, op, inputs, kernel=None, **kwargs):
        """activation(op(inputs, kernel, bias)), with a ReLU fused into the op (in place on its output);
        `kernel` is the layer's own unless given (e.g. dilated)."""
        kernel = self.kernel if kernel is None else kernel
        if self.activation is ops.relu:
            return op(inputs, kernel, self.bias, relu=True, **kwargs)
        return self.activation(op(inputs, kernel, self.bias, **kwargs))

    def _add_kernel_and_bias(self, kernel_shape, units):
        self.kernel = self.add_weight("kernel", kernel_shape, initializer=self.kernel_initializer,
                                      regularizer=self.kernel_regularizer, constraint=self.kernel_constraint)
        if self.use_bias:
            self.bias = self.add_weight("bias", (units,), initializer=self.bias_initializer,
                                        regularizer=self.bias_regularizer, constraint=self.bias_constraint)

    def _kernel_config(self):
        return {
            "activation": activations.serialize(self.activation),
            "use_bias": self.use_bias,
            "kernel_initializer": initializers.serialize(self.kernel_initializer),
            "bias_initializer": initializers.serialize(self.bias_initializer),
            "kernel_regularizer": regularizers.serialize(self.kernel_regularizer),
            "bias_regularizer": regularizers.serialize(self.bias_regularizer),
            "activity_regularizer": regularizers.serialize(self.activity_regularizer),
            "kernel_constraint": constraints.serialize(self.kernel_constraint),
            "bias_constraint": constraints.serialize(self.bias_constraint),
        }
