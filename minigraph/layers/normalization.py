"""Normalization layers: BatchNormalization, LayerNormalization, GroupNormalization, UnitNormalization.

Configs, defaults and weight names are tf_keras 2.21's. BatchNormalization's moving variance follows
tf_keras too: its default (`fused=None`) takes the fused kernel for 4-D and 5-D inputs normalised over one
axis, which updates the moving variance with the *unbiased* batch variance; every other case (and
`fused=False`, and Keras 3) uses the biased one. Normalisation itself always uses the biased variance.
"""
import numbers

import numpy as np

from minigraph import initializers, ops, ops_activations, registry
from minigraph.layers import _vision_kernels as kernels
from minigraph.layers import _vision_ops as vops
from minigraph.layers._builtin import BuiltinLayer
from minigraph.layers._serialization import serialize_optional
from minigraph.layers.base import shape_str


class _AxisNormalization(BuiltinLayer):
    """What the normalizations share: an `axis` (an int or a list) checked against the input's rank."""

    def __init__(self, axis=-1, **kwargs):
        super().__init__(**kwargs)
        items = list(axis) if isinstance(axis, (list, tuple)) else [axis]
        if not items or not all(isinstance(a, (int, np.integer)) and not isinstance(a, bool) for a in items):
            raise self._error(f"argument axis must be an int or a list of ints, got {axis!r}")
        if len(set(items)) != len(items):
            raise self._error(f"argument axis has duplicate entries: {axis!r}")
        self.axis = list(int(a) for a in items) if isinstance(axis, (list, tuple)) else int(axis)
        self._axes = None  # the axis as non-negative ints, known once built

    def _resolve_axes(self, shape):
        """The axis list as non-negative ints for an input of `shape`, each checked."""
        rank = len(shape)
        items = self.axis if isinstance(self.axis, list) else [self.axis]
        out = []
        for a in items:
            if not -rank <= a < rank:
                raise self._error(f"argument axis={self.axis!r} is out of range for an input of rank {rank} "
                                  f"(shape {shape_str(shape)})")
            out.append(a % rank)
        if len(set(out)) != len(out):
            raise self._error(f"argument axis={self.axis!r} names the same axis twice for an input of rank {rank}")
        if 0 in out:
            raise self._error(f"argument axis={self.axis!r} includes the batch axis 0 (input shape "
                              f"{shape_str(shape)}); normalise over the feature axes")
        for a in out:
            if shape[a] is None:
                raise self._error(f"axis {a} of the input must be defined, got shape {shape_str(shape)}")
        return sorted(out)

    def _check_input(self, input_shape, min_rank=2):
        shape = self._input_shape(input_shape)
        if len(shape) < min_rank:
            raise self._error(f"cannot normalise an input of rank {len(shape)} (shape {shape_str(shape)}): it needs "
                              f"rank >= {min_rank}, the batch axis included")
        axes = self._resolve_axes(shape)
        if self._axes is not None:
            built = getattr(self, "_built_sizes", None)
            if len(shape) != self._rank or (built and any(shape[a] != n for a, n in zip(self._axes, built))):
                raise self._error(f"was built for inputs of rank {self._rank} with sizes {built} on axes "
                                  f"{self._axes}, got shape {shape_str(shape)}")
        return shape, axes

    def _remember_axes(self, shape, axes):
        self._axes = axes
        self._rank = len(shape)
        self._built_sizes = [shape[a] for a in axes]
        self.axis = list(axes)  # Keras's config holds the resolved axes once built

    def compute_output_shape(self, input_shape):
        return self._check_input(input_shape)[0]

    def _broadcast_shape(self):
        return tuple(self._built_sizes[self._axes.index(i)] if i in self._axes else 1 for i in range(self._rank))


