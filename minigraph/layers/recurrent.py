"""Recurrent layers: the cells (SimpleRNNCell, LSTMCell, GRUCell), RNN(cell), and SimpleRNN, LSTM, GRU.

A cell is one step, written with minigraph.ops: it is the reference, it takes any activation and Keras's
recurrent dropout, and a user's own cell written the same way trains through `RNN(cell)` on this generic
path without a hand-written gradient. The three built-in layers run the whole sequence in one compiled
kernel (ops.lstm_sequence and friends) whenever the kernel covers the configuration (its activations, no
recurrent dropout), which the tests hold to the generic path.

Keras's rules: gate order i, f, c, o (LSTM) and z, r, h (GRU); a masked step keeps the states and repeats
the previous output; go_backwards reads the sequence from its end and returns the outputs in that order.
"""
import numpy as np

from minigraph import activations, constraints, initializers, ops, registry, regularizers
from minigraph.layers._builtin import BuiltinLayer
from minigraph.layers.base import flatten, shape_str

_KERNEL_ACTIVATIONS = {"tanh", "sigmoid", "hard_sigmoid", "relu", "linear"}


def _dropout_mask(shape, rate, dtype):
    rng = initializers._rng  # seeded by keras.utils.set_random_seed, as Dropout's masks are
    return ((rng.random(shape) >= rate) / (1.0 - rate)).astype(dtype)


class _Cell(BuiltinLayer):
    """What the built-in cells share: `n_gates` blocks of `units` columns in kernel, recurrent kernel and
    bias, Keras's initializers, regularizers, constraints and dropout arguments."""

    n_gates = 1
    n_states = 1

    def __init__(self, units, activation="tanh", recurrent_activation="sigmoid", use_bias=True,
                 kernel_initializer="glorot_uniform", recurrent_initializer="orthogonal", bias_initializer="zeros",
                 kernel_regularizer=None, recurrent_regularizer=None, bias_regularizer=None,
                 kernel_constraint=None, recurrent_constraint=None, bias_constraint=None, dropout=0.0,
                 recurrent_dropout=0.0, seed=None, **kwargs):
        super().__init__(**kwargs)
        self.units = self._positive_int(units, "units")
        self.activation = self._lookup(activations.get, activation, "activation")
        self.recurrent_activation = self._lookup(activations.get, recurrent_activation, "recurrent_activation")
        self.use_bias = bool(use_bias)
        for kind, getter in (("initializer", initializers.get), ("regularizer", regularizers.get),
                             ("constraint", constraints.get)):
            for part in ("kernel", "recurrent", "bias"):
                arg = f"{part}_{kind}"
                setattr(self, arg, self._lookup(getter, locals()[arg], arg))
        self.dropout = self._rate(dropout, "dropout")
        self.recurrent_dropout = self._rate(recurrent_dropout, "recurrent_dropout")
        self.seed = seed
        self.kernel = self.recurrent_kernel = self.bias = None

    def _rate(self, value, arg):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value < 1:
            raise self._error(f"argument {arg} must be a number in [0, 1), got {value!r}")
        return float(value)

    @property
    def state_size(self):
        return [self.units] * self.n_states if self.n_states > 1 else self.units

    @property
    def output_size(self):
        return self.units

    def _bias_shape(self):
        return (self.n_gates * self.units,)

    def _bias_initializer(self):
        return self.bias_initializer

    def build(self, input_shape):
        features = input_shape[-1]
        if features is None:
            raise self._error(f"the last dimension of the input must be defined, got shape {shape_str(input_shape)}")
        width = self.n_gates * self.units
        self.kernel = self.add_weight("kernel", (features, width), initializer=self.kernel_initializer,
                                      regularizer=self.kernel_regularizer, constraint=self.kernel_constraint)
        self.recurrent_kernel = self.add_weight("recurrent_kernel", (self.units, width),
                                                initializer=self.recurrent_initializer,
                                                regularizer=self.recurrent_regularizer,
                                                constraint=self.recurrent_constraint)
        if self.use_bias:
            self.bias = self.add_weight("bias", self._bias_shape(), initializer=self._bias_initializer(),
                                        regularizer=self.bias_regularizer, constraint=self.bias_constraint)
        self.built = True

    def get_initial_state(self, batch_size, dtype="float32"):
        return [np.zeros((batch_size, self.units), dtype=dtype) for _ in range(self.n_states)]

    def _gate(self, z, k):
        return z[:, k * self.units:(k + 1) * self.units]

    def get_config(self):
        config = {**super().get_config(), "units": self.units,
                  "activation": activations.serialize(self.activation), "use_bias": self.use_bias}
        if self.n_gates > 1:
            config["recurrent_activation"] = activations.serialize(self.recurrent_activation)
        for part in ("kernel", "recurrent", "bias"):
            config[f"{part}_initializer"] = initializers.serialize(getattr(self, f"{part}_initializer"))
        for kind, serialize in (("regularizer", regularizers.serialize), ("constraint", constraints.serialize)):
            for part in ("kernel", "recurrent", "bias"):
                config[f"{part}_{kind}"] = serialize(getattr(self, f"{part}_{kind}"))
        config.update(dropout=self.dropout, recurrent_dropout=self.recurrent_dropout)
        return config

    # the fused whole-sequence path ------------------------------------------------------------------
    def _kernel_activations(self):
        names = [activations.serialize(self.activation), activations.serialize(self.recurrent_activation)]
        return names if all(name in _KERNEL_ACTIVATIONS for name in names) else None


