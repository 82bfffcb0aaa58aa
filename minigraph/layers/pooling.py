"""Pooling (channels_last) on rank-generic bases: MaxPooling1D/2D, AveragePooling1D/2D and the global max
and average pools.

The kernels are 2-D; a 1-D pool runs as a 2-D one over images one row high.
"""
import numpy as np

from minigraph import ops, registry
from minigraph.layers import _vision_kernels
from minigraph.layers._builtin import BuiltinLayer


class BasePooling(BuiltinLayer):
    """A window slid over `rank` spatial axes, reduced with the 2-D op `_op`."""

    rank = None
    _op = None

    def __init__(self, pool_size=2, strides=None, padding="valid", data_format=None, **kwargs):
        super().__init__(**kwargs)
        self.pool_size = self._tuple(pool_size, "pool_size", self.rank)
        self.strides = self.pool_size if strides is None else self._tuple(strides, "strides", self.rank)
        self.padding = self._padding(padding)
        self.data_format = self._data_format(data_format)

    def compute_output_shape(self, input_shape):
        shape = self._input_shape(input_shape, rank=self.rank + 2)
        return shape[:1] + self._window_output_dims(shape, self.pool_size, self.strides, self.padding,
                                                    "pool_size") + shape[-1:]

    def call(self, inputs):
        if self.rank == 2:
            return self._op(inputs, self.pool_size, self.strides, self.padding)
        n, steps, channels = inputs.shape
        out = self._op(ops.reshape(inputs, (n, 1, steps, channels)), (1,) + self.pool_size, (1,) + self.strides,
                       self.padding)
        return ops.reshape(out, (n,) + tuple(out.shape[2:]))

    def get_config(self):
        return {**super().get_config(), "pool_size": self.pool_size, "padding": self.padding,
                "strides": self.strides, "data_format": self.data_format}


@registry.register
class MaxPooling1D(BasePooling):
    rank = 1
    _op = staticmethod(ops.max_pool2d)


@registry.register
class MaxPooling2D(BasePooling):
    rank = 2
    _op = staticmethod(ops.max_pool2d)

    def __init__(self, pool_size=(2, 2), strides=None, padding="valid", data_format=None, **kwargs):
        super().__init__(pool_size, strides, padding, data_format, **kwargs)


@registry.register
class AveragePooling1D(BasePooling):
    """The mean of each window's steps inside the input (padding is not counted, as Keras)."""

    rank = 1
    _op = staticmethod(_vision_kernels.avg_pool2d)


@registry.register
class AveragePooling2D(BasePooling):
    """The mean of each window's cells inside the input (padding is not counted, as Keras)."""

    rank = 2
    _op = staticmethod(_vision_kernels.avg_pool2d)

    def __init__(self, pool_size=(2, 2), strides=None, padding="valid", data_format=None, **kwargs):
        super().__init__(pool_size, strides, padding, data_format, **kwargs)


class BaseGlobalPooling(BuiltinLayer):
    """Reduces the `rank` spatial axes with the 2-D op `_op`: (n, *spatial, c) -> (n, c), or keeps them as
    ones with keepdims."""

    rank = None
    _op = None

    def __init__(self, data_format=None, keepdims=False, **kwargs):
        super().__init__(**kwargs)
        self.data_format = self._data_format(data_format)
        self.keepdims = bool(keepdims)

    def compute_output_shape(self, input_shape):
        shape = self._input_shape(input_shape, rank=self.rank + 2)
        return (shape[0],) + (1,) * self.rank + (shape[-1],) if self.keepdims else (shape[0], shape[-1])

    def call(self, inputs):
        images = inputs if self.rank == 2 else ops.reshape(inputs, (inputs.shape[0], 1) + tuple(inputs.shape[1:]))
        out = self._op(images)
        return ops.reshape(out, (out.shape[0],) + (1,) * self.rank + (out.shape[1],)) if self.keepdims else out

    def get_config(self):
        return {**super().get_config(), "data_format": self.data_format, "keepdims": self.keepdims}


@registry.register
class GlobalMaxPooling1D(BaseGlobalPooling):
    rank = 1
    _op = staticmethod(ops.global_max_pool2d)


@registry.register
class GlobalAveragePooling1D(BaseGlobalPooling):
    """The mean over the steps; with a mask (Embedding(mask_zero=True), Masking), over the unmasked ones."""

    rank = 1
    _op = staticmethod(ops.global_avg_pool2d)
    supports_masking = True

    def call(self, inputs, mask=None):
        if mask is None:
            return super().call(inputs)
        keep = np.asarray(getattr(mask, "data", mask), dtype=inputs.dtype)[..., None]
        mean = ops.sum(inputs * keep, axis=1, keepdims=self.keepdims) / np.maximum(
            keep.sum(axis=1, keepdims=self.keepdims), 1)
        return mean

    def compute_mask(self, inputs, mask=None):
        return None

    def _produces_mask(self, args, mask):
        return False  # the mask is used up here


@registry.register
class GlobalMaxPooling2D(BaseGlobalPooling):
    rank = 2
    _op = staticmethod(ops.global_max_pool2d)


@registry.register
class GlobalAveragePooling2D(BaseGlobalPooling):
    rank = 2
    _op = staticmethod(ops.global_avg_pool2d)
