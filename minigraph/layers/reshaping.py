"""Reshaping layers (channels_last): UpSampling1D/2D, and ZeroPadding1D/2D and Cropping1D/2D on one
rank-generic base."""

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


class _Margins(BuiltinLayer):
    """A margin argument, one (before, after) pair per spatial axis. 2-D: an int, a pair of ints (symmetric
    per axis), or a pair of pairs; 1-D: an int or one (before, after) pair; as Keras takes them."""

    rank = 2

    def _margins(self, value, arg):
        if self.rank == 1:
            return self._margins_1d(value, arg)
        return self._margins_2d(value, arg)

    def _margins_1d(self, value, arg):
        if _is_integral(value):
            out = ((int(value), int(value)),)
        elif isinstance(value, (list, tuple)) and len(value) == 2 and all(_is_integral(x) for x in value):
            out = ((int(value[0]), int(value[1])),)
        else:
            raise self._error(f"argument {arg} must be an int or a (before, after) pair of ints, got {value!r}")
        if min(out[0]) < 0:
            raise self._error(f"argument {arg} must not be negative, got {value!r}")
        return out

    def _config_margins(self, margins):
        return margins[0] if self.rank == 1 else margins

    def _margins_2d(self, value, arg):
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


class BaseZeroPadding(_Margins):
    """Zeros before and after the data along each spatial axis."""

    def __init__(self, padding=1, data_format=None, **kwargs):
        super().__init__(**kwargs)
        self.padding = self._margins(padding, "padding")
        self.data_format = self._data_format(data_format)

    def compute_output_shape(self, input_shape):
        shape = self._input_shape(input_shape, rank=self.rank + 2)
        return shape[:1] + tuple(None if n is None else n + sum(p)
                                 for n, p in zip(shape[1:1 + self.rank], self.padding)) + shape[-1:]

    def call(self, inputs):
        return _vision_ops.pad(inputs, ((0, 0),) + self.padding + ((0, 0),))

    def get_config(self):
        return {**super().get_config(), "padding": self._config_margins(self.padding),
                "data_format": self.data_format}


class BaseCropping(_Margins):
    """Removes steps (rows, columns) before and after the data along each spatial axis."""

    def __init__(self, cropping=0, data_format=None, **kwargs):
        super().__init__(**kwargs)
        self.cropping = self._margins(cropping, "cropping")
        self.data_format = self._data_format(data_format)

    def compute_output_shape(self, input_shape):
        shape = self._input_shape(input_shape, rank=self.rank + 2)
        dims = []
        for n, c in zip(shape[1:1 + self.rank], self.cropping):
            if n is not None and n - sum(c) <= 0:
                raise self._error(f"cropping {self._config_margins(self.cropping)} leaves nothing of an input of "
                                  f"shape {shape_str(shape)}")
            dims.append(None if n is None else n - sum(c))
        return shape[:1] + tuple(dims) + shape[-1:]

    def call(self, inputs):
        return _vision_ops.crop(inputs, ((0, 0),) + self.cropping + ((0, 0),))

    def get_config(self):
        return {**super().get_config(), "cropping": self._config_margins(self.cropping),
                "data_format": self.data_format}


@registry.register
class ZeroPadding1D(BaseZeroPadding):
    rank = 1


@registry.register
class ZeroPadding2D(BaseZeroPadding):
    def __init__(self, padding=(1, 1), data_format=None, **kwargs):
        super().__init__(padding, data_format, **kwargs)


@registry.register
class Cropping1D(BaseCropping):
    rank = 1

    def __init__(self, cropping=(1, 1), **kwargs):
        super().__init__(cropping, **kwargs)


@registry.register
class Cropping2D(BaseCropping):
    def __init__(self, cropping=((0, 0), (0, 0)), data_format=None, **kwargs):
        super().__init__(cropping, data_format, **kwargs)


@registry.register
class UpSampling1D(BuiltinLayer):
    """Repeats each step `size` times."""

    def __init__(self, size=2, **kwargs):
        super().__init__(**kwargs)
        self.size = self._positive_int(size, "size")

    def compute_output_shape(self, input_shape):
        shape = self._input_shape(input_shape, rank=3)
        return (shape[0], None if shape[1] is None else shape[1] * self.size, shape[2])

    def call(self, inputs):
        return ops.repeat(inputs, self.size, axis=1)

    def get_config(self):
        return {**super().get_config(), "size": self.size}


