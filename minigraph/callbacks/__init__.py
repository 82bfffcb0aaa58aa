"""Training callbacks with tf.keras semantics (`keras.callbacks`), one module per job:

- base: the Callback protocol, History, LambdaCallback; callback_list: CallbackList
- progbar: Progbar and ProgbarLogger (the progress bar of fit, evaluate and predict)
- stopping: EarlyStopping, TerminateOnNaN; learning_rate: LearningRateScheduler, ReduceLROnPlateau
- checkpoint: ModelCheckpoint; backup: BackupAndRestore; loggers: CSVLogger, RemoteMonitor

Epochs and batches are 0-based in the hooks, as in Keras; printed messages and `{epoch}` in checkpoint paths
are 1-based.
"""
from minigraph.callbacks.backup import BackupAndRestore
from minigraph.callbacks.base import Callback, History, LambdaCallback
from minigraph.callbacks.callback_list import CallbackList
from minigraph.callbacks.checkpoint import ModelCheckpoint
from minigraph.callbacks.learning_rate import LearningRateScheduler, ReduceLROnPlateau
from minigraph.callbacks.loggers import CSVLogger, RemoteMonitor
from minigraph.callbacks.progbar import Progbar, ProgbarLogger
from minigraph.callbacks.stopping import EarlyStopping, TerminateOnNaN

__all__ = ["BackupAndRestore", "CSVLogger", "Callback", "CallbackList", "EarlyStopping", "History",
           "LambdaCallback", "LearningRateScheduler", "ModelCheckpoint", "Progbar", "ProgbarLogger",
           "ReduceLROnPlateau", "RemoteMonitor", "TerminateOnNaN"]
