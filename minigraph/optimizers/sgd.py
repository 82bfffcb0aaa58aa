"""SGD, with momentum and Nesterov momentum (Keras's rule and its always-present 'm' slot)."""
import numpy as np

from minigraph.optimizers import schedules
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

    def load_own_variables(self, store):
        scheduled = isinstance(self._learning_rate, schedules.LearningRateSchedule)
        if self.momentum == 0 and not self.use_ema and len(store.keys()) == (1 if scheduled else 2):
            # Keras 3 makes no momentum slots without momentum: iteration (and learning_rate) only
            self._iterations.assign(np.asarray(store["0"]))
            if not scheduled:
                self.learning_rate = np.asarray(store["1"])
            return
        super().load_own_variables(store)

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
