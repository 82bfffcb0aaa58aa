"""RMSprop: plain, with momentum, and centered (Keras's slot groups: velocity, momentum, average_gradient)."""
import numpy as np

from minigraph.optimizers.base import Optimizer


class RMSprop(Optimizer):
    """v = rho v + (1 - rho) g^2; inc = lr g / sqrt(v [- mg^2 if centered] + eps); w -= inc (or its momentum)."""

    def __init__(self, learning_rate=0.001, rho=0.9, momentum=0.0, epsilon=1e-7, centered=False, name="RMSprop",
                 ema_overwrite_frequency=100, **kwargs):
        super().__init__(name, learning_rate, ema_overwrite_frequency=ema_overwrite_frequency, **kwargs)
        self.rho = rho
        self.momentum = momentum
        self.epsilon = epsilon
        self.centered = centered

    def _slot_groups(self):
        return [("velocity",)] + ([("momentum",)] if self.momentum > 0 else []) + (
            [("average_gradient",)] if self.centered else [])

    def update_step(self, g, w, slots):
        t = w.dtype.type
        rho = t(self.rho)
        v = slots["velocity"].value
        a, b = self._buffers(w, 2)
        v *= rho
        np.multiply(g, g, out=a)
        a *= t(1 - self.rho)
        v += a
        if self.centered:
            mg = slots["average_gradient"].value
            mg *= rho
            np.multiply(g, t(1 - self.rho), out=a)
            mg += a
            np.multiply(mg, mg, out=a)
            np.subtract(v, a, out=a)
        else:
            a[...] = v
        a += t(self.epsilon)
        np.sqrt(a, out=a)
        np.multiply(g, t(self._lr), out=b)  # lr * g * rsqrt(denominator)
        b /= a
        if self.momentum > 0:
            mom = slots["momentum"].value
            mom *= t(self.momentum)
            mom += b
            w.value -= mom
        else:
            w.value -= b

    def get_config(self):
        return {**super().get_config(), "rho": self.rho, "momentum": self.momentum, "epsilon": self.epsilon,
                "centered": self.centered}
