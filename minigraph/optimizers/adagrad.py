"""Accumulator optimizers: Adagrad and Adadelta."""
import numpy as np

from minigraph.optimizers.base import Optimizer


class Adagrad(Optimizer):
    """acc += g^2 (acc starts at initial_accumulator_value); w -= lr g / sqrt(acc + eps)."""

    def __init__(self, learning_rate=0.001, initial_accumulator_value=0.1, epsilon=1e-7, name="Adagrad", **kwargs):
        super().__init__(name, learning_rate, **kwargs)
        if not initial_accumulator_value >= 0:
            raise ValueError(f"Adagrad: `initial_accumulator_value` must be non-negative. Received: "
                             f"initial_accumulator_value={initial_accumulator_value}")
        self.initial_accumulator_value = initial_accumulator_value
        self.epsilon = epsilon

    def _slot_groups(self):
        return [("accumulator",)]

    def _slot_initial_value(self, slot):
        return self.initial_accumulator_value

    def update_step(self, g, w, slots):
        t = w.dtype.type
        acc = slots["accumulator"].value
        a, b = self._buffers(w, 2)
        acc += np.multiply(g, g, out=a)
        np.add(acc, t(self.epsilon), out=a)
        np.sqrt(a, out=a)
        np.multiply(g, t(self._lr), out=b)
        b /= a
        w.value -= b

    def get_config(self):
        return {**super().get_config(), "initial_accumulator_value": self.initial_accumulator_value,
                "epsilon": self.epsilon}


class Adadelta(Optimizer):
    """E[g^2] = rho E[g^2] + (1 - rho) g^2; d = -sqrt(E[d^2] + eps) g / sqrt(E[g^2] + eps);
    E[d^2] = rho E[d^2] + (1 - rho) d^2; w += lr d."""

    def __init__(self, learning_rate=0.001, rho=0.95, epsilon=1e-7, name="Adadelta", **kwargs):
        super().__init__(name, learning_rate, **kwargs)
        self.rho = rho
        self.epsilon = epsilon

    def _slot_groups(self):
        return [("accumulated_grad", "accumulated_delta_var")]

    def update_step(self, g, w, slots):
        t = w.dtype.type
        rho, eps = t(self.rho), t(self.epsilon)
        grad_sq, delta_sq = slots["accumulated_grad"].value, slots["accumulated_delta_var"].value
        a, b = self._buffers(w, 2)
        grad_sq *= rho
        grad_sq += np.multiply(g, g, out=a) * t(1 - self.rho)
        np.add(delta_sq, eps, out=a)
        np.sqrt(a, out=a)
        a *= g
        np.add(grad_sq, eps, out=b)
        np.sqrt(b, out=b)
        a /= b
        np.negative(a, out=a)  # the step d
        delta_sq *= rho
        delta_sq += np.multiply(a, a, out=b) * t(1 - self.rho)
        a *= t(self._lr)
        w.value += a

    def get_config(self):
        return {**super().get_config(), "rho": self.rho, "epsilon": self.epsilon}
