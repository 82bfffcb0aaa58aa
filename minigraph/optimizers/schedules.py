"""keras.optimizers.schedules: learning rates as functions of the optimizer's step, with Keras's formulas,
arguments, defaults and configs. A schedule returns a float32 (Keras computes in the dtype of
`initial_learning_rate`, float32 for a Python float); the formulas run in float64 and round once.

Serialized, a schedule is what Keras writes inside an optimizer's config:
{"module": "keras.optimizers.schedules", "class_name": "ExponentialDecay", "config": {...},
"registered_name": None}.
"""
import math

import numpy as np

from minigraph import registry

MODULE = "keras.optimizers.schedules"


def _check_positive(schedule, **values):
    for key, value in values.items():
        if not value > 0:
            raise ValueError(f"{type(schedule).__name__}: `{key}` must be > 0. Received: {key}={value}")


class LearningRateSchedule:
    """Base class: subclasses define `__call__(step)` and `get_config()`; from_config calls the constructor."""

    def __call__(self, step):
        raise NotImplementedError(f"Learning rate schedule '{type(self).__name__}' must override `__call__(self, "
                                  f"step)`.")

    def get_config(self):
        raise NotImplementedError(f"Learning rate schedule '{type(self).__name__}' must override `get_config()` "
                                  f"in order to be serializable.")

    @classmethod
    def from_config(cls, config):
        return cls(**config)


class _RatioDecay(LearningRateSchedule):
    """What ExponentialDecay and InverseTimeDecay share: their arguments, their config, and the ratio
    step / decay_steps they decay by, floored when staircase."""

    def __init__(self, initial_learning_rate, decay_steps, decay_rate, staircase=False, name=None):
        _check_positive(self, decay_steps=decay_steps)
        self.initial_learning_rate = initial_learning_rate
        self.decay_steps = decay_steps
        self.decay_rate = decay_rate
        self.staircase = staircase
        self.name = name

    def _ratio(self, step):
        p = float(step) / self.decay_steps
        return math.floor(p) if self.staircase else p

    def get_config(self):
        return {"initial_learning_rate": self.initial_learning_rate, "decay_steps": self.decay_steps,
                "decay_rate": self.decay_rate, "staircase": self.staircase, "name": self.name}


class ExponentialDecay(_RatioDecay):
    """initial_learning_rate * decay_rate ** (step / decay_steps), the exponent floored when staircase."""

    def __call__(self, step):
        return np.float32(self.initial_learning_rate * self.decay_rate ** self._ratio(step))


class PiecewiseConstantDecay(LearningRateSchedule):
    """values[0] up to and including boundaries[0], values[i] on (boundaries[i-1], boundaries[i]], then values[-1]."""

    def __init__(self, boundaries, values, name=None):
        if len(boundaries) != len(values) - 1:
            raise ValueError(f"PiecewiseConstantDecay: the length of boundaries should be 1 less than the length "
                             f"of values. Received: boundaries={boundaries} of length {len(boundaries)}, and "
                             f"values={values} of length {len(values)}.")
        self.boundaries = boundaries
        self.values = values
        self.name = name

    def __call__(self, step):
        step = float(step)
        for boundary, value in zip(self.boundaries, self.values):
            if step <= boundary:
                return np.float32(value)
        return np.float32(self.values[-1])

    def get_config(self):
        return {"boundaries": self.boundaries, "values": self.values, "name": self.name}


class PolynomialDecay(LearningRateSchedule):
    """(initial - end) * (1 - step / decay_steps) ** power + end; with cycle, decay_steps grows to the next
    multiple of itself above step, else step stops at decay_steps."""

    def __init__(self, initial_learning_rate, decay_steps, end_learning_rate=0.0001, power=1.0, cycle=False,
                 name=None):
        _check_positive(self, decay_steps=decay_steps)
        self.initial_learning_rate = initial_learning_rate
        self.decay_steps = decay_steps
        self.end_learning_rate = end_learning_rate
        self.power = power
        self.cycle = cycle
        self.name = name

    def __call__(self, step):
        step, decay_steps = float(step), float(self.decay_steps)
        if self.cycle:
            decay_steps *= 1.0 if step == 0 else math.ceil(step / decay_steps)
        else:
            step = min(step, decay_steps)
        p = step / decay_steps
        return np.float32((self.initial_learning_rate - self.end_learning_rate) * (1 - p) ** self.power
                          + self.end_learning_rate)

    def get_config(self):
        return {"initial_learning_rate": self.initial_learning_rate, "decay_steps": self.decay_steps,
                "end_learning_rate": self.end_learning_rate, "power": self.power, "cycle": self.cycle,
                "name": self.name}


class InverseTimeDecay(_RatioDecay):
    """initial_learning_rate / (1 + decay_rate * step / decay_steps), the ratio floored when staircase."""

    def __call__(self, step):
        return np.float32(self.initial_learning_rate / (1 + self.decay_rate * self._ratio(step)))


def _cosine(fraction, alpha):
    return (1 - alpha) * 0.5 * (1 + math.cos(math.pi * fraction)) + alpha