class _ScaledNormalization(_AxisNormalization):
    """gamma and beta (scale and center), with their initializers, regularizers and constraints."""

    def __init__(self, axis=-1, epsilon=1e-3, center=True, scale=True, beta_initializer="zeros",
                 gamma_initializer="ones", beta_regularizer=None, gamma_regularizer=None, beta_constraint=None,
                 gamma_constraint=None, **kwargs):
        super().__init__(axis=axis, **kwargs)
        if isinstance(epsilon, bool) or not isinstance(epsilon, numbers.Real) or not epsilon > 0:
            raise self._error(f"argument epsilon must be a positive number, got {epsilon!r}")
        self.epsilon = float(epsilon)
        self.center = bool(center)
        self.scale = bool(scale)
        self.beta_initializer = self._lookup(initializers.get, beta_initializer, "beta_initializer")
        self.gamma_initializer = self._lookup(initializers.get, gamma_initializer, "gamma_initializer")
        self.beta_regularizer, self.gamma_regularizer = beta_regularizer, gamma_regularizer
        self.beta_constraint, self.gamma_constraint = beta_constraint, gamma_constraint
        self.gamma = self.beta = None

    def _add_scale_and_center(self, param_shape):
        if self.scale:
            self.gamma = self.add_weight("gamma", param_shape, initializer=self.gamma_initializer,
                                         regularizer=self.gamma_regularizer, constraint=self.gamma_constraint)
        if self.center:
            self.beta = self.add_weight("beta", param_shape, initializer=self.beta_initializer,
                                        regularizer=self.beta_regularizer, constraint=self.beta_constraint)

    def get_config(self):
        return {**super().get_config(), "axis": self.axis, "epsilon": self.epsilon, "center": self.center,
                "scale": self.scale,
                "beta_initializer": initializers.serialize(self.beta_initializer),
                "gamma_initializer": initializers.serialize(self.gamma_initializer),
                "beta_regularizer": serialize_optional(self.beta_regularizer),
                "gamma_regularizer": serialize_optional(self.gamma_regularizer),
                "beta_constraint": serialize_optional(self.beta_constraint),
                "gamma_constraint": serialize_optional(self.gamma_constraint)}


def _relu_after(out, relu, max_value):
    """The fused ReLU on the numpy reference path (an axis the kernels do not normalise over)."""
    return ops_activations.relu_general(out, max_value=max_value) if relu else out


