"""BackupAndRestore: resume a run that was killed, at the epoch after the last one it finished."""
import os
import tempfile

import numpy as np

from minigraph.callbacks.base import Callback

_BACKUP_FILE = "backup.npz"


class BackupAndRestore(Callback):
    """`BackupAndRestore(backup_dir, save_freq="epoch", delete_checkpoint=True)`.

    At each epoch's end the model's weights, the optimizer's state (iterations, slots, learning rate) and the
    epoch go to one file in backup_dir, written to a temporary file and renamed into place, so a run killed at
    any moment leaves the previous backup or the new one, whole. At train begin a backup found there is loaded
    and fit continues at the next epoch. When training ends normally the backup is deleted (unless
    delete_checkpoint=False).
    """

    def __init__(self, backup_dir, save_freq="epoch", delete_checkpoint=True, save_before_preemption=False):
        super().__init__()
        if not backup_dir:
            raise ValueError("BackupAndRestore: backup_dir must be a non-empty path")
        if save_freq != "epoch":
            if isinstance(save_freq, bool) or not isinstance(save_freq, int):
                raise ValueError(f"Unrecognized save_freq: {save_freq!r}. Expected save_freq are 'epoch' or "
                                 f"integer values")
            raise NotImplementedError("BackupAndRestore: save_freq as a number of batches is not supported yet; "
                                      "use save_freq='epoch'")
        if save_before_preemption:
            raise NotImplementedError("BackupAndRestore: save_before_preemption is for TPU/multi-worker "
                                      "preemption, which minigraph does not have")
        self.backup_dir = os.fspath(backup_dir)
        self.save_freq = save_freq
        self.delete_checkpoint = delete_checkpoint
        self.save_before_preemption = save_before_preemption

    @property
    def _path(self):
        return os.path.join(self.backup_dir, _BACKUP_FILE)

    def on_train_begin(self, logs=None):
        if not os.path.exists(self._path):
            return
        with np.load(self._path) as state:
            weights = [state[f"weight_{i}"] for i in range(int(state["n_weights"]))]
            slots = [state[f"optimizer_{i}"] for i in range(int(state["n_optimizer"]))]
            epoch = int(state["epoch"])
            learning_rate = state["learning_rate"]
        self.model.set_weights(weights)
        optimizer = self.model.optimizer
        if len(slots) > 1:
            optimizer.set_state(slots, self.model.trainable_weights)
        else:  # saved before the optimizer built its slots: only the iteration count
            optimizer.iterations = slots[0]
        optimizer.learning_rate = learning_rate
        self.model._initial_epoch = epoch + 1  # fit reads it after on_train_begin

    def on_epoch_end(self, epoch, logs=None):
        os.makedirs(self.backup_dir, exist_ok=True)
        weights = self.model.get_weights()
        slots = self.model.optimizer.get_weights()
        arrays = {f"weight_{i}": w for i, w in enumerate(weights)}
        arrays.update((f"optimizer_{i}", s) for i, s in enumerate(slots))
        arrays.update(n_weights=len(weights), n_optimizer=len(slots), epoch=epoch,
                      learning_rate=np.float32(self.model.optimizer.learning_rate))
        handle, temporary = tempfile.mkstemp(prefix=".backup-", suffix=".npz", dir=self.backup_dir)
        try:
            with os.fdopen(handle, "wb") as f:
                np.savez(f, **arrays)
                f.flush()
                os.fsync(f.fileno())
            os.replace(temporary, self._path)
        except BaseException:
            if os.path.exists(temporary):
                os.remove(temporary)
            raise

    def on_train_end(self, logs=None):
        if self.delete_checkpoint and os.path.exists(self._path):
            os.remove(self._path)
            try:
                os.rmdir(self.backup_dir)
            except OSError:
                pass  # the directory holds other files: leave it
