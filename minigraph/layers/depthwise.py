"""Depthwise and separable convolutions (channels_last): DepthwiseConv2D and SeparableConv2D.

A depthwise kernel is (kh, kw, in_channels, depth_multiplier), Keras's layout: output channel
`c * depth_multiplier + m` is input channel c convolved with kernel[:, :, c, m]. SeparableConv2D follows it
with a 1x1 convolution, pointwise kernel (1, 1, in_channels * depth_multiplier, filters).
"""
from minigraph import activations, initializers, ops, registry
from minigraph.layers import _vision_kernels, _vision_ops
from minigraph.layers._builtin import BuiltinLayer
from minigraph.layers._serialization import serialize_optional
from minigraph.layers.base import check_axis


class _DepthwiseBase(BuiltinLayer):
    """The depthwise part both layers share: window arguments, the depthwise kernel, the bias."""

    def _setup(self, kernel_size, strides, padding, depth_multiplier, data_format, dilation_rate, groups,
               activation, use_bias, depthwise_initializer, bias_initializer, depthwise_regularizer,
               bias_regularizer, depthwise_constraint, bias_constraint):
        self.kernel_size = self._pair(kernel_size, "kernel_size")
        self.strides = self._pair(strides, "strides")
        mode = str(padding).lower()
        if mode not in ("valid", "same"):
            raise self._error(f"padding must be one of 'valid', 'same', got {padding!r}")
        self.padding = mode
        self.depth_multiplier = self._positive_int(depth_multiplier, "depth_multiplier")
        self.data_format = self._data_format(data_format)
        self.dilation_rate = self._pair(dilation_rate, "dilation_rate")
        if max(self.strides) > 1 and max(self.dilation_rate) > 1:
            raise self._error(f"strides {self.strides} > 1 cannot be combined with dilation_rate "
                              f"{self.dilation_rate} > 1 (as in Keras)")
        if groups != 1:
            raise self._error(f"argument groups={groups!r} is not supported (only 1)")
        self.groups = 1
        self.activation = self._lookup(activations.get, activation, "activation")
        self.use_bias = bool(use_bias)
        self.depthwise_initializer = self._lookup(initializers.get, depthwise_initializer, "depthwise_initializer")
        self.bias_initializer = self._lookup(initializers.get, bias_initializer, "bias_initializer")
        self.depthwise_regularizer, self.bias_regularizer = depthwise_regularizer, bias_regularizer
        self.depthwise_constraint, self.bias_constraint = depthwise_constraint, bias_constraint
        self.depthwise_kernel = self.bias = None

    def _output_channels(self, in_channels):
        return in_channels * self.depth_multiplier

    def compute_output_shape(self, input_shape):
        shape = self._input_shape(input_shape, rank=4)
        self._check_defined(shape, -1, "channel")
        if self.depthwise_kernel is not None:
            check_axis(self, shape, -1, self.depthwise_kernel.shape[2])
        extent = tuple((k - 1) * d + 1 for k, d in zip(self.kernel_size, self.dilation_rate))
        dims = self._window_output_dims(shape, extent, self.strides, self.padding, "kernel_size (dilated)")
        return shape[:1] + dims + (self._output_channels(shape[-1]),)

    def _add_depthwise_kernel(self, in_channels):
        self.depthwise_kernel = self.add_weight(
            "depthwise_kernel", self.kernel_size + (in_channels, self.depth_multiplier),
            initializer=self.depthwise_initializer, regularizer=self.depthwise_regularizer,
            constraint=self.depthwise_constraint)

    def _add_bias(self, units):
        if self.use_bias:
            self.bias = self.add_weight("bias", (units,), initializer=self.bias_initializer,
                                        regularizer=self.bias_regularizer, constraint=self.bias_constraint)

    def _depthwise(self, inputs, bias=None, relu=False):
        """The depthwise convolution (+ bias), with a ReLU fused when asked; the compiled kernel for windows
        it covers, the numpy reference beyond."""
        args = dict(strides=self.strides, padding=self.padding, dilation_rate=self.dilation_rate)
        if max(self.kernel_size) <= _vision_kernels.MAX_DEPTHWISE_KERNEL:
            return _vision_kernels.depthwise_conv2d(inputs, self.depthwise_kernel, bias, relu=relu, **args)
        out = _vision_ops.depthwise_conv2d(inputs, self.depthwise_kernel, bias, **args)
        return ops.relu(out) if relu else out

    def get_config(self):
        return {**super().get_config(), "kernel_size": self.kernel_size, "strides": self.strides,
                "padding": self.padding, "data_format": self.data_format, "dilation_rate": self.dilation_rate,
                "groups": self.groups, "activation": activations.serialize(self.activation),
                "use_bias": self.use_bias, "bias_initializer": initializers.serialize(self.bias_initializer),
                "bias_regularizer": serialize_optional(self.bias_regularizer), "activity_regularizer": None,
                "bias_constraint": serialize_optional(self.bias_constraint),
                "depth_multiplier": self.depth_multiplier,
                "depthwise_initializer": initializers.serialize(self.depthwise_initializer),
                "depthwise_regularizer": serialize_optional(self.depthwise_regularizer),
                "depthwise_constraint": serialize_optional(self.depthwise_constraint)}


