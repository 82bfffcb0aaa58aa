"""Reshaping layers on images (channels_last): UpSampling2D."""
from minigraph import ops, registry
from minigraph.layers._builtin import BuiltinLayer


@registry.register
class UpSampling2D(BuiltinLayer):
    """Repeats each row `size[0]` times and each column `size[1]` times (nearest neighbour)."""

    def __init__(self, size=(2, 2), data_format=None, interpolation="nearest", **kwargs):
        super().__init__(**kwargs)
        self.size = self._pair(size, "size")
        self.data_format = self._data_format(data_format)
        if interpolation != "nearest":
            raise self._error(f"argument interpolation={interpolation!r} is not supported (only 'nearest')")
        self.interpolation = interpolation

    def compute_output_shape(self, input_shape):
        shape = self._input_shape(input_shape, rank=4)
        return shape[:1] + tuple(None if n is None else n * s for n, s in zip(shape[1:3], self.size)) + shape[3:]

    def call(self, inputs):
        return ops.upsampling2d(inputs, self.size)

    def get_config(self):
        return {**super().get_config(), "size": self.size, "data_format": self.data_format,
                "interpolation": self.interpolation}
