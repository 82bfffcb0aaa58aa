"""Embedding and Masking: where sequence models start, and where their masks come from."""
import numpy as np

from minigraph import constraints, initializers, ops, registry, regularizers
from minigraph.layers._builtin import BuiltinLayer


@registry.register
class Embedding(BuiltinLayer):
    """Row `id` of a (input_dim, output_dim) table for each integer id; mask_zero makes id 0 padding."""

    _casts_integer_inputs = False  # ids stay integers (float ids holding integers are accepted too)

    def __init__(self, input_dim, output_dim, embeddings_initializer="uniform", embeddings_regularizer=None,
                 embeddings_constraint=None, mask_zero=False, input_length=None, sparse=False, lora_rank=None,
                 **kwargs):
        if input_length is not None and "input_shape" not in kwargs and "batch_input_shape" not in kwargs:
            kwargs["input_shape"] = (input_length,)  # Keras 2's way to give the sequence length
        super().__init__(**kwargs)
        self.input_dim = self._positive_int(input_dim, "input_dim")
        self.output_dim = self._positive_int(output_dim, "output_dim")
        self.embeddings_initializer = self._lookup(initializers.get, embeddings_initializer, "embeddings_initializer")
        self.embeddings_regularizer = self._lookup(regularizers.get, embeddings_regularizer, "embeddings_regularizer")
        self.embeddings_constraint = self._lookup(constraints.get, embeddings_constraint, "embeddings_constraint")
        self.mask_zero = bool(mask_zero)
        self.input_length = input_length
        if sparse or lora_rank:
            raise self._error("sparse gradients and LoRA are not supported")
        self.embeddings = None

    def build(self, input_shape):
        self.embeddings = self.add_weight("embeddings", (self.input_dim, self.output_dim),
                                          initializer=self.embeddings_initializer,
                                          regularizer=self.embeddings_regularizer,
                                          constraint=self.embeddings_constraint)
        self.built = True

    def compute_output_shape(self, input_shape):
        return tuple(self._input_shape(input_shape)) + (self.output_dim,)

    def _output_dtype(self, flat_in):
        return self.dtype

    def call(self, inputs):
        ids = np.asarray(getattr(inputs, "data", inputs))
        try:
            return ops.embedding_lookup(ids, self.embeddings)
        except ValueError as err:
            raise self._error(str(err)) from None

    def compute_mask(self, inputs, mask=None):
        if not self.mask_zero:
            return None
        return np.asarray(getattr(inputs, "data", inputs)) != 0

    def _produces_mask(self, args, mask):
        return self.mask_zero

    def get_config(self):
        return {**super().get_config(), "input_dim": self.input_dim, "output_dim": self.output_dim,
                "embeddings_initializer": initializers.serialize(self.embeddings_initializer),
                "embeddings_regularizer": regularizers.serialize(self.embeddings_regularizer),
                "activity_regularizer": regularizers.serialize(self.activity_regularizer),
                "embeddings_constraint": constraints.serialize(self.embeddings_constraint),
                "mask_zero": self.mask_zero, "input_length": self.input_length}


@registry.register
class Masking(BuiltinLayer):
    """Masks the steps whose features all equal mask_value (and zeroes them), for the layers after it."""

    supports_masking = True

    def __init__(self, mask_value=0.0, **kwargs):
        super().__init__(**kwargs)
        self.mask_value = float(mask_value)

    def compute_output_shape(self, input_shape):
        return self._input_shape(input_shape, min_rank=3)

    def _keep(self, inputs):
        return np.any(np.asarray(getattr(inputs, "data", inputs)) != self.mask_value, axis=-1)

    def call(self, inputs):
        return inputs * self._keep(inputs)[..., None].astype(inputs.dtype)

    def compute_mask(self, inputs, mask=None):
        return self._keep(inputs)

    def get_config(self):
        return {**super().get_config(), "mask_value": self.mask_value}