@registry.register
class DepthwiseConv2D(_DepthwiseBase):
    """`activation(depthwise_conv2d(inputs, depthwise_kernel) + bias)`."""

    def __init__(self, kernel_size, strides=(1, 1), padding="valid", depth_multiplier=1, data_format=None,
                 dilation_rate=(1, 1), activation=None, use_bias=True, depthwise_initializer="glorot_uniform",
                 bias_initializer="zeros", depthwise_regularizer=None, bias_regularizer=None,
                 depthwise_constraint=None, bias_constraint=None, groups=1, **kwargs):
        super().__init__(**kwargs)
        self._setup(kernel_size, strides, padding, depth_multiplier, data_format, dilation_rate, groups,
                    activation, use_bias, depthwise_initializer, bias_initializer, depthwise_regularizer,
                    bias_regularizer, depthwise_constraint, bias_constraint)

    def build(self, input_shape):
        shape = self.compute_output_shape(input_shape)  # validates before any weight is made
        self._add_depthwise_kernel(input_shape[-1])
        self._add_bias(shape[-1])
        super().build(input_shape)

    def call(self, inputs):
        if self.activation is ops.relu:
            return self._depthwise(inputs, self.bias, relu=True)
        return self.activation(self._depthwise(inputs, self.bias))


@registry.register
class SeparableConv2D(_DepthwiseBase):
    """A depthwise convolution, then a 1x1 convolution to `filters` channels, then bias and activation."""

    def __init__(self, filters, kernel_size, strides=(1, 1), padding="valid", data_format=None, dilation_rate=(1, 1),
                 depth_multiplier=1, activation=None, use_bias=True, depthwise_initializer="glorot_uniform",
                 pointwise_initializer="glorot_uniform", bias_initializer="zeros", depthwise_regularizer=None,
                 pointwise_regularizer=None, bias_regularizer=None, depthwise_constraint=None,
                 pointwise_constraint=None, bias_constraint=None, groups=1, kernel_initializer="glorot_uniform",
                 kernel_regularizer=None, kernel_constraint=None, **kwargs):
        super().__init__(**kwargs)
        self._setup(kernel_size, strides, padding, depth_multiplier, data_format, dilation_rate, groups,
                    activation, use_bias, depthwise_initializer, bias_initializer, depthwise_regularizer,
                    bias_regularizer, depthwise_constraint, bias_constraint)
        self.filters = self._positive_int(filters, "filters")
        self.pointwise_initializer = self._lookup(initializers.get, pointwise_initializer, "pointwise_initializer")
        self.pointwise_regularizer, self.pointwise_constraint = pointwise_regularizer, pointwise_constraint
        # in Keras's config (from its Conv base) but unused by the layer
        self.kernel_initializer = self._lookup(initializers.get, kernel_initializer, "kernel_initializer")
        self.kernel_regularizer, self.kernel_constraint = kernel_regularizer, kernel_constraint
        self.pointwise_kernel = None

    def _output_channels(self, in_channels):
        return self.filters

    def build(self, input_shape):
        self.compute_output_shape(input_shape)  # validates before any weight is made
        self._add_depthwise_kernel(input_shape[-1])
        self.pointwise_kernel = self.add_weight(
            "pointwise_kernel", (1, 1, input_shape[-1] * self.depth_multiplier, self.filters),
            initializer=self.pointwise_initializer, regularizer=self.pointwise_regularizer,
            constraint=self.pointwise_constraint)
        self._add_bias(self.filters)
        super().build(input_shape)

    def call(self, inputs):
        mid = self._depthwise(inputs)
        if self.activation is ops.relu:
            return ops.conv2d(mid, self.pointwise_kernel, self.bias, relu=True)
        return self.activation(ops.conv2d(mid, self.pointwise_kernel, self.bias))

    def get_config(self):
        return {**super().get_config(), "filters": self.filters,
                "kernel_initializer": initializers.serialize(self.kernel_initializer),
                "kernel_regularizer": serialize_optional(self.kernel_regularizer),
                "kernel_constraint": serialize_optional(self.kernel_constraint),
                "pointwise_initializer": initializers.serialize(self.pointwise_initializer),
                "pointwise_regularizer": serialize_optional(self.pointwise_regularizer),
                "pointwise_constraint": serialize_optional(self.pointwise_constraint)}
