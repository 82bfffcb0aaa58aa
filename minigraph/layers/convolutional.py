"""2-D convolutions (channels_last): Conv2D and Conv2DTranspose."""
from minigraph import ops, registry
from minigraph.kernels import shapes
from minigraph.layers._builtin import KernelLayer
from minigraph.layers.base import check_axis


@registry.register
class Conv2D(KernelLayer):
    """`activation(conv2d(inputs, kernel) + bias)`, kernel (kh, kw, in_channels, filters)."""

    _in_axis = 2  # where the input channels sit in the kernel's shape

    def __init__(self, filters, kernel_size, strides=(1, 1), padding="valid", data_format=None,
                 dilation_rate=(1, 1), groups=1, activation=None, use_bias=True, **kwargs):
        super().__init__(activation=activation, use_bias=use_bias, **kwargs)
        self.filters = self._positive_int(filters, "filters")
        self.kernel_size = self._pair(kernel_size, "kernel_size")
        self.strides = self._pair(strides, "strides")
        self.padding = self._padding(padding)
        self.data_format = self._data_format(data_format)
        self.dilation_rate = self._pair(dilation_rate, "dilation_rate")
        if self.dilation_rate != (1, 1):
            raise self._error(f"argument dilation_rate={dilation_rate!r} is not supported (only 1)")
        if groups != 1:
            raise self._error(f"argument groups={groups!r} is not supported (only 1)")
        self.groups = 1

    def _kernel_shape(self, in_channels):
        return self.kernel_size + (in_channels, self.filters)

    def _output_hw(self, shape):
        return self._window_output_hw(shape, self.kernel_size, self.strides, self.padding, "kernel_size")

    def build(self, input_shape):
        self.compute_output_shape(input_shape)  # validates before any weight is made
        self._add_kernel_and_bias(self._kernel_shape(input_shape[-1]), self.filters)
        super().build(input_shape)

    def compute_output_shape(self, input_shape):
        shape = self._input_shape(input_shape, rank=4)
        self._check_defined(shape, -1, "channel")
        if self.kernel is not None:
            check_axis(self, shape, -1, self.kernel.shape[self._in_axis])
        return shape[:1] + self._output_hw(shape) + (self.filters,)

    def call(self, inputs):
        return self._activate(ops.conv2d, inputs, strides=self.strides, padding=self.padding)

    def get_config(self):
        return {**super().get_config(), "filters": self.filters, "kernel_size": self.kernel_size,
                "strides": self.strides, "padding": self.padding, "data_format": self.data_format,
                "dilation_rate": self.dilation_rate, "groups": self.groups, **self._kernel_config()}


@registry.register
class Conv2DTranspose(Conv2D):
    """The gradient of a Conv2D with respect to its input, used forward; kernel (kh, kw, filters, in_channels)."""

    _in_axis = 3

    def __init__(self, filters, kernel_size, strides=(1, 1), padding="valid", output_padding=None,
                 data_format=None, dilation_rate=(1, 1), activation=None, use_bias=True, **kwargs):
        super().__init__(filters, kernel_size, strides, padding, data_format=data_format,
                         dilation_rate=dilation_rate, activation=activation, use_bias=use_bias, **kwargs)
        self.output_padding = None
        if output_padding is not None:
            self.output_padding = self._pair(output_padding, "output_padding", minimum=0)
            if any(p >= s for p, s in zip(self.output_padding, self.strides)):
                raise self._error(f"argument output_padding {self.output_padding} must be smaller than strides "
                                  f"{self.strides}")

    def _kernel_shape(self, in_channels):
        return self.kernel_size + (self.filters, in_channels)

    def _output_hw(self, shape):
        pads = self.output_padding or (None, None)
        return tuple(None if n is None else shapes.deconv_output_length(n, k, s, self.padding, p)
                     for n, k, s, p in zip(shape[1:3], self.kernel_size, self.strides, pads))

    def call(self, inputs):
        return self._activate(ops.conv2d_transpose, inputs, strides=self.strides, padding=self.padding,
                              output_padding=self.output_padding)

    def get_config(self):
        return {**super().get_config(), "output_padding": self.output_padding}