@registry.register
class SimpleRNNCell(_Cell):
    """h = activation(x W + h_prev U + b)."""

    def __init__(self, units, activation="tanh", use_bias=True, **kwargs):
        kwargs.pop("recurrent_activation", None)
        super().__init__(units, activation=activation, use_bias=use_bias, **kwargs)

    def call(self, inputs, states, training=None):
        h_prev = states[0] if isinstance(states, (list, tuple)) else states
        z = ops.matmul(inputs, self.kernel) + ops.matmul(h_prev, self.recurrent_kernel)
        if self.bias is not None:
            z = z + self.bias
        h = self.activation(z)
        return h, [h]

    def _sequence(self, x, states, mask, zero_output_for_mask):
        names = self._kernel_activations()
        if names is None:
            return None
        return ops.simple_rnn_sequence(x, self.kernel, self.recurrent_kernel, self.bias, states[0], mask=mask,
                                       activation=names[0], zero_output_for_mask=zero_output_for_mask)

    def get_config(self):
        config = super().get_config()
        return config


@registry.register
class LSTMCell(_Cell):
    """Keras's LSTM step, gates i, f, c, o; unit_forget_bias starts the forget gate's bias at one."""

    n_gates = 4
    n_states = 2

    def __init__(self, units, unit_forget_bias=True, implementation=2, **kwargs):
        super().__init__(units, **kwargs)
        self.unit_forget_bias = bool(unit_forget_bias)
        if implementation not in (1, 2):
            raise self._error(f"argument implementation must be 1 or 2, got {implementation!r}")
        self.implementation = implementation  # Keras's choice of matrix shapes, the same numbers

    def _bias_initializer(self):
        if not self.unit_forget_bias:
            return self.bias_initializer
        base, units = self.bias_initializer, self.units

        def initializer(shape, dtype=None):
            values = np.asarray(base((shape[0],), dtype=dtype), dtype=dtype)
            values[units:2 * units] = 1.0
            return values
        return initializer

    def call(self, inputs, states, training=None):
        h_prev, c_prev = states
        z = ops.matmul(inputs, self.kernel) + ops.matmul(h_prev, self.recurrent_kernel)
        if self.bias is not None:
            z = z + self.bias
        i = self.recurrent_activation(self._gate(z, 0))
        f = self.recurrent_activation(self._gate(z, 1))
        c = f * c_prev + i * self.activation(self._gate(z, 2))
        o = self.recurrent_activation(self._gate(z, 3))
        h = o * self.activation(c)
        return h, [h, c]

    def _sequence(self, x, states, mask, zero_output_for_mask):
        names = self._kernel_activations()
        if names is None:
            return None
        return ops.lstm_sequence(x, self.kernel, self.recurrent_kernel, self.bias, states[0], states[1],
                                 mask=mask, activation=names[0], recurrent_activation=names[1],
                                 zero_output_for_mask=zero_output_for_mask)

    def get_config(self):
        return {**super().get_config(), "unit_forget_bias": self.unit_forget_bias,
                "implementation": self.implementation}


