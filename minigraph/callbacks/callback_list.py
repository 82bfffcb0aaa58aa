"""CallbackList: calls each hook on every callback, in order, as fit, evaluate and predict drive them."""
from minigraph.callbacks.base import Callback, History
from minigraph.callbacks.progbar import ProgbarLogger


class CallbackList:
    """Calls each hook on every callback, in order. add_progbar puts a ProgbarLogger first and add_history a
    History last, unless the list has one already, as Keras does."""

    def __init__(self, callbacks=None, add_history=False, add_progbar=False, model=None, **params):
        self.callbacks = list(callbacks or [])
        self._history = next((c for c in self.callbacks if isinstance(c, History)), None)
        if self._history is None and add_history:
            self._history = History()
            self.callbacks.append(self._history)
        if add_progbar and not any(isinstance(c, ProgbarLogger) for c in self.callbacks):
            self.callbacks.insert(0, ProgbarLogger(count_mode="steps"))
        self.model = None
        self.params = {}
        if model is not None:
            self.set_model(model)
        if params:
            self.set_params(params)

    def append(self, callback):
        self.callbacks.append(callback)

    def set_params(self, params):
        self.params = params
        for callback in self.callbacks:
            callback.set_params(params)

    def set_model(self, model):
        self.model = model
        if self._history is not None:
            model.history = self._history
        for callback in self.callbacks:
            callback.set_model(model)

    def __iter__(self):
        return iter(self.callbacks)

    def __len__(self):
        return len(self.callbacks)


def _hook(name):
    """CallbackList.<name>: the hook on every callback, logs None passed as {} (Keras' _process_logs)."""
    if "epoch" in name or "batch" in name:  # on_epoch_*(epoch, logs), on_*batch_*(batch, logs)
        def call(self, index, logs=None):
            logs = {} if logs is None else logs
            for callback in self.callbacks:
                getattr(callback, name)(index, logs)
    else:
        def call(self, logs=None):
            logs = {} if logs is None else logs
            for callback in self.callbacks:
                getattr(callback, name)(logs)
    call.__name__ = name
    return call


for _name in [n for n in vars(Callback) if n.startswith("on_")]:
    setattr(CallbackList, _name, _hook(_name))
# a CallbackList's on_batch_* are its training-batch hooks (each callback's on_train_batch_* then calls on_batch_*)
CallbackList.on_batch_begin = CallbackList.on_train_batch_begin
CallbackList.on_batch_end = CallbackList.on_train_batch_end
