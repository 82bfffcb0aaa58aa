"""Ftrl ("Follow The Regularized Leader", McMahan et al. 2013), in tf.keras >= 2.11's form."""
import numpy as np

from minigraph.optimizers.base import Optimizer


class Ftrl(Optimizer):
    """n' = n + g^2; z += g + 2 l2s w - (n'^-p - n^-p) / lr * w; w = (clip(z, -l1, l1) - z) / (n'^-p / lr + 2 l2'),
    with p = learning_rate_power, l2' = l2 + beta / (2 lr), l2s the shrinkage strength; n starts at
    initial_accumulator_value."""

    def __init__(self, learning_rate=0.001, learning_rate_power=-0.5, initial_accumulator_value=0.1,
                 l1_regularization_strength=0.0, l2_regularization_strength=0.0,
                 l2_shrinkage_regularization_strength=0.0, beta=0.0, name="Ftrl", **kwargs):
        super().__init__(name, learning_rate, **kwargs)
        if initial_accumulator_value < 0.0:
            raise ValueError(f"Ftrl: `initial_accumulator_value` needs to be positive or zero. Received: "
                             f"initial_accumulator_value={initial_accumulator_value}.")
        if learning_rate_power > 0.0:
            raise ValueError(f"Ftrl: `learning_rate_power` needs to be negative or zero. Received: "
                             f"learning_rate_power={learning_rate_power}.")
        for key, value in (("l1_regularization_strength", l1_regularization_strength),
                           ("l2_regularization_strength", l2_regularization_strength),
                           ("l2_shrinkage_regularization_strength", l2_shrinkage_regularization_strength)):
            if value < 0.0:
                raise ValueError(f"Ftrl: `{key}` needs to be positive or zero. Received: {key}={value}.")
        self.learning_rate_power = learning_rate_power
        self.initial_accumulator_value = initial_accumulator_value
        self.l1_regularization_strength = l1_regularization_strength
        self.l2_regularization_strength = l2_regularization_strength
        self.l2_shrinkage_regularization_strength = l2_shrinkage_regularization_strength
        self.beta = beta

    def _slot_groups(self):
        return [("accumulator", "linear")]

    def _slot_initial_value(self, slot):
        return self.initial_accumulator_value if slot == "accumulator" else 0.0

    def update_step(self, g, w, slots):
        t = w.dtype.type
        lr = t(self._lr)
        power = t(-self.learning_rate_power)
        l1 = t(self.l1_regularization_strength)
        l2 = t(self.l2_regularization_strength) + t(self.beta) / (t(2.0) * lr)
        accum, linear = slots["accumulator"].value, slots["linear"].value
        new_accum = accum + g * g
        new_pow = np.power(new_accum, power)
        linear += g + t(2 * self.l2_shrinkage_regularization_strength) * w.value
        linear -= (new_pow - np.power(accum, power)) / lr * w.value
        quadratic = new_pow / lr + t(2) * l2
        w.value[...] = (np.clip(linear, -l1, l1) - linear) / quadratic
        accum[...] = new_accum

    def get_config(self):
        return {**super().get_config(), "learning_rate_power": self.learning_rate_power,
                "initial_accumulator_value": self.initial_accumulator_value,
                "l1_regularization_strength": self.l1_regularization_strength,
                "l2_regularization_strength": self.l2_regularization_strength,
                "l2_shrinkage_regularization_strength": self.l2_shrinkage_regularization_strength,
                "beta": self.beta}
