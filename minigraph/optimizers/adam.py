"""The Adam family: Adam (amsgrad), AdamW (Adam with decoupled weight decay), Nadam and Adamax."""
import numpy as np

from minigraph.autodiff import Variable
from minigraph.kernels.optimizer import adam_update, adam_update_all
from minigraph.optimizers.base import Optimizer


class Adam(Optimizer):
    """m += (g - m)(1 - b1); v += (g^2 - v)(1 - b2); w -= m * lr sqrt(1 - b2^t) / (1 - b1^t) / (sqrt(v) + eps)."""

    def __init__(self, learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7, amsgrad=False, name="Adam",
                 **kwargs):
        super().__init__(name, learning_rate, **kwargs)
        self.beta_1 = beta_1
        self.beta_2 = beta_2
        self.epsilon = epsilon
        self.amsgrad = amsgrad

    def _slot_groups(self):
        return [("m", "v")] + ([("vhat",)] if self.amsgrad else [])

    def _alpha(self, t):
        """lr sqrt(1 - b2^t) / (1 - b1^t) in dtype t, the same for every variable of the step."""
        alpha = self._step_constants.get(t)
        if alpha is None:
            step = t(self.iterations + 1)
            alpha = self._step_constants[t] = (t(self._lr) * np.sqrt(t(1) - np.power(t(self.beta_2), step))
                                               / (t(1) - np.power(t(self.beta_1), step)))
        return alpha

    def update_step(self, g, w, slots):
        adam_update(w.value, g, slots["m"].value, slots["v"].value, self._alpha(w.dtype.type), self.beta_1,
                    self.beta_2, self.epsilon, slots["vhat"].value if self.amsgrad else None)

    def _update_all(self, grads, variables, slots):
        """All variables of a dtype in one kernel pass (the small ones of a layer stack then share one
        OpenMP region), unless AMSGrad or a subclass's own update_step is in play."""
        if self.amsgrad or type(self).update_step is not Adam.update_step:
            return super()._update_all(grads, variables, slots)
        by_dtype = {}
        for g, var, var_slots in zip(grads, variables, slots):
            group = by_dtype.setdefault(var.dtype.type, ([], [], [], []))
            for items, value in zip(group, (var.value, g, var_slots["m"].value, var_slots["v"].value)):
                items.append(value)
        for t, (ws, gs, ms, vs) in by_dtype.items():
            adam_update_all(ws, gs, ms, vs, self._alpha(t), self.beta_1, self.beta_2, self.epsilon)

    def get_config(self):
        return {**super().get_config(), "beta_1": self.beta_1, "beta_2": self.beta_2, "epsilon": self.epsilon,
                "amsgrad": self.amsgrad}


class AdamW(Adam):
    """Adam after the base class's decoupled decay w -= w * weight_decay * lr (default 0.004, required)."""

    def __init__(self, learning_rate=0.001, weight_decay=0.004, beta_1=0.9, beta_2=0.999, epsilon=1e-7,
                 amsgrad=False, name="AdamW", **kwargs):
        if weight_decay is None:
            raise ValueError("AdamW: `weight_decay` must be a float, as AdamW is Adam with decoupled weight decay. "
                             "Received: weight_decay=None")
        super().__init__(learning_rate, beta_1, beta_2, epsilon, amsgrad, name, weight_decay=weight_decay,
                         **kwargs)


class Nadam(Optimizer):
    """Adam with Nesterov momentum and Keras's momentum schedule u_t = b1 (1 - 0.96^t / 2):
    w -= lr (u_{t+1} m / (1 - prod u_1..u_{t+1}) + (1 - u_t) g / (1 - prod u_1..u_t)) / (sqrt(v / (1 - b2^t)) + eps).

    Keras keeps the running product of u in a variable that its h5 files do not save; here it is recomputed
    from the iteration count, so a resumed run continues exactly as an uninterrupted one."""

    def __init__(self, learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7, name="Nadam", **kwargs):
        super().__init__(name, learning_rate, **kwargs)
        self.beta_1 = beta_1
        self.beta_2 = beta_2
        self.epsilon = epsilon
        self._u_products = {}

    def _slot_groups(self):
        return [("m", "v")]

    def _own_variables(self):
        """Keras 3 keeps u_1 * ... * u_iterations as the last variable (restored from the iteration instead)."""
        variables = super()._own_variables()
        if not self._built:
            return variables
        t = self._model_variables[0].dtype.type if self._model_variables else np.float32
        product = Variable(np.asarray(self._u_product(t, self.iterations)), name="u_product:0", trainable=False)
        return variables + [product]

    def _u(self, t, step):
        return t(self.beta_1) * (t(1) - t(0.5) * np.power(t(0.96), t(step)))

    def _u_product(self, t, step):
        """u_1 * ... * u_step, multiplied in the variable's dtype in Keras's order (one factor per step)."""
        products = self._u_products.setdefault(t, [t(1)])
        while len(products) <= step:
            products.append(products[-1] * self._u(t, len(products)))
        return products[step]

    def update_step(self, g, w, slots):
        t = w.dtype.type
        step = self.iterations + 1
        u_t, u_next = self._u(t, step), self._u(t, step + 1)
        u_product = self._u_product(t, step)
        u_product_next = u_product * u_next
        m, v = slots["m"].value, slots["v"].value
        a, b = self._buffers(w, 2)
        np.subtract(g, m, out=a)
        a *= t(1 - self.beta_1)
        m += a
        np.multiply(g, g, out=a)
        a -= v
        a *= t(1 - self.beta_2)
        v += a
        np.multiply(m, u_next / (t(1) - u_product_next), out=a)  # m_hat
        a += g * ((t(1) - u_t) / (t(1) - u_product))
        a *= t(self._lr)
        np.divide(v, t(1) - np.power(t(self.beta_2), t(step)), out=b)  # v_hat
        np.sqrt(b, out=b)
        b += t(self.epsilon)
        a /= b
        w.value -= a

    def get_config(self):
        return {**super().get_config(), "beta_1": self.beta_1, "beta_2": self.beta_2, "epsilon": self.epsilon}


class Adamax(Optimizer):
    """m += (g - m)(1 - b1); u = max(b2 u, |g|); w -= lr m / ((1 - b1^t)(u + eps))."""

    def __init__(self, learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7, name="Adamax", **kwargs):
        super().__init__(name, learning_rate, **kwargs)
        self.beta_1 = beta_1
        self.beta_2 = beta_2
        self.epsilon = epsilon

    def _slot_groups(self):
        return [("m", "u")]

    def update_step(self, g, w, slots):
        t = w.dtype.type
        m, u = slots["m"].value, slots["u"].value
        a, = self._buffers(w, 1)
        np.subtract(g, m, out=a)
        a *= t(1 - self.beta_1)
        m += a
        u *= t(self.beta_2)
        np.maximum(u, np.abs(g, out=a), out=u)
        np.add(u, t(self.epsilon), out=a)
        a *= t(1) - np.power(t(self.beta_1), t(self.iterations + 1))
        np.divide(m, a, out=a)
        a *= t(self._lr)
        w.value -= a

    def get_config(self):
        return {**super().get_config(), "beta_1": self.beta_1, "beta_2": self.beta_2, "epsilon": self.epsilon}
