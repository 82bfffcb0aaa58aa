"""2-D pooling (channels_last): MaxPooling2D, GlobalMaxPooling2D, GlobalAveragePooling2D."""
from minigraph import ops, registry
from minigraph.layers._builtin import BuiltinLayer


@registry.register
class MaxPooling2D(BuiltinLayer):
    def __init__(self, pool_size=(2, 2), strides=None, padding="valid", data_format=None, **kwargs):
        super().__init__(**kwargs)
        self.pool_size = self._pair(pool_size, "pool_size")
        self.strides = self.pool_size if strides is None else self._pair(strides, "strides")
        self.padding = self._padding(padding)
        self.data_format = self._data_format(data_format)

    def compute_output_shape(self, input_shape):
        shape = self._input_shape(input_shape, rank=4)
        return shape[:1] + self._window_output_hw(shape, self.pool_size, self.strides, self.padding,
                                                  "pool_size") + shape[3:]

    def call(self, inputs):
        return ops.max_pool2d(inputs, self.pool_size, self.strides, self.padding)

    def get_config(self):
        return {**super().get_config(), "pool_size": self.pool_size, "padding": self.padding,
                "strides": self.strides, "data_format": self.data_format}


class _GlobalPooling2D(BuiltinLayer):
    """Reduces height and width with `_op`, (n, h, w, c) -> (n, c), or (n, 1, 1, c) with keepdims."""

    _op = None

    def __init__(self, data_format=None, keepdims=False, **kwargs):
        super().__init__(**kwargs)
        self.data_format = self._data_format(data_format)
        self.keepdims = bool(keepdims)

    def compute_output_shape(self, input_shape):
        shape = self._input_shape(input_shape, rank=4)
        return (shape[0], 1, 1, shape[3]) if self.keepdims else (shape[0], shape[3])

    def call(self, inputs):
        out = self._op(inputs)
        return ops.reshape(out, (out.shape[0], 1, 1, out.shape[1])) if self.keepdims else out

    def get_config(self):
        return {**super().get_config(), "data_format": self.data_format, "keepdims": self.keepdims}


@registry.register
class GlobalMaxPooling2D(_GlobalPooling2D):
    _op = staticmethod(ops.global_max_pool2d)


@registry.register
class GlobalAveragePooling2D(_GlobalPooling2D):
    _op = staticmethod(ops.global_avg_pool2d)
