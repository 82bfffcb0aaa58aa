"""Callbacks that set the optimizer's learning rate: LearningRateScheduler and ReduceLROnPlateau. Both log the
rate as 'lr' at each epoch's end, as tf.keras 2 does."""
import numpy as np

from minigraph.callbacks.base import Callback, _log


def _learning_rate(model, who):
    optimizer = getattr(model, "optimizer", None)
    if optimizer is None or not hasattr(optimizer, "learning_rate"):
        raise ValueError(f'{who}: the optimizer must have a "learning_rate" attribute (compile the model first)')
    return float(optimizer.learning_rate)


class LearningRateScheduler(Callback):
    """`LearningRateScheduler(schedule, verbose=0)`: at each epoch's start the learning rate becomes
    schedule(epoch, lr) (or schedule(epoch) for a one-argument schedule), epochs counted from 0."""

    def __init__(self, schedule, verbose=0):
        super().__init__()
        if not callable(schedule):
            raise TypeError(f"LearningRateScheduler: schedule must be callable, got {type(schedule).__name__}")
        self.schedule = schedule
        self.verbose = verbose

    def on_epoch_begin(self, epoch, logs=None):
        lr = _learning_rate(self.model, "LearningRateScheduler")
        try:
            lr = self.schedule(epoch, lr)
        except TypeError:  # a schedule of the epoch alone (Keras's older form)
            lr = self.schedule(epoch)
        if not isinstance(lr, (float, np.floating)) and not (
                isinstance(lr, np.ndarray) and lr.ndim == 0 and lr.dtype.kind == "f"):
            raise ValueError(f'The output of the "schedule" function should be float. Got: {lr!r}')
        self.model.optimizer.learning_rate = float(lr)
        if self.verbose > 0:
            print(f"\nEpoch {epoch + 1}: LearningRateScheduler setting learning rate to {lr}.")

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            logs["lr"] = _learning_rate(self.model, "LearningRateScheduler")


class ReduceLROnPlateau(Callback):
    """`ReduceLROnPlateau(monitor="val_loss", factor=0.1, patience=10, verbose=0, mode="auto", min_delta=1e-4,
    cooldown=0, min_lr=0)`: multiply the learning rate by `factor` (not below min_lr) when `monitor` has not
    improved by more than min_delta for `patience` epochs, then wait `cooldown` epochs before counting again.
    'auto' maximises a monitor with 'acc' in its name and minimises the others."""

    def __init__(self, monitor="val_loss", factor=0.1, patience=10, verbose=0, mode="auto", min_delta=1e-4,
                 cooldown=0, min_lr=0, **kwargs):
        super().__init__()
        if "epsilon" in kwargs:  # Keras's old name for min_delta
            min_delta = kwargs.pop("epsilon")
            _log.warning("`epsilon` argument is deprecated and will be removed, use `min_delta` instead.")
        if kwargs:
            raise TypeError(f"ReduceLROnPlateau got unexpected keyword argument(s) {sorted(kwargs)}")
        if factor >= 1.0:
            raise ValueError(f"ReduceLROnPlateau does not support a factor >= 1.0. Got {factor}")
        self.monitor = monitor
        self.factor = factor
        self.patience = patience
        self.verbose = verbose
        self.mode = mode
        self.min_delta = min_delta
        self.cooldown = cooldown
        self.min_lr = min_lr
        self._reset()

    def _reset(self):
        if self.mode not in ("auto", "min", "max"):
            _log.warning("Learning rate reduction mode %s is unknown, fallback to auto mode.", self.mode)
            self.mode = "auto"
        if self.mode == "min" or (self.mode == "auto" and "acc" not in self.monitor):
            self.monitor_op = lambda current, best: np.less(current, best - self.min_delta)
            self.best = np.inf
        else:
            self.monitor_op = lambda current, best: np.greater(current, best + self.min_delta)
            self.best = -np.inf
        self.cooldown_counter = 0
        self.wait = 0

    def on_train_begin(self, logs=None):
        self._reset()

    def in_cooldown(self):
        return self.cooldown_counter > 0

    def on_epoch_end(self, epoch, logs=None):
        logs = logs if logs is not None else {}
        logs["lr"] = _learning_rate(self.model, "ReduceLROnPlateau")
        current = logs.get(self.monitor)
        if current is None:
            _log.warning("Learning rate reduction is conditioned on metric `%s` which is not available. Available "
                         "metrics are: %s", self.monitor, ",".join(logs))
            return
        if self.in_cooldown():
            self.cooldown_counter -= 1
            self.wait = 0
        if self.monitor_op(current, self.best):
            self.best = current
            self.wait = 0
        elif not self.in_cooldown():
            self.wait += 1
            if self.wait >= self.patience:
                old_lr = _learning_rate(self.model, "ReduceLROnPlateau")
                if old_lr > np.float32(self.min_lr):
                    new_lr = max(old_lr * self.factor, self.min_lr)
                    self.model.optimizer.learning_rate = new_lr
                    if self.verbose > 0:
                        print(f"\nEpoch {epoch + 1}: ReduceLROnPlateau reducing learning rate to {new_lr}.")
                    self.cooldown_counter = self.cooldown
                    self.wait = 0