class CosineDecay(LearningRateSchedule):
    """Without warmup_target: initial * ((1 - alpha) * (1 + cos(pi * min(step, decay_steps) / decay_steps)) / 2
    + alpha). With it: linear from initial to warmup_target over warmup_steps, then that cosine from
    warmup_target over decay_steps."""

    def __init__(self, initial_learning_rate, decay_steps, alpha=0.0, name=None, warmup_target=None,
                 warmup_steps=0):
        _check_positive(self, decay_steps=decay_steps)
        self.initial_learning_rate = initial_learning_rate
        self.decay_steps = decay_steps
        self.alpha = alpha
        self.name = name
        self.warmup_steps = warmup_steps
        self.warmup_target = warmup_target

    def __call__(self, step):
        step, decay_steps = float(step), float(self.decay_steps)
        if self.warmup_target is None:
            step = min(step, decay_steps)
            return np.float32(self.initial_learning_rate * _cosine(step / decay_steps, self.alpha))
        step = min(step, decay_steps + self.warmup_steps)
        if step < self.warmup_steps:
            fraction = step / self.warmup_steps
            return np.float32((self.warmup_target - self.initial_learning_rate) * fraction
                              + self.initial_learning_rate)
        return np.float32(self.warmup_target * _cosine((step - self.warmup_steps) / decay_steps, self.alpha))

    def get_config(self):
        return {"initial_learning_rate": self.initial_learning_rate, "decay_steps": self.decay_steps,
                "alpha": self.alpha, "name": self.name, "warmup_target": self.warmup_target,
                "warmup_steps": self.warmup_steps}


class CosineDecayRestarts(LearningRateSchedule):
    """SGDR: cosine periods of first_decay_steps * t_mul ** i steps, the i-th peak scaled by m_mul ** i."""

    def __init__(self, initial_learning_rate, first_decay_steps, t_mul=2.0, m_mul=1.0, alpha=0.0, name=None):
        _check_positive(self, first_decay_steps=first_decay_steps)
        self.initial_learning_rate = initial_learning_rate
        self.first_decay_steps = first_decay_steps
        self._t_mul = t_mul
        self._m_mul = m_mul
        self.alpha = alpha
        self.name = name

    def __call__(self, step):
        fraction = float(step) / self.first_decay_steps
        t_mul = float(self._t_mul)
        if t_mul == 1.0:
            restart = math.floor(fraction)
            fraction -= restart
        else:  # periods grow geometrically: find the period that contains the step, then the place in it
            restart = math.floor(math.log(1.0 - fraction * (1.0 - t_mul)) / math.log(t_mul))
            done = (1.0 - t_mul ** restart) / (1.0 - t_mul)
            fraction = (fraction - done) / t_mul ** restart
        peak = self._m_mul ** restart
        decayed = (1 - self.alpha) * 0.5 * peak * (1 + math.cos(math.pi * fraction)) + self.alpha
        return np.float32(self.initial_learning_rate * decayed)

    def get_config(self):
        return {"initial_learning_rate": self.initial_learning_rate, "first_decay_steps": self.first_decay_steps,
                "t_mul": self._t_mul, "m_mul": self._m_mul, "alpha": self.alpha, "name": self.name}


_BUILTIN = {cls.__name__: cls for cls in (ExponentialDecay, PiecewiseConstantDecay, PolynomialDecay,
                                          InverseTimeDecay, CosineDecay, CosineDecayRestarts)}


def serialize(schedule):
    """Keras's serialize_keras_object form of a schedule, as tf.keras 2.13+ writes it in optimizer configs."""
    if not isinstance(schedule, LearningRateSchedule):
        raise TypeError(f"schedules.serialize: expected a LearningRateSchedule, received {schedule!r}")
    cls = type(schedule)
    builtin = _BUILTIN.get(cls.__name__) is cls
    registered = None if builtin else registry.get_registered_name(schedule)
    return {"module": MODULE if builtin else cls.__module__, "class_name": cls.__name__,
            "config": schedule.get_config(), "registered_name": registered}


def deserialize(config, custom_objects=None):
    """A schedule from serialize's dict (or the older {"class_name", "config"}): a built-in by class name, a
    custom one from custom_objects, a custom_object_scope or register_keras_serializable."""
    if not isinstance(config, dict) or "class_name" not in config:
        raise ValueError(f"schedules.deserialize: expected a dict with 'class_name', received {config!r}")
    name = config["class_name"]
    cls = None
    for candidate in (config.get("registered_name"), name):
        if candidate and cls is None:
            cls = registry.custom_object(candidate, custom_objects)
    cls = cls or _BUILTIN.get(name)
    if cls is None:
        raise ValueError(f"Unknown learning rate schedule '{name}'. Known schedules: {sorted(_BUILTIN)}; pass a "
                         f"custom one in custom_objects={{'{name}': {name}}}.")
    return cls.from_config(dict(config.get("config", {})))


__all__ = ["LearningRateSchedule", "serialize", "deserialize", *_BUILTIN]
