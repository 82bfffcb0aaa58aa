"""The optimizer base class, with the rules tf.keras >= 2.11 (the "new" optimizers) and Keras 3 share.

Updates happen in place on each `Variable.value`, in the variable's dtype (float32 for Keras models) and in
Keras's order of operations: the learning rate (a schedule is evaluated at the iteration count), gradient
clipping, decoupled weight decay, each variable's update step, the moving averages (use_ema), the iteration
count, then the variables' constraints.

The state is `variables`: [iteration, then the slots in the order Keras creates them]: with use_ema, one
'average' per model variable first, then each optimizer's slot groups, each group variable by variable
(Adam: m_0, v_0, m_1, v_1, ...). Slot names are '<optimizer name>/<slot>/<layer>/<weight>:0' as in a Keras
h5 file's optimizer_weights (e.g. 'Adam/m/dense_8/kernel:0'); that order is the file's `weight_names` order.
"""
import numbers
import re
import warnings

import numpy as np

from minigraph.autodiff import Variable
from minigraph.optimizers import schedules

_LEGACY_KWARGS = ("decay", "gradient_aggregator", "gradient_transformers")


class _CallableList(list):
    """`optimizer.variables` works as an attribute and as a call, as in Keras."""

    def __call__(self):
        return self


class Optimizer:
    """Base class: subclasses define `_slot_groups()` and `update_step(gradient, variable, slots)`, read the
    step's learning rate from `self._lr` and may give slots a start value with `_slot_initial_value`."""

    def __init__(self, name, learning_rate=0.001, weight_decay=None, clipnorm=None, clipvalue=None,
                 global_clipnorm=None, use_ema=False, ema_momentum=0.99, ema_overwrite_frequency=None,
                 jit_compile=True, **kwargs):
        kwargs.pop("is_legacy_optimizer", None)  # only in configs
        if kwargs.pop("lr", None) is not None:
            # tf.keras >= 2.11 also ignores `lr=` (it only warns): keep the numbers identical, but say so clearly
            warnings.warn("`lr` is deprecated and ignored, as in tf.keras >= 2.11: use `learning_rate`", stacklevel=3)
        cls = type(self).__name__
        for key in kwargs:
            if key in _LEGACY_KWARGS:
                raise ValueError(f"{cls}: `{key}` is deprecated in the new Keras optimizer; check the docstring "
                                 f"for valid arguments")
            raise TypeError(f"{key} is not a valid argument for {cls}")
        for key, value in (("clipnorm", clipnorm), ("clipvalue", clipvalue), ("global_clipnorm", global_clipnorm),
                           ("weight_decay", weight_decay)):
            if value is not None and (not isinstance(value, numbers.Real) or value < 0):
                raise ValueError(f"{cls}: `{key}` must be a non-negative float or None. Received: {key}={value!r}")
        if sum(value is not None for value in (clipnorm, clipvalue, global_clipnorm)) > 1:
            raise ValueError(f"{cls}: only one of `clipnorm`, `clipvalue` and `global_clipnorm` can be set. "
                             f"Received: clipnorm={clipnorm}, clipvalue={clipvalue}, "
                             f"global_clipnorm={global_clipnorm}")
        if use_ema:
            if not 0 <= ema_momentum <= 1:
                raise ValueError(f"{cls}: `ema_momentum` must be in the range [0, 1]. Received: "
                                 f"ema_momentum={ema_momentum}")
            if ema_overwrite_frequency and (not isinstance(ema_overwrite_frequency, int)
                                            or ema_overwrite_frequency < 1):
                raise ValueError(f"{cls}: `ema_overwrite_frequency` must be an integer >= 1 or None. Received: "
                                 f"ema_overwrite_frequency={ema_overwrite_frequency}")
        self.name = name
        self._learning_rate = None
        self.learning_rate = learning_rate
        self.weight_decay = weight_decay
        self.clipnorm = clipnorm
        self.clipvalue = clipvalue
        self.global_clipnorm = global_clipnorm
        self.use_ema = bool(use_ema)
        self.ema_momentum = ema_momentum
        self.ema_overwrite_frequency = ema_overwrite_frequency
        self.jit_compile = False  # Keras turns XLA off without a GPU (and saves False, as the files show)
        self._iterations = Variable(np.array(0, dtype=np.int64), name="iteration:0", trainable=False)
        self._variables = _CallableList([self._iterations])
        self._built = False
        self._scratch = {}
        self._exclude_ids, self._exclude_names = set(), []

    # ------------------------------------------------------------------ hyperparameters
    @property
    def learning_rate(self):
        """The rate of the current step: a schedule's value at the iteration count, as Keras's
        `_current_learning_rate`."""
        if isinstance(self._learning_rate, schedules.LearningRateSchedule):
            return np.float32(self._learning_rate(self.iterations))
        return self._learning_rate

    @learning_rate.setter
    def learning_rate(self, value):
        cls = type(self).__name__
        if isinstance(value, schedules.LearningRateSchedule):
            self._learning_rate = value
            return
        if isinstance(self._learning_rate, schedules.LearningRateSchedule):
            raise TypeError(f"{cls} was created with a `LearningRateSchedule` object as its `learning_rate` "
                            f"constructor argument, hence its learning rate is not settable. If you need the "
                            f"learning rate to be settable, you should instantiate the optimizer with a float "
                            f"`learning_rate` argument.")
        if isinstance(value, dict) or callable(value) or isinstance(value, (str, bytes, bool)):
            raise TypeError(f"{cls}: `learning_rate` must be a float or a LearningRateSchedule. Received: "
                            f"learning_rate={value!r}")
        value = np.asarray(value)
        if value.shape != () or not np.isfinite(value) or value < 0:
            raise ValueError(f"{cls}: `learning_rate` must be a non-negative finite float. Received: "
                             f"learning_rate={value}")
        self._learning_rate = np.float32(value)  # a float32 variable in Keras: 0.01 is 0.009999999776...

    lr = learning_rate  # Keras's alias (property, settable)

    @property
    def iterations(self):
        return int(self._iterations.value)

    @iterations.setter
    def iterations(self, value):
        self._iterations.value[...] = value

    @property
    def variables(self):
        return self._variables

    def exclude_from_weight_decay(self, var_list=None, var_names=None):
        """Keras's rule: the variables in var_list, and those whose name matches (re.search) any of
        var_names, get no weight decay. Only before the optimizer is built."""
        if self._built:
            raise ValueError(f"{type(self).__name__}: `exclude_from_weight_decay()` can only be configured before "
                             f"the optimizer is built.")
        self._exclude_ids = {id(v) for v in var_list or []}
        self._exclude_names = list(var_names or [])

    def _use_weight_decay(self, variable):
        if id(variable) in self._exclude_ids:
            return False
        return not any(re.search(name, variable.name) for name in self._exclude_names)

    # ------------------------------------------------------------------ state
    def _slot_groups(self):
        """Slot names in Keras's creation order: each group is created variable by variable, groups in turn."""
        raise NotImplementedError

    def _slot_initial_value(self, slot):
        return 0.0

    def build(self, var_list):
        """Create the slots for `var_list` (once; later calls are no-ops, as in Keras)."""
        if self._built:
            return
        self._model_variables = var_list = list(var_list)  # held, so their ids stay unique for the index
        self._index = {id(v): i for i, v in enumerate(var_list)}
        self._slots = [{} for _ in var_list]
        groups = ([("average",)] if self.use_ema else []) + list(self._slot_groups())
        for group in groups:
            for var, slots in zip(var_list, self._slots):
                shared = var.name[:-2] if var.name.endswith(":0") else var.name
                for slot in group:
                    if slot == "average":  # the moving average starts at the variable's value
                        start = np.array(var.value, dtype=var.dtype, copy=True)
                    else:
                        start = np.full(var.shape, self._slot_initial_value(slot), dtype=var.dtype)
                    slots[slot] = Variable(start, name=f"{self.name}/{slot}/{shared}:0", trainable=False)
                    self._variables.append(slots[slot])
        self._built = True

    def get_weights(self):
        return [v.value.copy() for v in self._variables]

    def set_weights(self, weights):
        """Restore the state from arrays in `variables` order (iteration first), as Keras's set_weights."""
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
        """Keras 3's optimizer variables: iteration, learning_rate (none with a schedule), then the slots in
        `variables` order (a subclass leaves out slots Keras 3 does not make)."""
        if isinstance(self._learning_rate, schedules.LearningRateSchedule):
            return list(self._variables)
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
        first_slot = 1
        if not isinstance(self._learning_rate, schedules.LearningRateSchedule):
            self.learning_rate = values[1]
            first_slot = 2
        for var, value in zip(variables[first_slot:], values[first_slot:]):
            var.assign(value)

    # ------------------------------------------------------------------ applying
    def apply_gradients(self, grads_and_vars, name=None):
        grads_and_vars = list(grads_and_vars)
        if not grads_and_vars:
            return self.iterations
        self._lr = self.learning_rate  # once per step, at the iteration count before it (Keras's order)
        self._step_constants = {}  # what update_step derives from the step alone (Adam's alpha), per dtype
        self.build([v for _, v in grads_and_vars])
        grads_and_vars = [(g, v) for g, v in grads_and_vars if g is not None]
        if not grads_and_vars:
            return self.iterations
        variables = [v for _, v in grads_and_vars]
        slots = []
        for var in variables:
            index = self._index.get(id(var))
            if index is None:
                raise KeyError(f"The optimizer cannot recognize variable {var.name}. This usually means you are "
                               f"trying to call the optimizer to update different parts of the model separately. "
                               f"Please call `optimizer.build(variables)` with the full list of trainable "
                               f"variables before the training loop.")
            slots.append(self._slots[index])
        grads = self._clip_gradients([np.asarray(g, dtype=v.dtype) for g, v in grads_and_vars])
        if self.weight_decay is not None:
            for var in variables:  # w -= w * wd * lr, before the step
                if self._use_weight_decay(var):
                    t = var.dtype.type
                    var.value -= var.value * t(self.weight_decay) * t(self._lr)
        self._update_all(grads, variables, slots)
        if self.use_ema:
            self._update_moving_averages(variables, slots)
        self._iterations.value += 1
        for var in variables:
            constraint = getattr(var, "constraint", None)
            if constraint is not None:
                var.assign(constraint(var.value))
        return self.iterations

    def _update_all(self, grads, variables, slots):
        """One step for every variable: update_step on each in turn (a subclass may run them together)."""
        for g, var, var_slots in zip(grads, variables, slots):
            self.update_step(g, var, var_slots)

    def _update_moving_averages(self, variables, slots):
        """average = m * average + (1 - m) * w; every ema_overwrite_frequency steps w takes the average."""
        for var, var_slots in zip(variables, slots):
            average = var_slots["average"].value
            t = var.dtype.type
            average *= t(self.ema_momentum)
            average += t(1 - self.ema_momentum) * var.value
        if self.ema_overwrite_frequency and (self.iterations + 1) % self.ema_overwrite_frequency == 0:
            for var, var_slots in zip(variables, slots):
                var.value[...] = var_slots["average"].value

    def finalize_variable_values(self, var_list):
        """With use_ema, the model's variables take their moving averages (Keras calls this at the end of fit)."""
        if self.use_ema and self._built:
            for var in var_list:
                index = self._index.get(id(var))
                if index is not None:
                    var.value[...] = self._slots[index]["average"].value

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
        rate = self._learning_rate
        rate = schedules.serialize(rate) if isinstance(rate, schedules.LearningRateSchedule) else float(rate)
        return {"name": self.name, "weight_decay": self.weight_decay, "clipnorm": self.clipnorm,
                "global_clipnorm": self.global_clipnorm, "clipvalue": self.clipvalue, "use_ema": self.use_ema,
                "ema_momentum": self.ema_momentum, "ema_overwrite_frequency": self.ema_overwrite_frequency,
                "jit_compile": self.jit_compile, "is_legacy_optimizer": False, "learning_rate": rate}

    @classmethod
    def from_config(cls, config, custom_objects=None):
        config = dict(config)
        if isinstance(config.get("learning_rate"), dict):
            config["learning_rate"] = schedules.deserialize(config["learning_rate"], custom_objects)
        return cls(**config)

    def __repr__(self):
        rate = self._learning_rate
        shown = type(rate).__name__ if isinstance(rate, schedules.LearningRateSchedule) else f"{float(rate):g}"
        return f"<{type(self).__name__} name={self.name} learning_rate={shown}>"
