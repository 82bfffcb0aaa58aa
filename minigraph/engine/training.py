"""Model: a functional graph that trains (compile, fit, evaluate, predict) and saves."""
import contextlib
import math

import numpy as np

from minigraph import callbacks as callbacks_module
from minigraph import losses as losses_module
from minigraph import metrics as metrics_module
from minigraph import data_adapters, ops, optimizers, registry
from minigraph.autodiff import Tape, Traced, keeping_logits
from minigraph.engine.functional import Network, _numeric_array, as_numpy_inputs
from minigraph.engine.inference_plan import plan_for
from minigraph.engine.summary import print_summary
from minigraph.kernels import workspace  # batch arrays come from its caching pool (csrc/workspace.pyx)
from minigraph.layers.base import KerasTensor, Layer, _call_state, call_context, flatten, map_structure, pack_as


class Model(Network):
    """`keras.Model(inputs, outputs, name=None)`: an instance of Functional, as in tf.keras. Subclassed,
    `class M(keras.Model)` with its own `__init__` and `call(inputs, training=None)`, built on its first
    call or by `build(input_shape)`."""

    _UNTRACKED = Network._UNTRACKED | {"optimizer", "_metrics", "_loss_fns", "_added_metrics", "history",
                                       "_input_structure", "_compile_specs"}

    def __new__(cls, *args, **kwargs):
        return super().__new__(Functional if cls is Model else cls)

    def __init__(self, *args, **kwargs):
        positional = dict(zip(("inputs", "outputs", "name"), args))
        overlap = set(positional) & set(kwargs)
        if overlap or len(args) > 3:
            raise TypeError(f"Model() got multiple values for {sorted(overlap)}" if overlap
                            else "Model() takes at most 3 positional arguments (inputs, outputs, name)")
        kwargs.update(positional)
        inputs, outputs = kwargs.pop("inputs", None), kwargs.pop("outputs", None)
        if inputs is None and type(self) in (Model, Functional):
            raise ValueError("keras.Model needs inputs and outputs: Model(inputs, outputs)")
        super().__init__(inputs=inputs, outputs=outputs, **kwargs)
        self.optimizer = None
        self.compiled = False
        self.stop_training = False
        self.history = None
        self._added_metrics = {}  # add_metric name -> [sum, count] over the epoch

    def summary(self, line_length=None, positions=None, print_fn=None, expand_nested=False, show_trainable=False):
        if not self.built:
            raise ValueError(f"This model ('{self.name}') has not yet been built. Build the model first by calling "
                             f"`build()` or by calling the model on a batch of data.")
        if expand_nested or show_trainable:
            raise NotImplementedError("summary: expand_nested and show_trainable are not implemented")
        print_summary(self, line_length, positions, print_fn)

    def __call__(self, *args, **kwargs):
        if (len(args) == 1 and type(args[0]) is np.ndarray and _call_state.depth == 0 and not _call_state.training
                and (not kwargs or len(kwargs) == 1 and kwargs.get("training", True) in (None, False))):
            plan = plan_for(self)  # one array called at the top, for inference: the compiled plan if any
            x = None if plan is None else _planned_input(self, plan, args[0])
            if x is not None:
                plan.clear_losses()
                return plan.run(x)
        if (not self._is_graph_network or len(args) != 1 or set(kwargs) - {"training", "mask"}
                or any(isinstance(t, (KerasTensor, Traced)) for t in flatten(args))):
            return super().__call__(*args, **kwargs)
        xs = self._prepare_inputs(args[0])  # user data: checked against the model's inputs once
        training = kwargs.get("training")
        if _call_state.depth == 0:
            self._clear_losses()
        with call_context(training if training is not None else _call_state.training):
            return self.call(xs if len(xs) > 1 else xs[0], training=training, mask=kwargs.get("mask"))

    def _prepare_inputs(self, x):
        if self._is_graph_network:
            return as_numpy_inputs(self, x)
        if isinstance(x, np.ndarray) or not isinstance(x, (list, tuple, dict)):
            structure = 0
        else:
            structure = x
        self._input_structure = map_structure(lambda _: 0, structure)
        return [_numeric_array(v, f"Model '{self.name}': input") for v in flatten(x)]

    def _run(self, xs, training):
        """The model's outputs, as a list, on prepared inputs."""
        if self._is_graph_network:  # its call sets the training flag for the layers inside
            out = self.call(xs if len(xs) > 1 else xs[0], training=training)
            return flatten(out) if isinstance(out, (list, dict)) else [out]
        out = Layer.__call__(self, pack_as(self._input_structure, xs), training=training)
        flat = flatten(out)
        self._n_subclass_outputs = len(flat)
        return flat

    @property
    def output_names(self):
        if self._is_graph_network:
            return super().output_names
        n = getattr(self, "_n_subclass_outputs", None)
        if n is None:
            raise RuntimeError(f"Model '{self.name}' has not been called yet: its outputs are not known")
        return [f"output_{i + 1}" for i in range(n)]

    # ------------------------------------------------------------------ compile
    def compile(self, optimizer="rmsprop", loss=None, metrics=None, loss_weights=None, weighted_metrics=None,
                run_eagerly=None, steps_per_execution=None, jit_compile=None, pss_evaluation_shards=0,
                auto_scale_loss=True):
        """Keras' compile. run_eagerly, jit_compile and auto_scale_loss change how TensorFlow runs a step,
        not what it computes: accepted. steps_per_execution must be 1."""
        if steps_per_execution not in (None, 1):
            raise ValueError(f"compile: steps_per_execution={steps_per_execution!r} is not supported (only 1)")
        self.optimizer = optimizers.get(optimizer)
        self._loss_config = loss
        self._metrics_config = metrics
        self._weighted_metrics_config = weighted_metrics
        self._loss_weights_config = loss_weights
        self.loss = loss
        self._loss_fns = None
        self._metrics = None  # resolved on first data: 'accuracy' depends on the target's shape
        self.compiled = True
        if self._is_graph_network:
            self._resolve_compile()

    def _resolve_compile(self):
        """The per-output losses, loss weights and metric specs, once the outputs are known."""
        names = self.output_names
        self._loss_fns = [None if spec is None else losses_module.get(spec)
                          for spec in _per_output(self._loss_config, names, "loss")]
        weights = self._loss_weights_config
        weights = _per_output(weights, names, "loss_weights") if weights is not None else [1.0] * len(names)
        self._loss_weights = [1.0 if w is None else float(w) for w in weights]
        self._metric_specs = _per_output_metrics(self._metrics_config, names)
        self._weighted_metric_specs = _per_output_metrics(self._weighted_metrics_config, names)

    def _require_compiled(self, what):
        if not self.compiled:
            raise RuntimeError(f"You must compile model '{self.name}' before calling {what}: model.compile(...)")

    def _resolve_metrics(self, ys, outs):
        """(output, metric, log name, weighted) for compile's metrics and weighted_metrics; a weighted metric
        whose name a plain one already has is logged as 'weighted_<name>', as Keras does."""
        if self._metrics is not None:
            return
        multi = len(outs) > 1
        resolved, taken = [], set()
        for weighted, all_specs in ((False, self._metric_specs), (True, self._weighted_metric_specs)):
            for i, specs in enumerate(all_specs):
                for spec in specs:
                    metric = metrics_module.get(spec, np.shape(ys[i]), np.shape(outs[i]))
                    name = metric.name
                    if weighted and (name in taken or f"{self.output_names[i]}_{name}" in taken):
                        name = f"weighted_{name}"
                    name = f"{self.output_names[i]}_{name}" if multi else name
                    taken.add(name)
                    resolved.append((i, metric, name, weighted))
        self._metrics = resolved

    # ------------------------------------------------------------------ one batch
    def _compute_loss(self, ys, outs, ws, layers):
        """Per-output losses (tape-aware) with their sample weights, and their weighted total plus the losses
        the layers added (`layers`: the model's layers, flattened after the forward pass, which may have
        built new ones)."""
        per_output = []
        total = None
        for fn, w, y, out, sw in zip(self._loss_fns, self._loss_weights, ys, outs, ws):
            if fn is None:
                continue
            value = fn(y, out) if sw is None else fn(y, out, sample_weight=sw)
            per_output.append(value)
            term = value if w == 1.0 else value * w
            total = term if total is None else total + term
        for value in self._losses_of(layers):  # each summed to a scalar, as Keras 3 aggregates added losses
            value = ops.sum(value) if np.ndim(getattr(value, "data", value)) else value
            total = value if total is None else total + value
        if total is None:
            raise ValueError(f"Model '{self.name}': no loss to compute. Provide a `loss` argument in `compile()`, "
                             f"or add losses in the model with add_loss().")
        return total, per_output

    def _batch_logs(self, total, per_output, ys, outs, metric_ws, weighted_ws, layers):
        logs = {"loss": float(np.asarray(getattr(total, "data", total)))}
        if len(outs) > 1:
            names = [n for n, fn in zip(self.output_names, self._loss_fns) if fn is not None]
            for name, value in zip(names, per_output):
                logs[f"{name}_loss"] = float(np.asarray(getattr(value, "data", value)))
        self._resolve_metrics(ys, outs)
        for i, metric, _, weighted in self._metrics:
            if ys[i] is not None:
                out = np.asarray(getattr(outs[i], "data", outs[i]))
                w = weighted_ws[i] if weighted else metric_ws[i]
                if w is not None:
                    metric.update_state(ys[i], out, sample_weight=w)
                else:
                    metric.update_state(ys[i], out)
        for layer in layers:
            for name, value in layer._metric_values:
                acc = self._added_metrics.setdefault(name, [0.0, 0])
                acc[0] += float(np.mean(np.asarray(getattr(value, "data", value))))
                acc[1] += 1
        return logs

    def _matched(self, ys, outs, ws):
        """tf.keras 2's match_dtype_and_rank on each output's target and weights, before losses and metrics."""
        ys, ws = list(ys), list(ws if ws is not None else [None] * len(outs))
        for i, (y, out) in enumerate(zip(ys, outs)):
            if y is not None:
                ys[i], _, ws[i] = losses_module.match_dtype_and_rank(y, out, ws[i])
        return ys, ws

    def _masked(self, outs, ws):
        """(loss weights, metric weights, weighted-metric weights) per output, with Keras's rule for an output
        that carries a mask: its masked entries weigh nothing, and the loss averages over the valid ones."""
        masks = getattr(self, "_last_output_masks", None) if getattr(self, "_uses_masks", False) else None
        if not masks or all(m is None for m in masks):
            return ws, [None] * len(outs), ws
        loss_ws, metric_ws, weighted_ws = [], [], []
        for mask, w in zip(masks, ws):
            if mask is None:
                loss_ws.append(w), metric_ws.append(None), weighted_ws.append(w)
                continue
            m = np.asarray(mask, dtype=np.float32)
            if w is not None:
                w = np.asarray(w, dtype=np.float32).reshape(m.shape[:1] + (1,) * (m.ndim - 1))
            valid = float(m.sum())
            scaled = m * (m.size / valid) if valid else m
            loss_ws.append(scaled if w is None else scaled * w)
            metric_ws.append(m)
            weighted_ws.append(m if w is None else m * w)
        return loss_ws, metric_ws, weighted_ws

    def _train_batch(self, xs, ys, ws=None):
        self._clear_losses()
        with Tape() as tape:
            outs = self._run(xs, training=True)
            if self._loss_fns is None:
                self._resolve_compile()
            ys, ws = self._matched(ys, outs, ws)
            loss_ws, metric_ws, weighted_ws = self._masked(outs, ws)
            layers = self._flatten_layers()
            total, per_output = self._compute_loss(ys, outs, loss_ws, layers)
        variables = self.trainable_weights
        grads = tape.gradient(total, variables)
        self.optimizer.apply_gradients(zip(grads, variables))  # which applies the constraints, as Keras's
        return self._batch_logs(total, per_output, ys, outs, metric_ws, weighted_ws, layers)

    def _test_batch(self, xs, ys, ws=None):
        self._clear_losses()
        with keeping_logits():  # the crossentropy of a softmax output from its logits, as in training
            outs = self._run(xs, training=False)
        if self._loss_fns is None:
            self._resolve_compile()
        ys, ws = self._matched(ys, outs, ws)
        loss_ws, metric_ws, weighted_ws = self._masked(outs, ws)
        layers = self._flatten_layers()
        total, per_output = self._compute_loss(ys, outs, loss_ws, layers)
        return self._batch_logs(total, per_output, ys, outs, metric_ws, weighted_ws, layers)

    # ------------------------------------------------------------------ data
    def _targets(self, y, n):
        names = self.output_names
        if isinstance(y, dict):  # an output without a loss needs no target, as in Keras
            missing = [k for k, fn in zip(names, self._loss_fns) if k not in y and fn is not None]
            if missing:
                raise ValueError(f"Model '{self.name}': missing targets for output(s) {missing}; got {sorted(y)}")
            y = [y.get(k) for k in names]
        elif not isinstance(y, (list, tuple)) or len(names) == 1:
            y = [y]
        if len(y) != len(names):
            raise ValueError(f"Model '{self.name}' has {len(names)} output(s), but {len(y)} target array(s) were given")
        out = []
        for name, t, fn in zip(names, y, self._loss_fns):
            if t is None and fn is None:
                out.append(None)
                continue
            try:
                arr = np.asarray(t)
            except ValueError as err:
                raise ValueError(f"Model '{self.name}': target for output '{name}' is not a rectangular array ({err})") from None
            if arr.dtype == object or arr.dtype.kind not in "fiub":
                raise ValueError(f"Model '{self.name}': target for output '{name}' must be numeric, got dtype {arr.dtype}")
            if len(arr) != n:
                raise ValueError(f"Data cardinality is ambiguous: x sizes: {n}, y sizes: {len(arr)} "
                                 f"(output '{name}'). Make sure all arrays contain the same number of samples.")
            if arr.dtype.kind == "f" and arr.dtype != np.float32:
                arr = arr.astype(np.float32)
            out.append(arr)
        self._check_targets(out)
        return out

    def _check_targets(self, ys):
        if not self._is_graph_network:
            return  # a subclassed model's output shapes are known only from its call
        for t, y, fn in zip(self.outputs, ys, self._loss_fns):
            if fn is None or y is None or isinstance(fn, losses_module.SparseCategoricalCrossentropy):
                continue  # sparse targets are class indices: their shape differs from the output's
            expected = t.shape[1:]
            got = y.shape[1:]
            if len(got) == len(expected) - 1 and expected[-1] == 1:
                continue  # (n,) targets for (n, 1) outputs, as Keras squeezes
            if len(got) != len(expected) or any(e is not None and e != g for e, g in zip(expected, got)):
                raise ValueError(f"Model '{self.name}': target for output '{t.node.layer.name}' has shape "
                                 f"{(None,) + tuple(got)}, but the output has shape {t.shape}")

    def _data(self, x, y, what, sample_weight=None, class_weight=None):
        """Inputs, targets and per-output sample weights of a training or evaluation call, checked:
        (xs, ys, ws, n samples)."""
        if x is None:
            raise ValueError(f"{what}: x (the input data) is required")
        # graph models: the arrays as given (checked), cast to the inputs' dtypes batch by batch, so that a
        # large uint8 data set never has a float32 copy
        xs = as_numpy_inputs(self, x, cast=False) if self._is_graph_network else self._prepare_inputs(x)
        n = len(xs[0])
        for arr in xs[1:]:
            if len(arr) != n:
                raise ValueError(f"Data cardinality is ambiguous: x sizes: {[len(a) for a in xs]}. "
                                 f"Make sure all arrays contain the same number of samples.")
        if n == 0:
            raise ValueError(f"{what}: x is empty (0 samples)")
        if self._loss_fns is None:  # a subclassed model: one sample shows its outputs
            self._run([a[:1] for a in xs], training=False)
            self._resolve_compile()
        if y is None:
            if any(fn is not None for fn in self._loss_fns):
                raise ValueError(f"{what}: y (the targets) is required: model '{self.name}' was compiled with a "
                                 f"loss")
            ys = [None] * len(self._loss_fns)
        else:
            ys = self._targets(y, n)
        return xs, ys, self._sample_weights(sample_weight, class_weight, ys, n, what), n

    def _sample_weights(self, sample_weight, class_weight, ys, n, what):
        """One (n,) weight array per output, or None: Keras's sample_weight (one array for every output, or a
        list or dict per output) times class_weight's weight of each sample's class."""
        names = self.output_names
        if sample_weight is None:
            ws = [None] * len(names)
        elif isinstance(sample_weight, dict):
            unknown = sorted(set(sample_weight) - set(names))
            if unknown:
                raise ValueError(f"{what}: sample_weight has keys {unknown} that are not outputs {names}")
            ws = [sample_weight.get(name) for name in names]
        elif isinstance(sample_weight, (list, tuple)) and len(names) > 1:
            if len(sample_weight) != len(names):
                raise ValueError(f"{what}: sample_weight has {len(sample_weight)} entries, the model {len(names)} "
                                 f"outputs")
            ws = list(sample_weight)
        else:
            ws = [sample_weight] * len(names)
        checked = []
        for name, w in zip(names, ws):
            if w is not None:
                w = _numeric_array(w, f"{what}: sample_weight for output '{name}'").astype(np.float32)
                if w.shape[:1] != (n,) or w.ndim > 2 or (w.ndim == 2 and w.shape[1] != 1):
                    raise ValueError(f"{what}: sample_weight for output '{name}' must have shape ({n},), got "
                                     f"{w.shape}")
                w = w.reshape(n)
            checked.append(w)
        if class_weight is not None:
            if len(names) > 1:
                raise ValueError(f"{what}: class_weight is only supported for models with a single output; use "
                                 f"sample_weight per output instead")
            weights = _class_weights(class_weight, ys[0], what)
            checked[0] = weights if checked[0] is None else checked[0] * weights
        return checked

    def _validation(self, data, validation_split, validation_data):
        """(training data, validation data or None) as Keras splits them; data is (xs, ys, ws, n)."""
        xs, ys, ws, n = data
        if validation_data is not None:
            if not isinstance(validation_data, (list, tuple)) or len(validation_data) not in (2, 3):
                raise ValueError("fit: validation_data must be a tuple (x_val, y_val) or (x_val, y_val, "
                                 f"sample_weight), got {type(validation_data).__name__} of length "
                                 f"{len(validation_data) if hasattr(validation_data, '__len__') else '?'}")
            val_weight = validation_data[2] if len(validation_data) == 3 else None
            return data, self._data(validation_data[0], validation_data[1], "fit: validation_data", val_weight)
        if isinstance(validation_split, bool) or not isinstance(validation_split, (int, float, np.floating)) \
                or not 0.0 <= validation_split < 1.0:
            raise ValueError(f"fit: validation_split must be in [0, 1), got {validation_split!r}")
        if not validation_split:
            return data, None
        split = int(math.floor(n * (1.0 - validation_split)))  # the last samples validate, unshuffled
        if split == 0:
            raise ValueError(f"fit: validation_split={validation_split} leaves no training sample out of {n}")
        head, tail = slice(None, split), slice(split, None)
        val = ([a[tail] for a in xs], _rows(ys, tail), _rows(ws, tail), n - split)
        return ([a[head] for a in xs], _rows(ys, head), _rows(ws, head), split), val

    # ------------------------------------------------------------------ batch sources
    def _array_batches(self, data, batch_size, shuffle):
        """(steps, batches) over arrays: each batch (xs, ys, ws), in a shuffled order when asked."""
        xs, ys, ws, n = data
        order = np.random.permutation(n) if shuffle else None

        def batches():
            for start in range(0, n, batch_size):
                idx = slice(start, min(n, start + batch_size))
                if order is not None:
                    idx = order[idx]
                yield self._cast_inputs([a[idx] for a in xs]), _rows(ys, idx), _rows(ws, idx)
        return math.ceil(n / batch_size), batches()

    def _cast_inputs(self, xs):
        """A batch of a graph model's inputs in the inputs' dtypes (the data is cast one batch at a time)."""
        if not self._is_graph_network:
            return xs
        return [a if a.dtype == t.dtype.as_numpy_dtype else a.astype(t.dtype.as_numpy_dtype)
                for a, t in zip(xs, self.inputs)]

    def _stream_batches(self, iterator, what):
        """(steps or None, batches) from a data adapter's epoch (generators, iterators, PyDataset)."""
        def batches():
            for _, (bx, by, bw) in iterator.epoch():
                xs = self._prepare_inputs(bx)
                n = len(xs[0])
                ys = [None] * len(self.output_names) if by is None else None
                if self._loss_fns is None:
                    self._run([a[:1] for a in xs], training=False)
                    self._resolve_compile()
                if by is not None:
                    ys = self._targets(by, n)
                yield xs, ys, self._sample_weights(bw, None, ys, n, what)
        return iterator.num_batches, batches()

    # ------------------------------------------------------------------ loops
    def fit(self, x=None, y=None, batch_size=None, epochs=1, verbose="auto", callbacks=None, validation_split=0.0,
            validation_data=None, shuffle=True, class_weight=None, sample_weight=None, initial_epoch=0,
            steps_per_epoch=None, validation_steps=None, validation_batch_size=None, validation_freq=1,
            max_queue_size=10, workers=1, use_multiprocessing=False):
        self._require_compiled("fit")
        _check_positive("fit", validation_freq=validation_freq, workers=workers, max_queue_size=max_queue_size)
        verbose = 1 if verbose == "auto" else verbose
        batch_size = _check_batch_size(batch_size)
        val_batch_size = _check_batch_size(validation_batch_size or batch_size)
        _check_count("epochs", epochs)
        _check_count("initial_epoch", initial_epoch)
        stream = None
        if _is_stream(x):
            if y is not None or sample_weight is not None or class_weight is not None:
                raise ValueError("fit: with a generator or PyDataset as x, y and the weights come from its batches "
                                 "(do not pass y, sample_weight or class_weight)")
            if validation_split:
                raise ValueError("fit: validation_split is for arrays; pass validation_data for a generator")
            stream = data_adapters.EpochIterator(x, steps_per_epoch=steps_per_epoch, shuffle=bool(shuffle),
                                                 workers=workers, use_multiprocessing=use_multiprocessing,
                                                 max_queue_size=max_queue_size)
            train, val = None, None
        else:
            if steps_per_epoch is not None:
                raise NotImplementedError("fit: steps_per_epoch with arrays is not supported; it is for generators")
            train, val = self._validation(self._data(x, y, "fit", sample_weight, class_weight),
                                          validation_split, validation_data)
        val_stream = None
        if validation_data is not None and _is_stream(validation_data):
            val_stream = data_adapters.EpochIterator(validation_data, steps_per_epoch=validation_steps)
        steps = stream.num_batches if stream is not None else math.ceil(train[3] / batch_size)
        cbs = callbacks_module.CallbackList(callbacks, add_history=True, add_progbar=verbose != 0, model=self,
                                            verbose=verbose, epochs=epochs, steps=steps)
        self.stop_training = False
        self._initial_epoch = None  # BackupAndRestore sets it in on_train_begin to resume a killed run
        try:
            cbs.on_train_begin()
            if self._initial_epoch is not None:
                initial_epoch = self._initial_epoch
            training_logs = None
            for epoch in range(initial_epoch, epochs):
                cbs.on_epoch_begin(epoch)
                source = (self._stream_batches(stream, "fit") if stream is not None
                          else self._array_batches(train, batch_size, shuffle))
                logs = self._loop(source, train=True, callbacks=cbs)
                run_validation = (epoch + 1 - initial_epoch) % validation_freq == 0
                # Keras validates the epoch even when a callback stopped training during it
                if run_validation and (val is not None or val_stream is not None):
                    val_source = (self._stream_batches(val_stream, "fit: validation_data") if val_stream is not None
                                  else self._array_batches(val, val_batch_size, False))
                    val_logs = self._evaluate_loop(val_source, cbs)
                    logs.update({"val_" + k: v for k, v in val_logs.items()})
                cbs.on_epoch_end(epoch, logs)
                training_logs = logs
                if self.stop_training or (stream is not None and stream.ran_out):
                    break
            # as Keras: with use_ema, the weights become their moving averages when training ends
            self.optimizer.finalize_variable_values(self.trainable_weights)
            cbs.on_train_end(training_logs)
        finally:
            for it in (stream, val_stream):
                if it is not None:
                    it.close()
        self.history = cbs._history
        return self.history

    def _loop(self, source, train, callbacks):
        """Run the batches of `source` (steps or None, batches), each fetched before its begin hook, calling the
        training or test batch hooks of `callbacks` with the epoch's running logs, as Keras does; returns the logs
        averaged over samples (Keras weights each batch by its size). A training loop stops after the batch that
        set model.stop_training."""
        _, batches = source
        self._reset_metrics()
        totals, seen, step, epoch_logs = {}, 0, 0, {}
        if train:
            batch_begin, batch_end = callbacks.on_train_batch_begin, callbacks.on_train_batch_end
        else:
            batch_begin, batch_end = callbacks.on_test_batch_begin, callbacks.on_test_batch_end
        while True:
            with workspace.pooled():  # the batch's arrays, not the callbacks' (user code)
                batch = next(batches, None)
            if batch is None:
                break
            batch_begin(step)
            bx, by, bw = batch
            count = len(bx[0])
            with workspace.pooled():
                logs = self._train_batch(bx, by, bw) if train else self._test_batch(bx, by, bw)
            for k, v in logs.items():
                totals[k] = totals.get(k, 0.0) + v * count
            seen += count
            epoch_logs = {k: v / seen for k, v in totals.items()}
            epoch_logs.update(self._metric_results())
            batch_end(step, dict(epoch_logs))
            step += 1
            if train and self.stop_training:
                break
        if not seen:
            raise ValueError("the data produced no batch: the generator or PyDataset is empty")
        return epoch_logs

    def _evaluate_loop(self, source, callbacks):
        """evaluate's loop (and fit's validation) between on_test_begin and on_test_end; returns its logs."""
        callbacks.on_test_begin()
        logs = self._loop(source, train=False, callbacks=callbacks)
        callbacks.on_test_end(logs)
        return logs

    def _reset_metrics(self):
        for _, metric, _, _ in self._metrics or []:
            metric.reset_state()
        self._added_metrics.clear()

    def _metric_results(self):
        results = {name: _loggable(metric.result()) for _, metric, name, _ in self._metrics or []}
        results.update((name, total / count) for name, (total, count) in self._added_metrics.items())
        return results

    def evaluate(self, x=None, y=None, batch_size=None, verbose="auto", sample_weight=None, steps=None,
                 callbacks=None, max_queue_size=10, workers=1, use_multiprocessing=False, return_dict=False):
        self._require_compiled("evaluate")
        _check_positive("evaluate", workers=workers, max_queue_size=max_queue_size)
        verbose = 1 if verbose == "auto" else verbose
        batch_size = _check_batch_size(batch_size)
        stream = None
        if _is_stream(x):
            if y is not None or sample_weight is not None:
                raise ValueError("evaluate: with a generator or PyDataset as x, y and the weights come from its "
                                 "batches")
            stream = data_adapters.EpochIterator(x, steps_per_epoch=steps, workers=workers,
                                                 use_multiprocessing=use_multiprocessing, max_queue_size=max_queue_size)
            source = self._stream_batches(stream, "evaluate")
        else:
            source = self._array_batches(self._data(x, y, "evaluate", sample_weight), batch_size, False)
        try:
            cbs = callbacks_module.CallbackList(callbacks, add_progbar=verbose != 0, model=self, verbose=verbose,
                                                epochs=1, steps=source[0])
            logs = self._evaluate_loop(source, cbs)
        finally:
            if stream is not None:
                stream.close()
        if return_dict:
            return logs
        values = list(logs.values())
        return values[0] if len(values) == 1 else values

    def predict(self, x, batch_size=None, verbose="auto", steps=None, callbacks=None, max_queue_size=10,
                workers=1, use_multiprocessing=False):
        if type(x) is np.ndarray and verbose != "auto" and not verbose and not callbacks and workers == 1 \
                and max_queue_size == 10:
            # the one-batch fast path through the compiled plan: the general path's checks in its order
            limit = _check_batch_size(batch_size)
            plan = plan_for(self) if x.nbytes < _TINY_BATCH else None
            planned = None if plan is None else _planned_input(self, plan, x)
            if planned is not None and len(planned) <= limit and planned.nbytes < _TINY_BATCH:
                return plan.run(planned)
        if workers != 1 or max_queue_size != 10:  # checked only when given: a one-sample predict is a hot path
            _check_positive("predict", workers=workers, max_queue_size=max_queue_size)
        verbose = 1 if verbose == "auto" else verbose
        batch_size = _check_batch_size(batch_size)
        stream = None
        if not isinstance(x, np.ndarray) and _is_stream(x):
            stream = data_adapters.EpochIterator(x, steps_per_epoch=steps, workers=workers,
                                                 use_multiprocessing=use_multiprocessing, max_queue_size=max_queue_size)
            n_steps, inputs = stream.num_batches, (self._prepare_inputs(bx) for _, (bx, _, _) in stream.epoch())
            pool = True
        elif _cast_per_batch(x):  # e.g. uint8 images: cast each batch, not a float32 copy of everything
            self._prepare_inputs(_rows_of(x, slice(0, 1)))  # the inputs checked once, on one sample
            n = _cast_per_batch(x)
            n_steps, pool = math.ceil(n / batch_size), True
            inputs = (self._prepare_inputs(_rows_of(x, slice(i, i + batch_size))) for i in range(0, n, batch_size))
        else:
            xs = self._prepare_inputs(x)
            n = len(xs[0])
            tiny = n <= batch_size and xs[0].nbytes < _TINY_BATCH
            if n == 0 or (tiny and not verbose and not callbacks):
                out = self._run(xs, training=False)  # no batch or no hook to call: the one-batch fast path
                return self._predicted(out)
            pool = not tiny
            n_steps = math.ceil(n / batch_size)
            inputs = ([a[i:i + batch_size] for a in xs] for i in range(0, n, batch_size))
        try:
            cbs = callbacks_module.CallbackList(callbacks, add_progbar=verbose != 0, model=self, verbose=verbose,
                                                epochs=1, steps=n_steps)
            parts = self._predict_loop(inputs, cbs, pool)
        finally:
            if stream is not None:
                stream.close()
        if not parts:
            raise ValueError("predict: the generator or PyDataset produced no batch")
        out = parts[0] if len(parts) == 1 else [np.concatenate([p[k] for p in parts]) for k in range(len(parts[0]))]
        return self._predicted(out)

    def _predicted(self, out):
        """predict's result from the flat outputs: a dict for a model built with a dict of outputs (as Keras),
        else the list, or the one array."""
        if self._is_graph_network and isinstance(self._nested_outputs, dict):
            return pack_as(self._nested_outputs, out)
        return out if len(out) > 1 else out[0]

    def _predict_loop(self, inputs, callbacks, pool):
        """Each batch's outputs (a list per batch) between on_predict_begin and on_predict_end; each batch's
        hooks see its outputs as logs['outputs'], as in Keras. pool=False keeps a tiny input out of the pool."""
        callbacks.on_predict_begin()
        parts, step = [], 0
        pooled = workspace.pooled if pool else contextlib.nullcontext
        while True:
            with pooled():
                xs = next(inputs, None)
            if xs is None:
                break
            callbacks.on_predict_batch_begin(step)
            with pooled():
                out = self._run(xs, training=False)
            parts.append(out)
            callbacks.on_predict_batch_end(step, {"outputs": self._predicted(out)})
            step += 1
        callbacks.on_predict_end()
        return parts

    def train_on_batch(self, x, y=None, sample_weight=None, class_weight=None, reset_metrics=True,
                       return_dict=False):
        self._require_compiled("train_on_batch")
        with workspace.pooled():
            xs, ys, ws, _ = self._data(x, y, "train_on_batch", sample_weight, class_weight)
            xs = self._cast_inputs(xs)
            if reset_metrics:
                self._reset_metrics()
            logs = self._train_batch(xs, ys, ws)
        logs.update(self._metric_results())
        return logs if return_dict else _scalar_or_list(logs)

    def test_on_batch(self, x, y=None, sample_weight=None, reset_metrics=True, return_dict=False):
        self._require_compiled("test_on_batch")
        with workspace.pooled():
            xs, ys, ws, _ = self._data(x, y, "test_on_batch", sample_weight)
            xs = self._cast_inputs(xs)
            if reset_metrics:
                self._reset_metrics()
            logs = self._test_batch(xs, ys, ws)
        logs.update(self._metric_results())
        return logs if return_dict else _scalar_or_list(logs)

    def predict_on_batch(self, x):
        xs = self._prepare_inputs(x)
        if xs[0].nbytes < _TINY_BATCH:
            out = self._run(xs, training=False)
        else:
            with workspace.pooled():
                out = self._run(xs, training=False)
        return out if len(out) > 1 else out[0]

    # ------------------------------------------------------------------ saving
    def save(self, filepath, overwrite=True, include_optimizer=True, save_format=None, **kwargs):
        # saving sits above the engine: it provides these entry points (see registry.provide)
        registry.provided("save_model")(self, filepath, overwrite=overwrite, include_optimizer=include_optimizer,
                                        save_format=save_format, **kwargs)

    def save_weights(self, filepath, overwrite=True, **kwargs):
        registry.provided("save_weights")(self, filepath, overwrite=overwrite, **kwargs)

    def load_weights(self, filepath, by_name=False, skip_mismatch=False, **kwargs):
        registry.provided("load_weights")(self, filepath, by_name=by_name, skip_mismatch=skip_mismatch, **kwargs)

    def export(self, filepath, format="onnx", verbose=None, input_signature=None, **kwargs):  # noqa: A002
        """Keras 3's export: format='onnx' writes an ONNX model (opset 17 by default, `opset_version=` for a
        newer one) with a dynamic batch dimension and the model's input and output names."""
        registry.provided("export_model")(self, filepath, format=format, verbose=verbose,
                                          input_signature=input_signature, **kwargs)

    def to_json(self, **kwargs):
        return registry.provided("model_to_json")(self, **kwargs)

    def get_compile_config(self):
        if not self.compiled:
            return None
        return {"optimizer": self.optimizer, "loss": self._loss_config, "metrics": self._metrics_config,
                "weighted_metrics": self._weighted_metrics_config, "loss_weights": self._loss_weights_config}