@registry.register
class BatchNormalization(_ScaledNormalization):
    """Batch statistics in training (updating the moving averages in the same forward pass), the moving
    statistics in inference. A frozen layer (`trainable=False`) runs in inference mode, Keras's rule for
    fine-tuning."""

    def __init__(self, axis=-1, momentum=0.99, epsilon=1e-3, center=True, scale=True, beta_initializer="zeros",
                 gamma_initializer="ones", moving_mean_initializer="zeros", moving_variance_initializer="ones",
                 beta_regularizer=None, gamma_regularizer=None, beta_constraint=None, gamma_constraint=None,
                 synchronized=False, fused=None, renorm=False, renorm_clipping=None, renorm_momentum=0.99,
                 virtual_batch_size=None, adjustment=None, **kwargs):
        super().__init__(axis=axis, epsilon=epsilon, center=center, scale=scale, beta_initializer=beta_initializer,
                         gamma_initializer=gamma_initializer, beta_regularizer=beta_regularizer,
                         gamma_regularizer=gamma_regularizer, beta_constraint=beta_constraint,
                         gamma_constraint=gamma_constraint, **kwargs)
        if isinstance(momentum, bool) or not isinstance(momentum, numbers.Real) or not 0 <= momentum <= 1:
            raise self._error(f"argument momentum must be a number in [0, 1], got {momentum!r}")
        self.momentum = float(momentum)
        self.moving_mean_initializer = self._lookup(initializers.get, moving_mean_initializer,
                                                    "moving_mean_initializer")
        self.moving_variance_initializer = self._lookup(initializers.get, moving_variance_initializer,
                                                        "moving_variance_initializer")
        self.synchronized = bool(synchronized)  # one process: the batch is the whole batch either way
        if fused not in (None, True, False):
            raise self._error(f"argument fused must be None, True or False, got {fused!r}")
        self.fused = fused
        if renorm:
            raise self._error("argument renorm=True is not supported")
        for arg, value in (("renorm_clipping", renorm_clipping), ("virtual_batch_size", virtual_batch_size),
                           ("adjustment", adjustment)):
            if value is not None:
                raise self._error(f"argument {arg}={value!r} is not supported (only None)")
        self.moving_mean = self.moving_variance = None

    def _fused_rule(self, rank, axes):
        """Whether tf_keras would take its fused kernel (and so the unbiased moving variance)."""
        fusable = rank in (4, 5) and len(axes) == 1 and axes[0] in (1, rank - 1)
        if self.fused and not fusable:
            raise self._error(f"argument fused=True needs a 4-D or 5-D input normalised over axis 1 or the last "
                              f"axis, got rank {rank} and axis {self.axis!r}")
        return fusable if self.fused is None else self.fused

    def build(self, input_shape):
        shape, axes = self._check_input(input_shape)
        self._unbiased_moving_variance = self._fused_rule(len(shape), axes)
        self._remember_axes(shape, axes)
        # tf_keras: one axis gives (channels,) parameters; several give full-rank ones with ones elsewhere
        param_shape = (shape[axes[0]],) if len(axes) == 1 else self._broadcast_shape()
        self._add_scale_and_center(param_shape)
        self.moving_mean = self.add_weight("moving_mean", param_shape, initializer=self.moving_mean_initializer,
                                           trainable=False)
        self.moving_variance = self.add_weight("moving_variance", param_shape,
                                               initializer=self.moving_variance_initializer, trainable=False)
        self._reduce = tuple(i for i in range(len(shape)) if i not in axes)
        super().build(input_shape)

    def call(self, inputs, training=None):
        return self._normalize(inputs, training, relu=False)

    def _relu_fused_call(self, max_value):
        """A ReLU layer right after this one (capped at max_value, or not when None) runs inside its kernels:
        one pass over the activations fewer, forward and backward; not for a subclass with its own call."""
        if type(self).call is not BatchNormalization.call or self.activity_regularizer is not None:
            return None
        return lambda inputs, training: self._normalize(inputs, training, relu=True, max_value=max_value)

    def _normalize(self, inputs, training, relu, max_value=None):
        training = bool(training) and self.trainable
        # the kernels normalise over the last axis; other axes take the numpy reference
        last_axis = self._axes == [self._rank - 1]
        bshape = self._broadcast_shape()
        if not training:
            if last_axis:
                return kernels.batch_norm_last_axis_inference(inputs, self.moving_mean, self.moving_variance,
                                                              self.gamma, self.beta, epsilon=self.epsilon, relu=relu,
                                                              max_value=max_value)
            out = vops.scale_shift_normalize(inputs, self.moving_mean, self.moving_variance, self.gamma, self.beta,
                                             param_shape=bshape, epsilon=self.epsilon)
            return _relu_after(out, relu, max_value)
        stats = []
        if last_axis:
            out = kernels.batch_norm_last_axis(inputs, self.gamma, self.beta, epsilon=self.epsilon, stats=stats,
                                               relu=relu, max_value=max_value)
        else:
            out = vops.normalize(inputs, self.gamma, self.beta, axes=self._reduce, param_shape=bshape,
                                 epsilon=self.epsilon, stats=stats)
            out = _relu_after(out, relu, max_value)
        self._update_moving_averages(*stats, count=int(np.prod([np.shape(inputs)[a] for a in self._reduce])))
        return out

    def _update_moving_averages(self, mean, variance, count):
        if self._unbiased_moving_variance:
            variance = variance * variance.dtype.type(count / max(count - 1, 1))
        keep = np.asarray(self.momentum, dtype=self.moving_mean.dtype)
        for moving, batch in ((self.moving_mean, mean), (self.moving_variance, variance)):
            moving.assign(moving.value * keep + batch.reshape(moving.shape) * (1 - keep))

    def get_config(self):
        config = super().get_config()
        config["momentum"] = self.momentum
        config["moving_mean_initializer"] = initializers.serialize(self.moving_mean_initializer)
        config["moving_variance_initializer"] = initializers.serialize(self.moving_variance_initializer)
        if self.synchronized:
            config["synchronized"] = True
        if self.fused is not None:
            config["fused"] = self.fused
        return config

    @classmethod
    def from_config(cls, config, custom_objects=None):
        config = dict(config)
        if "synchronized" in config and "fused" not in config:
            config["fused"] = False  # a Keras 3 config: Keras 3 updates with the biased variance
        return super().from_config(config, custom_objects)


