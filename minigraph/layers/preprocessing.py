"""Preprocessing layers: Rescaling, Resizing, CenterCrop, Normalization (with adapt()).

Image layers take (batch, height, width, channels); resizing is TensorFlow's half-pixel bilinear or
nearest-neighbour rule, as tf.image.resize, which these Keras layers call.
"""
import numbers

import numpy as np

from minigraph import ops, registry
from minigraph.layers import _vision_ops
from minigraph.layers._builtin import BuiltinLayer
from minigraph.layers.base import shape_str

_RESIZE_WEIGHTS = {"bilinear": _vision_ops.bilinear_weights, "nearest": _vision_ops.nearest_weights}


def _aspect_crop(height, width, target_height, target_width):
    """tf_keras's smart_resize crop: the centred box of the target's aspect ratio, (top, left, h, w)."""
    crop_height = min(height, int(np.float32(width * target_height) / np.float32(target_width)))
    crop_width = min(width, int(np.float32(height * target_width) / np.float32(target_height)))
    return (int(np.float32(height - crop_height) / 2), int(np.float32(width - crop_width) / 2),
            crop_height, crop_width)


def _resize(inputs, height, width, interpolation):
    h, w = inputs.shape[1:3]
    if (h, w) == (height, width):
        return inputs
    weights = _RESIZE_WEIGHTS[interpolation]
    return _vision_ops.resize(inputs, weights(h, height), weights(w, width))


def _crop_box(inputs, top, left, height, width):
    h, w = inputs.shape[1:3]
    if (top, left, height, width) == (0, 0, h, w):
        return inputs
    return _vision_ops.crop(inputs, ((0, 0), (top, h - top - height), (left, w - left - width), (0, 0)))


class _ImageSize(BuiltinLayer):
    def _target(self, height, width):
        self.height = self._positive_int(height, "height")
        self.width = self._positive_int(width, "width")

    def compute_output_shape(self, input_shape):
        shape = self._input_shape(input_shape, rank=4)
        return shape[:1] + (self.height, self.width) + shape[3:]


@registry.register
class Rescaling(BuiltinLayer):
    """`inputs * scale + offset` (integer images become float32 first)."""

    def __init__(self, scale, offset=0.0, **kwargs):
        super().__init__(**kwargs)
        for arg, value in (("scale", scale), ("offset", offset)):
            if isinstance(value, bool) or not isinstance(value, numbers.Real):
                raise self._error(f"argument {arg} must be a number, got {value!r}")
        self.scale, self.offset = float(scale), float(offset)

    def compute_output_shape(self, input_shape):
        return self._input_shape(input_shape)

    def call(self, inputs):
        if np.dtype(inputs.dtype).kind != "f":  # integer images: in the layer's float dtype, as Keras
            inputs = ops.cast(inputs, self.dtype)
        dtype = np.dtype(inputs.dtype).type
        return ops.add(ops.multiply(inputs, dtype(self.scale)), dtype(self.offset))

    def get_config(self):
        return {**super().get_config(), "scale": self.scale, "offset": self.offset}


@registry.register
class Resizing(_ImageSize):
    """Resizes images to (height, width); with crop_to_aspect_ratio, first crops the centred box of the
    target's aspect ratio so nothing is distorted."""

    def __init__(self, height, width, interpolation="bilinear", crop_to_aspect_ratio=False, **kwargs):
        super().__init__(**kwargs)
        self._target(height, width)
        if interpolation not in _RESIZE_WEIGHTS:
            raise self._error(f"argument interpolation={interpolation!r} is not supported (one of "
                              f"{', '.join(map(repr, _RESIZE_WEIGHTS))})")
        self.interpolation = interpolation
        self.crop_to_aspect_ratio = bool(crop_to_aspect_ratio)

    def call(self, inputs):
        if self.crop_to_aspect_ratio:
            inputs = _crop_box(inputs, *_aspect_crop(*inputs.shape[1:3], self.height, self.width))
        return _resize(inputs, self.height, self.width, self.interpolation)

    def get_config(self):
        return {**super().get_config(), "height": self.height, "width": self.width,
                "interpolation": self.interpolation, "crop_to_aspect_ratio": self.crop_to_aspect_ratio}