# Inference on inputs below this size skips the workspace pool: their arrays are nearly all too small
# for it to cache (or for malloc to mmap), and switching numpy's handler would cost ~0.4 us of a ~17 us
# one-sample predict.
_TINY_BATCH = workspace.THRESHOLD // 4


@registry.register
class Functional(Model):
    """The concrete class of `keras.Model(inputs, outputs)` (its config class name in files)."""


def _planned_input(model, plan, x):
    """x prepared as as_numpy_inputs prepares one array for `model` (cast to the input's dtype, shape
    checked: the same errors), or None for data whose error the general path gives."""
    if x.dtype is not plan.input_dtype:
        if x.dtype.kind not in "fiub":
            return None
        if x.dtype != plan.input_dtype:
            x = x.astype(plan.input_dtype)
    if not plan.accepts_shape(x.shape):
        model._check_input_shapes([x.shape])  # raises, naming the input and both shapes
    return x


def _rows(arrays, idx):
    """The rows idx of each array (None stays None: an output without targets)."""
    return [None if a is None else a[idx] for a in arrays]


def _check_positive(call, **arguments):
    for name, value in arguments.items():
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
            raise ValueError(f"{call}: {name} must be a positive integer, got {value!r}")


def _is_stream(x):
    """Data that comes in batches of its own: a PyDataset/Sequence, a generator or an iterator."""
    return isinstance(x, data_adapters.PyDataset) or (
        hasattr(x, "__next__") or (hasattr(x, "__iter__") and not isinstance(x, (np.ndarray, list, tuple, dict))
                                   and not hasattr(x, "__array__") and not hasattr(x, "shape")))