@registry.register
class LayerNormalization(_ScaledNormalization):
    """Normalises each sample over `axis` (its own mean and variance), then scales and shifts."""

    def build(self, input_shape):
        shape, axes = self._check_input(input_shape)
        self._remember_axes(shape, axes)
        self._add_scale_and_center(tuple(shape[a] for a in axes))
        super().build(input_shape)

    def call(self, inputs):
        return vops.normalize(inputs, self.gamma, self.beta, axes=tuple(self._axes),
                              param_shape=self._broadcast_shape(), epsilon=self.epsilon)


@registry.register
class GroupNormalization(_ScaledNormalization):
    """Splits the channels (`axis`) into `groups` and normalises each sample's group over it and the other
    feature axes."""

    def __init__(self, groups=32, axis=-1, epsilon=1e-3, center=True, scale=True, **kwargs):
        super().__init__(axis=axis, epsilon=epsilon, center=center, scale=scale, **kwargs)
        self.groups = self._positive_int(groups, "groups")
        if isinstance(self.axis, list):
            raise self._error(f"argument axis must be a single int, got {self.axis!r}")

    def _check_input(self, input_shape, min_rank=2):
        shape, axes = super()._check_input(input_shape, min_rank)
        channels = shape[axes[0]]
        if channels < self.groups or channels % self.groups:
            raise self._error(f"argument groups={self.groups} must divide the {channels} channels of axis "
                              f"{axes[0]} (input shape {shape_str(shape)})")
        return shape, axes

    def build(self, input_shape):
        shape, axes = self._check_input(input_shape)
        self._remember_axes(shape, axes)
        self.axis = axes[0]
        self._add_scale_and_center((shape[axes[0]],))
        super().build(input_shape)

    def call(self, inputs):
        shape = tuple(inputs.shape)
        a = self._axes[0]
        grouped = shape[:a] + (self.groups, shape[a] // self.groups) + shape[a + 1:]
        reduce = tuple(i for i in range(1, len(grouped)) if i != a)
        out = vops.normalize(ops.reshape(inputs, grouped), axes=reduce, epsilon=self.epsilon)
        out = ops.reshape(out, shape)
        bshape = self._broadcast_shape()
        if self.gamma is not None:
            out = ops.multiply(out, ops.reshape(self.gamma, bshape))
        if self.beta is not None:
            out = ops.add(out, ops.reshape(self.beta, bshape))
        return out

    def get_config(self):
        return {**super().get_config(), "groups": self.groups}


@registry.register
class UnitNormalization(_AxisNormalization):
    """Scales each sample to unit L2 norm over `axis`: x / sqrt(max(sum(x^2), 1e-12)), as tf.math.l2_normalize."""

    def build(self, input_shape):
        shape, axes = self._check_input(input_shape)
        self._remember_axes(shape, axes)
        super().build(input_shape)

    def call(self, inputs):
        squares = ops.sum(ops.square(inputs), axis=tuple(self._axes), keepdims=True)
        return ops.divide(inputs, ops.sqrt(ops.maximum(squares, np.asarray(1e-12, dtype=np.dtype(inputs.dtype)))))

    def get_config(self):
        return {**super().get_config(), "axis": self.axis}