@registry.register
class GRUCell(_Cell):
    """Keras's GRU step, gates z, r, h; reset_after=True (TF2's default) applies the reset gate after the
    recurrent product and keeps separate input and recurrent biases (bias shape (2, 3 * units))."""

    n_gates = 3

    def __init__(self, units, reset_after=True, implementation=2, **kwargs):
        super().__init__(units, **kwargs)
        self.reset_after = bool(reset_after)
        if implementation not in (1, 2):
            raise self._error(f"argument implementation must be 1 or 2, got {implementation!r}")
        self.implementation = implementation

    def _bias_shape(self):
        return (2, 3 * self.units) if self.reset_after else (3 * self.units,)

    def call(self, inputs, states, training=None):
        h_prev = states[0] if isinstance(states, (list, tuple)) else states
        u = self.units
        x_proj = ops.matmul(inputs, self.kernel)
        if self.bias is not None:
            x_proj = x_proj + (self.bias[0] if self.reset_after else self.bias)
        if self.reset_after:
            h_proj = ops.matmul(h_prev, self.recurrent_kernel)
            if self.bias is not None:
                h_proj = h_proj + self.bias[1]
            z = self.recurrent_activation(self._gate(x_proj, 0) + self._gate(h_proj, 0))
            r = self.recurrent_activation(self._gate(x_proj, 1) + self._gate(h_proj, 1))
            hh = self.activation(self._gate(x_proj, 2) + r * self._gate(h_proj, 2))
        else:
            h_proj = ops.matmul(h_prev, self.recurrent_kernel[:, :2 * u])
            z = self.recurrent_activation(self._gate(x_proj, 0) + self._gate(h_proj, 0))
            r = self.recurrent_activation(self._gate(x_proj, 1) + self._gate(h_proj, 1))
            hh = self.activation(self._gate(x_proj, 2) + ops.matmul(r * h_prev, self.recurrent_kernel[:, 2 * u:]))
        h = z * h_prev + (1.0 - z) * hh
        return h, [h]

    def _sequence(self, x, states, mask, zero_output_for_mask):
        names = self._kernel_activations()
        if names is None:
            return None
        return ops.gru_sequence(x, self.kernel, self.recurrent_kernel, self.bias, states[0], mask=mask,
                                activation=names[0], recurrent_activation=names[1], reset_after=self.reset_after,
                                zero_output_for_mask=zero_output_for_mask)

    def get_config(self):
        return {**super().get_config(), "reset_after": self.reset_after, "implementation": self.implementation}