def _class_weights(class_weight, y, what):
    """Each sample's weight from its class (Keras 2's rule: the keys are the classes 0 .. K-1; the class of
    a one-hot target is its argmax, of a single value its rounded value)."""
    if not isinstance(class_weight, dict):
        raise ValueError(f"{what}: class_weight must be a dict from class index to weight, got "
                         f"{type(class_weight).__name__}")
    keys = sorted(class_weight)
    if keys != list(range(len(keys))):
        raise ValueError(f"{what}: expected class_weight to be a dict with keys from 0 to one less than the number "
                         f"of classes, found {class_weight}")
    if y is None:
        raise ValueError(f"{what}: class_weight needs targets (y)")
    y = np.asarray(y)
    classes = np.argmax(y, axis=-1) if y.ndim > 1 and y.shape[-1] > 1 else np.rint(y.reshape(len(y), -1)[:, 0])
    classes = classes.astype(np.int64)
    if classes.size and (classes.min() < 0 or classes.max() >= len(keys)):
        raise ValueError(f"{what}: class_weight covers classes 0 to {len(keys) - 1}, but the targets hold class "
                         f"{classes.max() if classes.max() >= len(keys) else classes.min()}")
    table = np.array([class_weight[k] for k in keys], dtype=np.float32)
    return table[classes]


