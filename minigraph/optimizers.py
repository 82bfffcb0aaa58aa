"""Optimizers with the update rules, state layout and config of tf.keras >= 2.11 (the "new" optimizers).

Updates happen in place on each `Variable.value`, in the variable's dtype (float32 for Keras models) and in
Keras' order of operations, with per-shape scratch buffers so a step allocates no full-size arrays.

The state is `variables`: [iteration, then the slots in the order Keras creates them]. Adam creates m and v
per model variable (m_0, v_0, m_1, v_1, ...; amsgrad then appends vhat_0, vhat_1, ...), SGD one m per
variable (always, even without momentum), RMSprop all velocities, then all momentums (momentum > 0), then
all average gradients (centered). Slot names are '<optimizer name>/<slot>/<layer>/<weight>:0' as in a Keras
h5 file's optimizer_weights (e.g. 'Adam/m/dense_8/kernel:0'); that order is the file's `weight_names` order.
"""
import warnings

import numpy as np

from minigraph import registry
from minigraph.autodiff import Variable
from minigraph.kernels.optimizer import adam_update

_LEGACY_KWARGS = ("decay", "gradient_aggregator", "gradient_transformers")


class _CallableList(list):
    """`optimizer.variables` works as an attribute and as a call, as in Keras."""

    def __call__(self):
        return self