@registry.register
class RNN(BuiltinLayer):
    """A cell run over the steps of (batch, time, features)."""

    supports_masking = True

    def __init__(self, cell, return_sequences=False, return_state=False, go_backwards=False, stateful=False,
                 unroll=False, time_major=False, zero_output_for_mask=False, **kwargs):
        super().__init__(**kwargs)
        if isinstance(cell, dict):
            cell = registry.deserialize(cell)
        if isinstance(cell, (list, tuple)):
            raise self._error("stacked cells (a list of cells) are not supported; stack RNN layers instead")
        if not hasattr(cell, "call") or not hasattr(cell, "state_size"):
            raise self._error(f"cell must be a layer with call(inputs, states) and state_size, got {cell!r}")
        if time_major:
            raise self._error("argument time_major=True is not supported")
        self.cell = cell
        self.return_sequences = bool(return_sequences)
        self.return_state = bool(return_state)
        self.go_backwards = bool(go_backwards)
        self.stateful = bool(stateful)
        self.unroll = bool(unroll)  # TensorFlow's loop unrolling: the same numbers, accepted
        self.time_major = False
        self.zero_output_for_mask = bool(zero_output_for_mask)
        self._states = None

    @property
    def _output_size(self):
        """Keras's rule: the cell's output_size, else the first of its state sizes."""
        size = getattr(self.cell, "output_size", None)
        if size is None:
            size = self.cell.state_size
            size = size[0] if isinstance(size, (list, tuple)) else size
        return size

    @property
    def _n_states(self):
        size = self.cell.state_size
        return len(size) if isinstance(size, (list, tuple)) else 1

    def build(self, input_shape):
        shape = self._sequence_shape(input_shape)
        if self.stateful and shape[0] is None:
            raise self._error("a stateful RNN needs a fixed batch size: give the input a batch size, e.g. "
                              "keras.Input(shape=..., batch_size=32) or batch_input_shape")
        if not self.cell.built:
            self.cell._maybe_build((shape[0], shape[2]))
        self._name_cell_weights()
        self.built = True

    def _name_cell_weights(self):
        """Keras 2's weight names: 'lstm/lstm_cell/kernel:0' (the layer's scope, then the cell's)."""
        for var in self.cell._own_variables:
            if not var.name.startswith(f"{self.name}/"):
                var.name = f"{self.name}/{var.name}"

    def _sequence_shape(self, input_shape):
        shape = self._input_shape(input_shape)
        if len(shape) != 3:
            raise self._error(f"expects a 3-D input (batch, time, features), got shape {shape_str(shape)}")
        return shape

    def compute_output_shape(self, input_shape):
        shape = self._sequence_shape(input_shape)
        units = self._output_size
        out = (shape[0], shape[1], units) if self.return_sequences else (shape[0], units)
        if self.return_state:
            sizes = self.cell.state_size
            sizes = list(sizes) if isinstance(sizes, (list, tuple)) else [sizes]
            return [out] + [(shape[0], s) for s in sizes]
        return out

    def compute_output_spec(self, inputs, initial_state=None, **kwargs):
        from minigraph.layers.base import KerasTensor
        shapes = self.compute_output_shape(inputs.shape)
        if self.return_state:
            return [KerasTensor(s, self.dtype) for s in shapes]
        return KerasTensor(shapes, self.dtype)

    def compute_mask(self, inputs, mask=None):
        mask = mask if not isinstance(mask, (list, tuple)) else mask[0]
        out = mask if self.return_sequences else None
        return [out] + [None] * self._n_states if self.return_state else out

    def _produces_mask(self, args, mask):
        return self.return_sequences and super()._produces_mask(args, mask)

    def reset_states(self, states=None):
        if not self.stateful:
            raise self._error("reset_states() is for stateful layers (stateful=True)")
        self._states = None if states is None else [np.asarray(s, dtype=self.dtype) for s in flatten(states)]

    def _initial_states(self, batch, initial_state):
        n = self._n_states
        if initial_state is None:
            if self.stateful and self._states is not None:
                return list(self._states)
            if hasattr(self.cell, "get_initial_state"):
                return self.cell.get_initial_state(batch, self.dtype)
            sizes = self.cell.state_size
            sizes = list(sizes) if isinstance(sizes, (list, tuple)) else [sizes]
            return [np.zeros((batch, size), dtype=self.dtype) for size in sizes]
        states = list(initial_state) if isinstance(initial_state, (list, tuple)) else [initial_state]
        sizes = self.cell.state_size
        sizes = list(sizes) if isinstance(sizes, (list, tuple)) else [sizes]
        if len(states) != n:
            raise self._error(f"initial_state must be {n} tensor(s) (the cell's state_size {sizes}), got {len(states)}")
        for s, size in zip(states, sizes):
            if tuple(s.shape) != (batch, size):
                raise self._error(f"initial_state has shape {tuple(s.shape)}, expected ({batch}, {size})")
        return states

    def call(self, inputs, mask=None, training=None, initial_state=None):
        batch, steps, features = inputs.shape
        if steps == 0:  # Keras (both versions) fails here too: its loop reads the first step
            raise self._error(f"cannot run over a sequence of 0 timesteps (input shape "
                              f"{shape_str(inputs.shape)}); give it at least one step")
        if mask is not None:
            mask = np.asarray(getattr(mask, "data", mask))
            if mask.shape != (batch, steps):
                raise self._error(f"the mask has shape {mask.shape}, but the input {(batch, steps, features)} "
                                  f"needs ({batch}, {steps})")
            mask = mask.astype(bool)
        states = self._initial_states(batch, initial_state)
        x = inputs
        if self.go_backwards:
            x = x[:, ::-1]
            mask = None if mask is None else mask[:, ::-1]
        dropout = getattr(self.cell, "dropout", 0.0)
        if training and dropout:
            x = x * _dropout_mask((batch, 1, features), dropout, inputs.dtype)
        packed = None
        fused = getattr(self.cell, "_sequence", None)
        if fused is not None and not (training and getattr(self.cell, "recurrent_dropout", 0.0)):
            packed = fused(x, states, mask, self.zero_output_for_mask)
        if packed is not None:
            outputs = packed[:, :steps]
            final = [packed[:, steps + k] for k in range(self._n_states)]
            last = outputs[:, steps - 1] if steps else ops.zeros((batch, self._output_size), inputs.dtype)
        else:
            outputs, last, final = self._loop(x, states, mask, training)
        if self.stateful:
            self._states = [np.array(getattr(s, "data", s)) for s in final]
        out = outputs if self.return_sequences else last
        return [out] + list(final) if self.return_state else out

    def _loop(self, x, states, mask, training):
        """The generic path: the cell's own call, step by step, with Keras's mask rule."""
        batch, steps, _ = x.shape
        recurrent_rate = getattr(self.cell, "recurrent_dropout", 0.0) if training else 0.0
        rec_mask = _dropout_mask((batch, self._output_size), recurrent_rate, x.dtype) if recurrent_rate else None
        outputs, prev_out = [], ops.zeros((batch, self._output_size), dtype=x.dtype)
        cell_kwargs = {"training": training} if self.cell._signature[1] else {}
        for t in range(steps):
            step_states = list(states)
            if rec_mask is not None:
                step_states[0] = step_states[0] * rec_mask
            out, new_states = self.cell.call(x[:, t], step_states if len(states) > 1 else step_states[0],
                                             **cell_kwargs)
            new_states = list(new_states) if isinstance(new_states, (list, tuple)) else [new_states]
            if mask is not None:
                keep = mask[:, t:t + 1]
                new_states = [ops.where(keep, n, s) for n, s in zip(new_states, states)]
                out = ops.where(keep, out, ops.zeros_like(out) if self.zero_output_for_mask else prev_out)
            states, prev_out = new_states, out
            outputs.append(out)
        seq = ops.stack(outputs, axis=1) if outputs else ops.zeros((batch, 0, self._output_size), x.dtype)
        return seq, prev_out, states

    def get_config(self):
        config = {**super().get_config(), "return_sequences": self.return_sequences,
                  "return_state": self.return_state, "go_backwards": self.go_backwards, "stateful": self.stateful,
                  "unroll": self.unroll, "time_major": self.time_major}
        if type(self) is RNN:
            config["cell"] = registry.serialize(self.cell)
            config["zero_output_for_mask"] = self.zero_output_for_mask
        return config


