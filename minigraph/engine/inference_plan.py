"""The static inference plan of a functional model: its graph walk compiled for calls on plain arrays.

`Network.call` walks the execution plan node by node: it fills argument templates, calls each layer
through `_call_eager`, tracks masks and frees slots, and every Dense goes through the differentiable op
wrapper to its kernel. For a model that is a chain of single-input layers, with no masks and no symbolic
losses or metrics, run for inference outside any tape, all of that is fixed once the graph is: the plan
does only what is left. Consecutive Dense layers become one `dense_chain_forward` call (the kernels'
own products, bias and ReLU, the same bits as one `dense_forward` per layer), Dropout outside training is
skipped, and any other layer gets today's generic `_call_eager`. A plan gives exactly the graph walk's
values: each Dense reads its kernel, bias and activation at every call, and an activation other than
ReLU, linear and softmax (whose rows the chain kernel runs as ops.softmax's kernel does) runs as the
same function the layer would call.

One plan is compiled per model and cached on it. It belongs to one execution plan (`Network._make_plan`
makes a new one whenever the graph changes: a Sequential's `add`, `add_loss`, ...) and to one version of
the layers' structure (`layers.tracking.structure_version`, moved by any layer or variable assigned to an
attribute of any layer, and by any change to a list or dict held in one); with either changed it is compiled
again.
"""
import numpy as np

from minigraph import ops
from minigraph.autodiff import Variable, _state as _autodiff_state
from minigraph.kernels import dense as _dense_kernels
from minigraph.layers import base as _base
from minigraph.layers.base import _call_state, flatten
from minigraph.engine.functional import Network, only_input
from minigraph.layers.core import Dense, Dropout

_CHAIN = _dense_kernels.dense_chain_forward


class _DenseRun:
    """Consecutive Dense layers of the chain, run as few kernel calls as their activations allow."""

    __slots__ = ("layers",)

    def __init__(self, layers):
        self.layers = layers

    def run(self, x):
        if type(x) is not np.ndarray or x.ndim != 2:
            return self._generic(x, 0, len(self.layers))
        pending, start, group_input = [], 0, x  # (kernel, bias, relu) of the layers the next kernel call takes
        for i, layer in enumerate(self.layers):
            kernel, bias, activation = layer.kernel, layer.bias, layer.activation
            if (type(kernel) is not Variable or (bias is not None and type(bias) is not Variable)
                    or layer.activity_regularizer is not None):
                if pending:
                    x = self._chain(group_input, start, pending)
                return self._generic(x, i, len(self.layers))
            relu = activation is ops.relu
            pending.append((kernel.value, None if bias is None else bias.value, relu))
            if relu or activation is ops.linear:
                continue
            fused = activation is ops.softmax  # the rows of ops.softmax's kernel, on the kernel's output
            x = self._chain(group_input, start, pending, fused)
            if not fused:  # an activation the kernels do not fuse ends this call
                x = activation(x)
            pending, start, group_input = [], i + 1, x
        return self._chain(group_input, start, pending) if pending else x

    def _chain(self, x, start, pending, softmax=False):
        try:
            return _CHAIN(x, pending, softmax)
        except ValueError:  # weights that do not fit: the layers' own calls raise the graph walk's error
            self._generic(x, start, start + len(pending))
            raise

    def _generic(self, x, start, end):
        for layer in self.layers[start:end]:
            x = _single(layer._call_eager((x,), {}, False, None))
        return x


class _Generic:
    """A layer without a plan entry: today's generic call."""

    __slots__ = ("layer", "training")

    def __init__(self, layer, training):
        self.layer, self.training = layer, training

    def run(self, x):
        return _single(self.layer._call_eager((x,), {}, self.training, None))


class _Fused:
    """A layer with the ReLU after it in one call (the graph walk's fused step)."""

    __slots__ = ("call", "training")

    def __init__(self, call, training):
        self.call, self.training = call, training

    def run(self, x):
        return self.call(x, self.training)


def _single(result):
    """A layer's one output, as Network.call takes it."""
    return flatten(result)[0] if isinstance(result, (list, tuple, dict)) else result


class InferencePlan:
    """The compiled chain of a model: `run(x)` on the prepared input array gives the model's output.
    `entries` None records that the model has no plan (until its graph changes)."""

    __slots__ = ("source", "version", "entries", "flat_layers", "input_dtype", "input_rank", "fixed_dims")

    def __init__(self, model, entries):
        self.source = model._plan
        self.version = _base.structure_version()
        self.entries = entries
        self.flat_layers = model._flatten_layers() if entries is not None else ()
        t = model.inputs[0]
        self.input_dtype = np.dtype(t.dtype.as_numpy_dtype)
        self.input_rank = len(t.shape)
        self.fixed_dims = tuple((axis, d) for axis, d in enumerate(t.shape) if d is not None)

    def accepts_shape(self, shape):
        """Whether the model's input takes an array of this shape (Network._check_input_shapes' rule)."""
        if len(shape) != self.input_rank:
            return False
        for axis, d in self.fixed_dims:
            if shape[axis] != d:
                return False
        return True

    def run(self, x):
        """The model's output on x (inference, no tape); the caller has checked x as Network.call's callers do."""
        state = _call_state  # as Network.call: layers inside generic entries see training False
        saved = state.training, state.depth
        state.training, state.depth = False, saved[1] + 1
        try:
            for entry in self.entries:
                x = entry.run(x)
        finally:
            state.training, state.depth = saved
        return x

    def clear_losses(self):
        """Model._clear_losses on the layers this plan was compiled with (the same layers while it is valid)."""
        for layer in self.flat_layers:
            if layer._losses:
                layer._losses.clear()
            if layer._metric_values:
                layer._metric_values.clear()


def _entries(model):
    """The plan entries of a functional model, or None when its graph is not a chain the plan covers (or
    its class runs a call of its own)."""
    if (type(model).call is not Network.call or len(model.inputs) != 1 or len(model.outputs) != 1
            or isinstance(model._nested_outputs, (list, tuple)) or model._uses_masks or model._loss_slots
            or model._metric_slots):
        return None
    current = model._input_slots[0]
    entries, run = [], []
    for step in model._plan:
        if only_input(step) != current or len(step.outs) != 1 or step.mask_in is not None:
            return None
        current = step.outs[0]
        layer = step.layer
        if type(layer) is Dense and step.training is None:
            run.append(layer)
            continue
        if type(layer) is Dropout and not step.training or step.alias:
            continue  # outside training Dropout returns its input; a fused ReLU runs in the step before it
        if run:
            entries.append(_DenseRun(run))
            run = []
        training = False if step.training is None else step.training
        entries.append(_Generic(layer, training) if step.fused is None else _Fused(step.fused, training))
    if current != model._output_slots[0]:
        return None
    if run:
        entries.append(_DenseRun(run))
    return entries


def plan_for(model):
    """The model's inference plan (compiled on first use, cached on the model), or None when the model
    has none or this call cannot take it (a tape recording, logits kept for a loss)."""
    if _autodiff_state.tapes or _autodiff_state.keep_logits or not model._is_graph_network:
        return None
    state = model.__dict__
    plan = state.get("_inference_plan")
    if plan is not None and plan.source is model._plan and plan.version == _base.structure_version():
        return plan if plan.entries is not None else None
    plan = InferencePlan(model, _entries(model))
    state["_inference_plan"] = plan
    return plan if plan.entries is not None else None
