"""Convolutions (channels_last) on one rank-generic base: Conv1D, Conv2D, Conv1DTranspose and Conv2DTranspose.

The kernels are 2-D; a 1-D convolution runs as a 2-D one over images one row high, with its kernel of
shape (k, in, out) seen as (1, k, in, out) (a transpose's (k, out, in) as (1, k, out, in)).
"""
import numpy as np

from minigraph import ops, registry
from minigraph.kernels import shapes
from minigraph.layers import _vision_ops
from minigraph.layers._builtin import KernelLayer
from minigraph.layers.base import check_axis, shape_str


class BaseConv(KernelLayer):
    """A convolution over `rank` spatial axes: `activation(conv(inputs, kernel) + bias)`, with the kernel
    of shape kernel_size + (in_channels, filters)."""

    rank = None
    _in_axis = -2  # where the input channels sit in the kernel's shape
    _paddings = ("valid", "same")
    _groups = True  # groups (not the transposes)

    def __init__(self, filters, kernel_size, strides=1, padding="valid", data_format=None, dilation_rate=1,
                 groups=1, activation=None, use_bias=True, **kwargs):
        super().__init__(activation=activation, use_bias=use_bias, **kwargs)
        self.filters = self._positive_int(filters, "filters")
        self.kernel_size = self._tuple(kernel_size, "kernel_size", self.rank)
        self.strides = self._tuple(strides, "strides", self.rank)
        self.padding = self._conv_padding(padding)
        self.data_format = self._data_format(data_format)
        self.dilation_rate = self._tuple(dilation_rate, "dilation_rate", self.rank)
        if self.dilation_rate != (1,) * self.rank:
            if max(self.strides) > 1:
                raise self._error(f"strides {self.strides} > 1 cannot be combined with dilation_rate "
                                  f"{self.dilation_rate} > 1 (as in Keras)")
        self.groups = self._positive_int(groups, "groups")
        if self.groups != 1 and not self._groups:
            raise self._error(f"argument groups={groups!r} is not supported (only 1)")
        if self.filters % self.groups:
            raise self._error(f"argument groups={self.groups} must divide filters={self.filters}")

    def _conv_padding(self, value):
        mode = str(value).lower()
        if mode not in self._paddings:
            raise self._error(f"padding must be one of {', '.join(map(repr, self._paddings))}, got {value!r}")
        return mode

    def _kernel_shape(self, in_channels):
        return self.kernel_size + (in_channels // self.groups, self.filters)

    @property
    def _extent(self):
        """The dilated kernel's reach along each axis."""
        return tuple((k - 1) * d + 1 for k, d in zip(self.kernel_size, self.dilation_rate))

    def _output_dims(self, shape):
        return self._window_output_dims(shape, self._extent, self.strides, self.padding, "kernel_size")

    def _dilated(self, kernel):
        """A 2-D kernel with the dilation as zeros spread between its taps (itself when not dilated)."""
        if self.dilation_rate == (1,) * self.rank:
            return kernel
        return _vision_ops.dilate_kernel(kernel, (1,) * (2 - self.rank) + self.dilation_rate)

    def _grouped_conv2d(self, inputs, kernel, strides, padding):
        """conv2d with a dilated kernel and channel groups (bias and activation after), from the plain op:
        the dilation as zeros spread into the kernel, each group of channels convolved on its own."""
        kernel = self._dilated(kernel)
        if self.groups == 1:
            out = ops.conv2d(inputs, kernel, None, strides=strides, padding=padding)
        else:
            cin, cout = inputs.shape[-1] // self.groups, self.filters // self.groups
            out = ops.concatenate([ops.conv2d(_vision_ops.channel_slice(inputs, g * cin, (g + 1) * cin),
                                              _vision_ops.channel_slice(kernel, g * cout, (g + 1) * cout),
                                              None, strides=strides, padding=padding)
                                   for g in range(self.groups)], axis=-1)
        return self.activation(out if self.bias is None else ops.bias_add(out, self.bias))

    @property
    def _plain(self):
        return self.dilation_rate == (1,) * self.rank and self.groups == 1

    def build(self, input_shape):
        self.compute_output_shape(input_shape)  # validates before any weight is made
        self._add_kernel_and_bias(self._kernel_shape(input_shape[-1]), self.filters)
        super().build(input_shape)

    def compute_output_shape(self, input_shape):
        shape = self._input_shape(input_shape, rank=self.rank + 2)
        self._check_defined(shape, -1, "channel")
        if shape[-1] % self.groups:
            raise self._error(f"argument groups={self.groups} must divide the {shape[-1]} input channels (input "
                              f"shape {shape_str(shape)})")
        if self.kernel is not None:
            check_axis(self, shape, -1, self.kernel.shape[self._in_axis] * self.groups)
        return shape[:1] + self._output_dims(shape) + (self.filters,)

    def get_config(self):
        return {**super().get_config(), "filters": self.filters, "kernel_size": self.kernel_size,
                "strides": self.strides, "padding": self.padding, "data_format": self.data_format,
                "dilation_rate": self.dilation_rate, "groups": self.groups, **self._kernel_config()}


@registry.register
class Conv1D(BaseConv):
    """A convolution along the steps of (batch, steps, channels); padding 'causal' pads before the data only,
    so output step t sees input steps up to t."""

    rank = 1
    _paddings = ("valid", "same", "causal")

    def call(self, inputs):
        k, = self.kernel_size
        n, steps, channels = inputs.shape
        reach = (k - 1) * self.dilation_rate[0]
        if self.padding == "causal" and reach > 0:
            zeros = np.zeros((n, reach, channels), dtype=inputs.dtype)
            inputs = ops.concatenate([zeros, inputs], axis=1)
            steps += reach
        images = ops.reshape(inputs, (n, 1, steps, channels))
        kernel = ops.reshape(self.kernel, (1,) + tuple(self.kernel.shape))
        padding = "valid" if self.padding == "causal" else self.padding
        if self._plain:
            out = self.activation(ops.conv2d(images, kernel, self.bias, strides=(1,) + self.strides, padding=padding))
        else:
            out = self._grouped_conv2d(images, kernel, (1,) + self.strides, padding)
        return ops.reshape(out, (n,) + tuple(out.shape[2:]))


@registry.register
class Conv2D(BaseConv):
    """`activation(conv2d(inputs, kernel) + bias)`, kernel (kh, kw, in_channels, filters)."""

    rank = 2

    def call(self, inputs):
        if not self._plain:
            return self._grouped_conv2d(inputs, self.kernel, self.strides, self.padding)
        return self._activate(ops.conv2d, inputs, strides=self.strides, padding=self.padding)


class BaseConvTranspose(BaseConv):
    """The gradient of a convolution with respect to its input, used forward; kernel kernel_size + (filters,
    in_channels).  A dilated transpose is the plain one with the dilated kernel (zeros between the taps)."""

    _in_axis = -1
    _groups = False

    def __init__(self, filters, kernel_size, strides=1, padding="valid", output_padding=None, data_format=None,
                 dilation_rate=1, activation=None, use_bias=True, **kwargs):
        super().__init__(filters, kernel_size, strides, padding, data_format=data_format,
                         dilation_rate=dilation_rate, activation=activation, use_bias=use_bias, **kwargs)
        self.output_padding = None
        if output_padding is not None:
            self.output_padding = self._tuple(output_padding, "output_padding", self.rank, minimum=0)
            if any(p >= s for p, s in zip(self.output_padding, self.strides)):
                raise self._error(f"argument output_padding {self.output_padding} must be smaller than strides "
                                  f"{self.strides}")

    def _kernel_shape(self, in_channels):
        return self.kernel_size + (self.filters, in_channels)

    def _output_dims(self, shape):
        pads = self.output_padding or (None,) * self.rank
        return tuple(None if n is None else shapes.deconv_output_length(n, k, s, self.padding, p)
                     for n, k, s, p in zip(shape[1:1 + self.rank], self._extent, self.strides, pads))

    def get_config(self):
        return {**super().get_config(), "output_padding": self.output_padding}


@registry.register
class Conv1DTranspose(BaseConvTranspose):
    """The transpose of Conv1D over (batch, steps, channels); kernel (k, filters, in_channels)."""

    rank = 1

    def call(self, inputs):
        n, steps, channels = inputs.shape
        images = ops.reshape(inputs, (n, 1, steps, channels))
        kernel = self._dilated(ops.reshape(self.kernel, (1,) + tuple(self.kernel.shape)))
        output_padding = None if self.output_padding is None else (0,) + self.output_padding
        out = ops.conv2d_transpose(images, kernel, self.bias, strides=(1,) + self.strides, padding=self.padding,
                                   output_padding=output_padding, relu=self.activation is ops.relu)
        if self.activation is not ops.relu:
            out = self.activation(out)
        return ops.reshape(out, (n,) + tuple(out.shape[2:]))


@registry.register
class Conv2DTranspose(BaseConvTranspose):
    """The transpose of Conv2D; kernel (kh, kw, filters, in_channels)."""

    rank = 2

    def __init__(self, filters, kernel_size, strides=(1, 1), padding="valid", output_padding=None,
                 data_format=None, dilation_rate=(1, 1), activation=None, use_bias=True, **kwargs):
        super().__init__(filters, kernel_size, strides, padding, output_padding, data_format=data_format,
                         dilation_rate=dilation_rate, activation=activation, use_bias=use_bias, **kwargs)

    def call(self, inputs):
        return self._activate(ops.conv2d_transpose, inputs, kernel=self._dilated(self.kernel), strides=self.strides,
                              padding=self.padding, output_padding=self.output_padding)