class Optimizer:
    """Base class: subclasses define `_slot_groups()` and `update_step(gradient, variable, slots)`."""

    def __init__(self, name, learning_rate=0.001, weight_decay=None, clipnorm=None, clipvalue=None,
                 global_clipnorm=None, use_ema=False, ema_momentum=0.99, ema_overwrite_frequency=None,
                 jit_compile=True, **kwargs):
        kwargs.pop("is_legacy_optimizer", None)  # only in configs
        if kwargs.pop("lr", None) is not None:
            # tf.keras >= 2.11 also ignores `lr=` (it only warns): keep the numbers identical, but say so clearly
            warnings.warn("`lr` is deprecated and ignored, as in tf.keras >= 2.11: use `learning_rate`", stacklevel=3)
        for key in kwargs:
            if key in _LEGACY_KWARGS:
                raise ValueError(f"{key} is deprecated in the new Keras optimizer; check the docstring for "
                                 f"valid arguments")
            raise TypeError(f"{key} is not a valid argument for {type(self).__name__}")
        if clipnorm is not None and global_clipnorm is not None:
            raise ValueError(f"At most one of `clipnorm` and `global_clipnorm` can be set. Received: "
                             f"clipnorm={clipnorm}, global_clipnorm={global_clipnorm}.")
        if use_ema:
            raise NotImplementedError("use_ema=True is not supported")
        if isinstance(learning_rate, dict) or callable(learning_rate):
            raise NotImplementedError("learning rate schedules are not supported; pass a float")
        self.name = name
        self.learning_rate = learning_rate
        self.weight_decay = weight_decay
        self.clipnorm = clipnorm
        self.clipvalue = clipvalue
        self.global_clipnorm = global_clipnorm
        self.use_ema = use_ema
        self.ema_momentum = ema_momentum
        self.ema_overwrite_frequency = ema_overwrite_frequency
        self.jit_compile = False  # Keras turns XLA off without a GPU (and saves False, as the files show)
        self._iterations = Variable(np.array(0, dtype=np.int64), name="iteration:0", trainable=False)
        self._variables = _CallableList([self._iterations])
        self._built = False
        self._scratch = {}

    # ------------------------------------------------------------------ hyperparameters
    @property
    def learning_rate(self):
        return self._learning_rate

    @learning_rate.setter
    def learning_rate(self, value):
        self._learning_rate = np.float32(value)  # a float32 variable in Keras: 0.01 is 0.009999999776...

    lr = learning_rate  # Keras' alias (property, settable)

    @property
    def iterations(self):
        return int(self._iterations.value)

    @iterations.setter
    def iterations(self, value):
        self._iterations.value[...] = value

    @property
    def variables(self):
        return self._variables

    # ------------------------------------------------------------------ state
    def _slot_groups(self):
        """Slot names in Keras' creation order: each group is created variable by variable, groups in turn."""
        raise NotImplementedError

    def build(self, var_list):
        """Create the slots for `var_list` (once; later calls are no-ops, as in Keras)."""
        if self._built:
            return
        self._model_variables = var_list = list(var_list)  # held, so their ids stay unique for the index
        self._index = {id(v): i for i, v in enumerate(var_list)}
        self._slots = [{} for _ in var_list]
        for group in self._slot_groups():
            for var, slots in zip(var_list, self._slots):
                shared = var.name[:-2] if var.name.endswith(":0") else var.name
                for slot in group:
                    slots[slot] = Variable(np.zeros(var.shape, dtype=var.dtype),
                                           name=f"{self.name}/{slot}/{shared}:0", trainable=False)
                    self._variables.append(slots[slot])
        self._built = True

    def get_weights(self):
        return [v.value.copy() for v in self._variables]

    def set_weights(self, weights):
        """Restore the state from arrays in `variables` order (iteration first), as Keras' set_weights."""
        if not self._built:
            raise ValueError("You are calling `set_weights()` on an optimizer that has not yet been built. "
                             "Call `optimizer.build(trainable_variables)` first (or use set_state).")
        weights = list(weights)
        if len(weights) != len(self._variables):
            raise ValueError(f"Optimizer '{self.name}' has {len(self._variables)} variables "
                             f"({self._variables[0].name}, ...), but {len(weights)} weights were given")
        for var, w in zip(self._variables, weights):
            if np.shape(w) != var.shape:
                raise ValueError(f"Optimizer variable {var.name} has shape {var.shape} not compatible with "
                                 f"provided weight shape {np.shape(w)}.")
            var.assign(w)

    def set_state(self, weights, var_list):
        """Build for the model's trainable variables, then restore iteration and slots (resumed training)."""
        self.build(var_list)
        self.set_weights(weights)

    # ------------------------------------------------------------------ state (format-blind, as Keras 3)
    def _own_variables(self):
        """Keras 3's optimizer variables: iteration, learning_rate, then the slots in `variables` order."""
        learning_rate = Variable(np.asarray(self._learning_rate, dtype=np.float32),
                                 name=f"{self.name}/learning_rate:0", trainable=False)
        return [self._iterations, learning_rate] + list(self._variables[1:])

    def save_own_variables(self, store):
        """Write the state to `store` as "0" (iteration), "1" (learning_rate), "2", ... (the slots)."""
        for i, var in enumerate(self._own_variables()):
            store[str(i)] = var

    def load_own_variables(self, store):
        """Restore what save_own_variables wrote. As Keras 3, a state of another size is skipped with a
        warning (the optimizer then starts afresh); build the optimizer first to restore its slots."""
        variables = self._own_variables()
        if len(store.keys()) != len(variables):
            message = (f"Skipping variable loading for optimizer '{self.name}', because it has {len(variables)} "
                       f"variables whereas the saved optimizer has {len(store.keys())} variables. ")
            if not self._built:
                message += "This is likely because the optimizer has not been called/built yet."
            warnings.warn(message, stacklevel=2)
            return
        values = [np.asarray(store[str(i)]) for i in range(len(variables))]
        for var, value in zip(variables, values):
            if value.shape != var.shape:
                raise ValueError(f"Optimizer variable {var.name} has shape {var.shape} not compatible with "
                                 f"provided weight shape {value.shape}.")
        self._iterations.assign(values[0])
        self.learning_rate = values[1]
        for var, value in zip(self._variables[1:], values[2:]):
            var.assign(value)

    # ------------------------------------------------------------------ applying
    def apply_gradients(self, grads_and_vars, name=None):
        grads_and_vars = list(grads_and_vars)
        if not grads_and_vars:
            return self.iterations
        self.build([v for _, v in grads_and_vars])
        grads_and_vars = [(g, v) for g, v in grads_and_vars if g is not None]
        if not grads_and_vars:
            return self.iterations
        variables = [v for _, v in grads_and_vars]
        grads = self._clip_gradients([np.asarray(g, dtype=v.dtype) for g, v in grads_and_vars])
        if self.weight_decay is not None:
            for var in variables:  # w -= w * wd * lr, before the step
                var.value -= var.value * var.dtype.type(self.weight_decay) * var.dtype.type(self._learning_rate)
        for g, var in zip(grads, variables):
            index = self._index.get(id(var))
            if index is None:
                raise KeyError(f"The optimizer cannot recognize variable {var.name}. This usually means you are "
                               f"trying to call the optimizer to update different parts of the model separately. "
                               f"Please call `optimizer.build(variables)` with the full list of trainable "
                               f"variables before the training loop.")
            self.update_step(g, var, self._slots[index])
        for var in variables:
            constraint = getattr(var, "constraint", None)
            if constraint is not None:
                var.assign(constraint(var.value))
        self._iterations.value += 1
        return self.iterations

    def _clip_gradients(self, grads):
        """clipnorm (per tensor), else global_clipnorm, else clipvalue, as Keras (only the first that is set)."""
        if self.clipnorm and self.clipnorm > 0:
            return [g * g.dtype.type(self.clipnorm) / np.maximum(np.sqrt(np.sum(g * g)), g.dtype.type(self.clipnorm))
                    for g in grads]
        if self.global_clipnorm and self.global_clipnorm > 0:
            norm = np.sqrt(sum(np.sum(np.square(g, dtype=np.float64)) for g in grads))
            scale = self.global_clipnorm * min(1.0 / norm if norm else np.inf, 1.0 / self.global_clipnorm)
            return [g * g.dtype.type(scale) for g in grads]
        if self.clipvalue and self.clipvalue > 0:
            return [np.clip(g, -self.clipvalue, self.clipvalue) for g in grads]
        return grads

    def _buffers(self, var, count):
        """`count` scratch arrays shaped like var, shared by all variables of that shape and dtype."""
        key = (var.shape, var.dtype)
        bufs = self._scratch.get(key)
        if bufs is None or len(bufs) < count:
            bufs = self._scratch[key] = [np.empty(var.shape, var.dtype) for _ in range(count)]
        return bufs[:count]

    def update_step(self, gradient, variable, slots):
        raise NotImplementedError

    # ------------------------------------------------------------------ config
    def get_config(self):
        return {"name": self.name, "weight_decay": self.weight_decay, "clipnorm": self.clipnorm,
                "global_clipnorm": self.global_clipnorm, "clipvalue": self.clipvalue, "use_ema": self.use_ema,
                "ema_momentum": self.ema_momentum, "ema_overwrite_frequency": self.ema_overwrite_frequency,
                "jit_compile": self.jit_compile, "is_legacy_optimizer": False,
                "learning_rate": float(self._learning_rate)}

    @classmethod
    def from_config(cls, config, custom_objects=None):
        return cls(**config)

    def __repr__(self):
        return f"<{type(self).__name__} name={self.name} learning_rate={float(self._learning_rate):g}>"


