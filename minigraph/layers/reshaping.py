"""Reshaping layers on images (channels_last): UpSampling2D, ZeroPadding2D, Cropping2D."""

from minigraph import ops, registry
from minigraph.layers import _vision_ops
from minigraph.layers._builtin import BuiltinLayer, _is_integral
from minigraph.layers.base import shape_str

_INTERPOLATIONS = ("nearest", "bilinear")


@registry.register
class UpSampling2D(BuiltinLayer):
    """Scales rows by `size[0]` and columns by `size[1]`: repeats (nearest) or TensorFlow's half-pixel
    bilinear resize."""

    def __init__(self, size=(2, 2), data_format=None, interpolation="nearest", **kwargs):
        super().__init__(**kwargs)
        self.size = self._pair(size, "size")
        self.data_format = self._data_format(data_format)
        if interpolation not in _INTERPOLATIONS:
            raise self._error(f"argument interpolation={interpolation!r} is not supported (one of "
                              f"{', '.join(map(repr, _INTERPOLATIONS))})")
        self.interpolation = interpolation

    def compute_output_shape(self, input_shape):
        shape = self._input_shape(input_shape, rank=4)
        return shape[:1] + tuple(None if n is None else n * s for n, s in zip(shape[1:3], self.size)) + shape[3:]

    def call(self, inputs):
        if self.interpolation == "nearest":
            return ops.upsampling2d(inputs, self.size)
        (h, w), (sh, sw) = inputs.shape[1:3], self.size
        return _vision_ops.resize(inputs, _vision_ops.bilinear_weights(h, h * sh),
                                  _vision_ops.bilinear_weights(w, w * sw))

    def get_config(self):
        return {**super().get_config(), "size": self.size, "data_format": self.data_format,
                "interpolation": self.interpolation}


class _Margins2D(BuiltinLayer):
    """A ((top, bottom), (left, right)) margin argument: an int, a pair of ints (symmetric per axis), or a
    pair of pairs, as Keras takes it."""

    def _margins(self, value, arg):
        def pair(v):
            if _is_integral(v):
                return (int(v), int(v))
            if isinstance(v, (list, tuple)) and len(v) == 2 and all(_is_integral(x) for x in v):
                return (int(v[0]), int(v[1]))
            raise ValueError
        try:
            if _is_integral(value):
                out = (pair(value), pair(value))
            elif isinstance(value, (list, tuple)) and len(value) == 2:
                out = (pair(value[0]), pair(value[1]))
            else:
                raise ValueError
        except ValueError:
            raise self._error(f"argument {arg} must be an int, a pair of ints or a pair of (before, after) "
                              f"pairs, got {value!r}") from None
        if min(min(p) for p in out) < 0:
            raise self._error(f"argument {arg} must not be negative, got {value!r}")
        return out


@registry.register
class ZeroPadding2D(_Margins2D):
    """Zero rows above and below, zero columns left and right."""

    def __init__(self, padding=(1, 1), data_format=None, **kwargs):
        super().__init__(**kwargs)
        self.padding = self._margins(padding, "padding")
        self.data_format = self._data_format(data_format)

    def compute_output_shape(self, input_shape):
        shape = self._input_shape(input_shape, rank=4)
        return shape[:1] + tuple(None if n is None else n + sum(p) for n, p in zip(shape[1:3], self.padding)) + \
            shape[3:]

    def call(self, inputs):
        return _vision_ops.pad(inputs, ((0, 0),) + self.padding + ((0, 0),))

    def get_config(self):
        return {**super().get_config(), "padding": self.padding, "data_format": self.data_format}


@registry.register
class Cropping2D(_Margins2D):
    """Removes rows from the top and bottom, columns from the left and right."""

    def __init__(self, cropping=((0, 0), (0, 0)), data_format=None, **kwargs):
        super().__init__(**kwargs)
        self.cropping = self._margins(cropping, "cropping")
        self.data_format = self._data_format(data_format)

    def compute_output_shape(self, input_shape):
        shape = self._input_shape(input_shape, rank=4)
        dims = []
        for n, c in zip(shape[1:3], self.cropping):
            if n is not None and n - sum(c) <= 0:
                raise self._error(f"cropping {self.cropping} leaves nothing of an input of shape {shape_str(shape)}")
            dims.append(None if n is None else n - sum(c))
        return shape[:1] + tuple(dims) + shape[3:]

    def call(self, inputs):
        return _vision_ops.crop(inputs, ((0, 0),) + self.cropping + ((0, 0),))

    def get_config(self):
        return {**super().get_config(), "cropping": self.cropping, "data_format": self.data_format}


