"""The progress bar fit, evaluate and predict print (Progbar), and the callback that drives it (ProgbarLogger).

verbose=1 redraws one line per batch: the bar, the ETA while the epoch runs and the elapsed time and time per
step at its end; verbose=2 prints only the end-of-epoch line. Values show with four decimals (or in %.4e when
their magnitude is at most 1e-3), as Keras's do.
"""
import sys
import time

from minigraph.callbacks.base import Callback


def format_value(value, signed=False):
    """A log value as Keras's progress bar shows it: %.4f, or %.4e from 1e-3 down (verbose=2 compares the signed
    value, so its negative values show in %.4e: Keras's rule)."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        return f" {value}"  # a list-valued metric (F1Score(average=None)) shows as it is
    return f" {number:.4f}" if (number if signed else abs(number)) > 1e-3 else f" {number:.4e}"


def format_time(seconds, unit_name):
    if seconds >= 1 or seconds == 0:
        return f" {seconds:.0f}s/{unit_name}"
    if seconds >= 1e-3:
        return f" {seconds * 1e3:.0f}ms/{unit_name}"
    return f" {seconds * 1e6:.0f}us/{unit_name}"


def format_eta(seconds):
    if seconds > 3600:
        return f"{int(seconds // 3600)}:{int(seconds % 3600 // 60):02d}:{int(seconds % 60):02d}"
    if seconds > 60:
        return f"{int(seconds // 60)}:{int(seconds % 60):02d}"
    return f"{int(seconds)}s"


class Progbar:
    """`Progbar(target, width=30, verbose=1, interval=0.05, stateful_metrics=None, unit_name="step")`.

    update(current, values, finalize) takes (name, value) pairs: a stateful metric shows its latest value, the
    others their average over the steps so far. On a terminal (or with dynamic_display=True) verbose=1 redraws
    its line in place with "\\r" and pads it with spaces to the previous line's width, so a shorter line leaves
    nothing of the longer one behind; elsewhere it prints only the final line.
    """

    def __init__(self, target, width=30, verbose=1, interval=0.05, stateful_metrics=None, unit_name="step",
                 stream=None, dynamic_display=None):
        if verbose not in (0, 1, 2):
            raise ValueError(f"Progbar: verbose must be 0, 1 or 2, got {verbose!r}")
        self.target = target
        self.width = width
        self.verbose = verbose
        self.interval = interval
        self.unit_name = unit_name
        self.stateful_metrics = set(stateful_metrics or ())
        self._stream = stream
        self._dynamic_display = dynamic_display
        self._totals = {}  # name -> [weighted sum, steps] (stateful: [value, 1])
        self._order = []
        self._seen = 0
        self._start = time.time()
        self._last_update = 0.0
        self._time_after_first_step = None
        self._line_width = 0

    @property
    def stream(self):
        return self._stream if self._stream is not None else sys.stdout

    def _dynamic(self):
        if self._dynamic_display is not None:
            return self._dynamic_display
        isatty = getattr(self.stream, "isatty", None)
        return bool(isatty and isatty())

    def update(self, current, values=None, finalize=None):
        if finalize is None:
            finalize = self.target is not None and current >= self.target
        for name, value in values or []:
            if name not in self._order:
                self._order.append(name)
            if name in self.stateful_metrics or not _is_number(value):
                self._totals[name] = [value, 1]
            else:
                steps = max(current - self._seen, 1)
                total = self._totals.setdefault(name, [0.0, 0])
                total[0] += float(value) * steps
                total[1] += steps
        self._seen = current
        now = time.time()
        if self.verbose == 1:
            if not finalize and now - self._last_update < self.interval:
                return
            if self._dynamic():
                self._write_line("\r" + self._live_line(current, now, finalize), finalize)
            elif finalize:
                self._write_line(self._live_line(current, now, True), True)
        elif self.verbose == 2 and finalize:
            elapsed = now - self._start
            line = f"{current}/{self.target} - {elapsed:.0f}s{self._values_text(signed=True)}"
            line += f" -{format_time(elapsed, 'epoch')} -{format_time(elapsed / max(current, 1), self.unit_name)}"
            self._write_line(line, True)
        self._last_update = now

    def add(self, n, values=None):
        self.update(self._seen + n, values)

    def _values_text(self, signed=False):
        text = ""
        for name in self._order:
            total, count = self._totals[name]
            text += f" - {name}:" + format_value(total / max(count, 1) if _is_number(total) else total, signed)
        return text

    def _live_line(self, current, now, finalize):
        """The bar, then the ETA (running) or elapsed time and time per step (finished), then the values."""
        if self.target:
            digits = len(str(self.target))
            filled = int(self.width * current / self.target)
            bar = "=" * max(filled - 1, 0)
            if filled > 0:
                bar += ">" if current < self.target else "="
            bar = f"{current:>{digits}}/{self.target} [{bar}{'.' * (self.width - filled)}]"
        else:
            bar = f"{current:>7}/Unknown"
        per_step = self._step_duration(current, now)
        if not self.target or finalize:
            info = f" - {now - self._start:.0f}s{format_time(per_step, self.unit_name)}"
        else:
            info = f" - ETA: {format_eta(per_step * (self.target - current))}"
        return bar + info + self._values_text()

    def _step_duration(self, current, now):
        """Seconds per step, leaving out the first step (its start-up cost) once there are more."""
        if not current:
            return 0.0
        if self._time_after_first_step is not None and current > 1:
            duration = (now - self._time_after_first_step) / (current - 1)
        else:
            duration = (now - self._start) / current
        if current == 1:
            self._time_after_first_step = now
        return duration

    def _write_line(self, line, finalize):
        width = len(line.lstrip("\r"))
        padding = " " * max(self._line_width - width, 0)  # blanks over what a longer previous line left
        self._line_width = 0 if finalize else width
        self.stream.write(line + padding + ("\n" if finalize else ""))
        self.stream.flush()


def _is_number(value):
    try:
        float(value)
    except (TypeError, ValueError):
        return False
    return True


class ProgbarLogger(Callback):
    """`ProgbarLogger(count_mode="samples", stateful_metrics=None)`: prints the progress bar of fit (the
    training batches, then the epoch's line with its validation values), evaluate and predict. fit and
    evaluate add one when verbose is not 0. Batches are counted (the only count tf.keras 2 has: its batch logs
    carry no sample counts); the logs are running means already, so they show as given.
    """

    def __init__(self, count_mode="samples", stateful_metrics=None):
        super().__init__()
        if count_mode not in ("samples", "steps"):
            raise ValueError(f"ProgbarLogger: unknown count_mode {count_mode!r}; expected 'samples' or 'steps'")
        self.count_mode = count_mode
        self.stateful_metrics = set(stateful_metrics or ())
        self.verbose = 1
        self.epochs = 1
        self.target = None
        self.progbar = None
        self._called_in_fit = False
        self._step = 0

    def set_params(self, params):
        super().set_params(params)
        verbose = params.get("verbose", 1)
        self.verbose = 1 if verbose == "auto" else verbose
        self.epochs = params.get("epochs", 1)
        self.target = params.get("steps")

    def _start(self, target):
        self._step = 0
        self.progbar = Progbar(target, verbose=self.verbose, stateful_metrics=self.stateful_metrics)

    def _batch(self, batch, logs):
        self._step = batch + 1
        if self.progbar is None:
            self._start(self.target)
        self.progbar.stateful_metrics.update(logs or {})  # fit's logs are the epoch's running values already
        self.progbar.update(self._step, list((logs or {}).items()), finalize=False)

    def _finish(self, logs):
        if self.progbar is None:
            self._start(self.target)
        if self.progbar.target is None:
            self.progbar.target = self._step
        self.progbar.stateful_metrics.update(logs or {})
        self.progbar.update(self._step, list((logs or {}).items()), finalize=True)

    def on_train_begin(self, logs=None):
        self._called_in_fit = True

    def on_epoch_begin(self, epoch, logs=None):
        self._start(self.target)
        if self.verbose and self.epochs > 1:
            print(f"Epoch {epoch + 1}/{self.epochs}", file=self.progbar.stream)

    def on_train_batch_end(self, batch, logs=None):
        self._batch(batch, logs)

    def on_epoch_end(self, epoch, logs=None):
        self._finish(logs)

    def on_train_end(self, logs=None):
        self._called_in_fit = False

    def on_test_begin(self, logs=None):
        if not self._called_in_fit:  # fit's validation shows in the epoch's line, not on a bar of its own
            self._start(self.target)

    def on_test_batch_end(self, batch, logs=None):
        if not self._called_in_fit:
            self._batch(batch, logs)

    def on_test_end(self, logs=None):
        if not self._called_in_fit:
            self._finish(logs)

    def on_predict_begin(self, logs=None):
        self._start(self.target)

    def on_predict_batch_end(self, batch, logs=None):
        self._batch(batch, {})  # the outputs are not for printing

    def on_predict_end(self, logs=None):
        self._finish({})