class _BuiltinRNN(RNN):
    """SimpleRNN, LSTM and GRU: an RNN that makes its own cell from the layer's arguments."""

    _cell_class = None
    _cell_args = ()

    def __init__(self, units, return_sequences=False, return_state=False, go_backwards=False, stateful=False,
                 unroll=False, time_major=False, **kwargs):
        cell_kwargs = {k: kwargs.pop(k) for k in list(kwargs) if k in self._cell_args}
        if "dtype" in kwargs:
            cell_kwargs["dtype"] = kwargs["dtype"]
        cell = self._cell_class(units, name=f"{self._cell_class.__name__[:-4].lower()}_cell"
                                if self._cell_class is not SimpleRNNCell else "simple_rnn_cell", **cell_kwargs)
        super().__init__(cell, return_sequences=return_sequences, return_state=return_state,
                         go_backwards=go_backwards, stateful=stateful, unroll=unroll, time_major=time_major, **kwargs)

    def __getattr__(self, name):
        # Keras exposes the cell's settings on the layer (lstm.units, lstm.kernel, ...)
        if name != "cell" and "cell" in self.__dict__ and name in self._cell_attributes:
            return getattr(self.__dict__["cell"], name)
        raise AttributeError(f"'{type(self).__name__}' object has no attribute '{name}'")

    @classmethod
    def _accepted_keys(cls):
        return super()._accepted_keys() | cls._cell_class._accepted_keys()

    _cell_attributes = frozenset(("units", "activation", "recurrent_activation", "use_bias", "kernel",
                                  "recurrent_kernel", "bias", "dropout", "recurrent_dropout", "kernel_initializer",
                                  "recurrent_initializer", "bias_initializer", "unit_forget_bias", "reset_after"))

    def get_config(self):
        cell = {k: v for k, v in self.cell.get_config().items() if k not in ("name", "trainable", "dtype")}
        base = RNN.get_config(self)
        return {**base, **cell, "activity_regularizer": regularizers.serialize(self.activity_regularizer)}


_COMMON_CELL_ARGS = ("activation", "use_bias", "kernel_initializer", "recurrent_initializer", "bias_initializer",
                     "kernel_regularizer", "recurrent_regularizer", "bias_regularizer", "kernel_constraint",
                     "recurrent_constraint", "bias_constraint", "dropout", "recurrent_dropout", "seed")


@registry.register
class SimpleRNN(_BuiltinRNN):
    _cell_class = SimpleRNNCell
    _cell_args = _COMMON_CELL_ARGS


@registry.register
class LSTM(_BuiltinRNN):
    _cell_class = LSTMCell
    _cell_args = _COMMON_CELL_ARGS + ("recurrent_activation", "unit_forget_bias", "implementation")


@registry.register
class GRU(_BuiltinRNN):
    _cell_class = GRUCell
    _cell_args = _COMMON_CELL_ARGS + ("recurrent_activation", "reset_after", "implementation")
