"""SGD, with momentum and Nesterov momentum (Keras's rule). Keras 2 always makes the 'm' slots, so they are
always in `variables` (and in .h5 files); Keras 3 makes none without momentum, so its state (the .keras
and .weights.h5 layout) leaves them out then."""
import numpy as np

from minigraph.optimizers.base import Optimizer


class SGD(Optimizer):
    """m = momentum * m - lr * g; w += m (nesterov: w += momentum * m - lr * g)."""

    def __init__(self, learning_rate=0.01, momentum=0.0, nesterov=False, name="SGD", **kwargs):
        super().__init__(name, learning_rate, **kwargs)
        if not isinstance(momentum, (int, float)) or not 0 <= momentum <= 1:
            raise ValueError(f"SGD: `momentum` must be between [0, 1]. Received: momentum={momentum!r}")
        self.momentum = momentum
        self.nesterov = nesterov

    def _slot_groups(self):
        return [("m",)]

    def _own_variables(self):
        own = super()._own_variables()
        if self.momentum:
            return own
        momentums = {id(slots["m"]) for slots in getattr(self, "_slots", ())}
        return [v for v in own if id(v) not in momentums]

    def update_step(self, g, w, slots):
        t = w.dtype.type
        m = slots["m"].value
        step, tmp = self._buffers(w, 2)
        np.multiply(g, -t(self._lr), out=step)  # -g * lr
        m *= t(self.momentum)
        m += step
        if self.nesterov:
            step += np.multiply(m, t(self.momentum), out=tmp)
            w.value += step
        else:
            w.value += m

    def get_config(self):
        return {**super().get_config(), "momentum": self.momentum, "nesterov": self.nesterov}