@registry.register
class CenterCrop(_ImageSize):
    """The centred (height, width) box; an image smaller than that is resized to it instead (tf_keras's
    smart_resize), as Keras does."""

    def __init__(self, height, width, **kwargs):
        super().__init__(**kwargs)
        self._target(height, width)

    def call(self, inputs):
        h, w = inputs.shape[1:3]
        if h >= self.height and w >= self.width:
            return _crop_box(inputs, (h - self.height) // 2, (w - self.width) // 2, self.height, self.width)
        inputs = _crop_box(inputs, *_aspect_crop(h, w, self.height, self.width))
        return _resize(inputs, self.height, self.width, "bilinear")

    def get_config(self):
        return {**super().get_config(), "height": self.height, "width": self.width}


@registry.register
class Normalization(BuiltinLayer):
    """`(x - mean) / max(sqrt(variance), 1e-7)` per index of `axis` (or the inverse with invert=True), from
    the given mean and variance or from the statistics `adapt(data)` computes (then kept as the
    non-trainable weights mean, variance and count, as Keras)."""

    _epsilon = 1e-7  # keras.backend.epsilon()

    def __init__(self, axis=-1, mean=None, variance=None, invert=False, **kwargs):
        super().__init__(**kwargs)
        if axis is None:
            self.axis = ()
        else:
            items = tuple(axis) if isinstance(axis, (list, tuple)) else (axis,)
            if not all(isinstance(a, (int, np.integer)) and not isinstance(a, bool) for a in items):
                raise self._error(f"argument axis must be None, an int or a tuple of ints, got {axis!r}")
            self.axis = tuple(int(a) for a in items)
        if (mean is None) != (variance is None):
            raise self._error("give both mean and variance, or neither (then call adapt())")
        self.input_mean = None if mean is None else np.asarray(mean, dtype=np.float32)
        self.input_variance = None if variance is None else np.asarray(variance, dtype=np.float32)
        self.invert = bool(invert)
        self.mean = self.variance = self.count = None

    def _keep_axes(self, shape):
        rank = len(shape)
        out = []
        for a in self.axis:
            if not -rank <= a < rank or a % rank == 0:
                raise self._error(f"argument axis={self.axis!r} must name feature axes of an input of rank {rank} "
                                  f"(shape {shape_str(shape)}), not the batch axis")
            out.append(a % rank)
        for a in out:
            if shape[a] is None:
                raise self._error(f"axis {a} of the input must be defined, got shape {shape_str(shape)}")
        return sorted(out)

    def _broadcast(self, shape):
        keep = self._keep_axes(shape)
        return tuple(shape[i] if i in keep else 1 for i in range(len(shape)))

    def compute_output_shape(self, input_shape):
        shape = self._input_shape(input_shape)
        self._keep_axes(shape)
        return shape

    def build(self, input_shape):
        shape = self._input_shape(input_shape)
        keep = self._keep_axes(shape)
        self._bshape = self._broadcast(shape)
        if self.input_mean is None:
            stats_shape = tuple(shape[a] for a in keep)
            self.mean = self.add_weight("mean", stats_shape, initializer="zeros", trainable=False)
            self.variance = self.add_weight("variance", stats_shape, initializer="ones", trainable=False)
            self.count = self.add_weight("count", (), dtype="int64", initializer="zeros", trainable=False)
        else:
            for arg, value in (("mean", self.input_mean), ("variance", self.input_variance)):
                try:
                    np.broadcast_to(value, self._bshape)
                except ValueError:
                    raise self._error(f"argument {arg} of shape {value.shape} does not broadcast to "
                                      f"{self._bshape}, the input's axis {self.axis}") from None
        super().build(input_shape)

    def adapt(self, data, batch_size=None, steps=None):
        """The mean and variance of `data` over every axis but `axis` (the whole data set at once)."""
        if self.input_mean is not None:
            raise self._error("adapt() needs a layer made without mean and variance")
        data = np.asarray(data, dtype=np.float64)
        if not self.built:
            self._maybe_build((None,) + data.shape[1:])
        keep = self._keep_axes(data.shape)
        reduce = tuple(i for i in range(data.ndim) if i not in keep)
        stats_shape = self.mean.shape
        self.mean.assign(data.mean(axis=reduce).reshape(stats_shape))
        self.variance.assign(data.var(axis=reduce).reshape(stats_shape))
        self.count.assign(int(np.prod([data.shape[i] for i in reduce])))

    def _stats(self, dtype):
        mean = self.input_mean if self.mean is None else self.mean.value
        variance = self.input_variance if self.variance is None else self.variance.value
        std = np.maximum(np.sqrt(np.asarray(variance, dtype=dtype)), dtype.type(self._epsilon))
        return self._shaped(np.asarray(mean, dtype=dtype)), self._shaped(std)

    def _shaped(self, a):
        """A statistic over the kept axes (or anything broadcastable) in the input's broadcast shape."""
        if a.size == int(np.prod(self._bshape)):
            return a.reshape(self._bshape)
        return np.broadcast_to(a, self._bshape)

    def call(self, inputs):
        mean, std = self._stats(np.dtype(inputs.dtype))
        if self.invert:
            return ops.add(ops.multiply(inputs, std), mean)
        return ops.divide(ops.subtract(inputs, mean), std)

    def get_config(self):
        def listed(a):
            return None if a is None else a.tolist()
        return {**super().get_config(), "axis": self.axis, "invert": self.invert,
                "mean": listed(self.input_mean), "variance": listed(self.input_variance)}