def _loggable(value):
    """A metric result for the logs: a float, or a list for metrics with several values (F1Score(average=None))."""
    array = np.asarray(value)
    return float(array) if array.ndim == 0 else array.tolist()


def _per_output(spec, names, what):
    if isinstance(spec, dict):
        unknown = set(spec) - set(names)
        if unknown:
            raise ValueError(f"compile: {what} has keys {sorted(unknown)} that are not outputs {names}")
        return [spec.get(n) for n in names]
    if isinstance(spec, (list, tuple)):
        if len(spec) != len(names):
            raise ValueError(f"compile: {what} has {len(spec)} entries but the model has {len(names)} outputs")
        return list(spec)
    return [spec] * len(names)


def _per_output_metrics(metrics, names):
    if metrics is None:
        return [[] for _ in names]
    if isinstance(metrics, dict):
        return [_as_list(metrics.get(n)) for n in names]
    if isinstance(metrics, (list, tuple)) and len(names) > 1 and metrics and all(
            isinstance(m, (list, tuple)) for m in metrics):
        return [list(m) for m in metrics]
    return [list(_as_list(metrics)) for _ in names]


def _as_list(x):
    if x is None:
        return []
    return list(x) if isinstance(x, (list, tuple)) else [x]


def _check_batch_size(batch_size):
    if batch_size is None:
        return 32
    if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
    return int(batch_size)


def _check_count(name, value):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0:
        raise ValueError(f"{name} must be a non-negative integer, got {value!r}")


def _scalar_or_list(logs):
    values = list(logs.values())
    return values[0] if len(values) == 1 else values


def _cast_per_batch(x):
    """The row count of predict data of numpy arrays (one, or a list, tuple or dict of them, of equal length)
    at least one of which is large and not float32, which are cast batch by batch; else 0."""
    leaves = list(x.values()) if isinstance(x, dict) else list(x) if isinstance(x, (list, tuple)) else [x]
    if not leaves or not all(isinstance(a, np.ndarray) and a.ndim >= 1 for a in leaves):
        return 0
    if len({len(a) for a in leaves}) != 1:
        return 0
    large = any(a.dtype != np.float32 and a.dtype.kind in "uifb" and a.nbytes >= _TINY_BATCH for a in leaves)
    return len(leaves[0]) if large else 0


def _rows_of(x, rows):
    """x (an array, or a list, tuple or dict of arrays) restricted to `rows`."""
    if isinstance(x, dict):
        return {key: value[rows] for key, value in x.items()}
    if isinstance(x, (list, tuple)):
        return type(x)(value[rows] for value in x)
    return x[rows]