class SGD(Optimizer):
    """m = momentum * m - lr * g; w += m (nesterov: w += momentum * m - lr * g)."""

    def __init__(self, learning_rate=0.01, momentum=0.0, nesterov=False, name="SGD", **kwargs):
        super().__init__(name, learning_rate, **kwargs)
        if isinstance(momentum, (int, float)) and not 0 <= momentum <= 1:
            raise ValueError("`momentum` must be between [0, 1].")
        self.momentum = momentum
        self.nesterov = nesterov

    def _slot_groups(self):
        return [("m",)]

    def load_own_variables(self, store):
        if self.momentum == 0 and len(store.keys()) == 2:  # Keras 3 makes no momentum slots without momentum
            self._iterations.assign(np.asarray(store["0"]))
            self.learning_rate = np.asarray(store["1"])
            return
        super().load_own_variables(store)

    def update_step(self, g, w, slots):
        t = w.dtype.type
        m = slots["m"].value
        step, tmp = self._buffers(w, 2)
        np.multiply(g, -t(self._learning_rate), out=step)  # -g * lr
        m *= t(self.momentum)
        m += step
        if self.nesterov:
            step += np.multiply(m, t(self.momentum), out=tmp)
            w.value += step
        else:
            w.value += m

    def get_config(self):
        return {**super().get_config(), "momentum": self.momentum, "nesterov": self.nesterov}


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

    def update_step(self, g, w, slots):
        t = w.dtype.type
        step = t(self.iterations + 1)
        alpha = (t(self._learning_rate) * np.sqrt(t(1) - np.power(t(self.beta_2), step))
                 / (t(1) - np.power(t(self.beta_1), step)))
        adam_update(w.value, g, slots["m"].value, slots["v"].value, alpha, self.beta_1, self.beta_2, self.epsilon,
                    slots["vhat"].value if self.amsgrad else None)

    def get_config(self):
        return {**super().get_config(), "beta_1": self.beta_1, "beta_2": self.beta_2, "epsilon": self.epsilon,
                "amsgrad": self.amsgrad}


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
        np.multiply(g, t(self._learning_rate), out=b)  # lr * g * rsqrt(denominator)
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


_CLASSES = {"sgd": SGD, "adam": Adam, "rmsprop": RMSprop}
for _cls in _CLASSES.values():
    registry.register(_cls)
    registry.register(_cls, name="Custom>" + _cls.__name__)  # the class_name tf.keras 2.11+ writes in h5 files


def serialize(optimizer):
    return registry.serialize(optimizer)


def deserialize(config, custom_objects=None):
    """From {'class_name': 'Adam' (any case, or 'Custom>Adam'), 'config': {...}}."""
    name = config.get("class_name", "") if isinstance(config, dict) else ""
    if custom_objects and name in custom_objects:
        return custom_objects[name].from_config(dict(config.get("config", {})))
    cls = _CLASSES.get(name.split(">")[-1].lower())
    if cls is None:
        raise ValueError(f"Unknown optimizer: '{name}'. Known optimizers: 'sgd', 'adam', 'rmsprop'")
    return cls.from_config(dict(config.get("config", {})))


def get(identifier):
    """An optimizer from an instance, a name ('sgd', 'Adam', ...), or a config dict."""
    if isinstance(identifier, Optimizer):
        return identifier
    if isinstance(identifier, str):
        return deserialize({"class_name": identifier, "config": {}})
    if isinstance(identifier, dict):
        return deserialize(identifier)
    raise ValueError(f"Could not interpret optimizer identifier: {identifier!r}")
