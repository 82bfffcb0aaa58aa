"""Callbacks that send each epoch's logs elsewhere: CSVLogger (a file) and RemoteMonitor (an HTTP server)."""
import collections.abc
import csv
import json
import os
import urllib.error
import urllib.parse
import urllib.request

import numpy as np

from minigraph.callbacks.base import Callback, _log


class CSVLogger(Callback):
    """`CSVLogger(filename, separator=",", append=False)`: one row per epoch, the columns 'epoch' then the
    first epoch's log keys sorted (with 'val_' twins added when that epoch had none, as Keras does; a missing
    value is written 'NA'). append=True adds to an existing file, writing the header only if it is empty."""

    def __init__(self, filename, separator=",", append=False):
        super().__init__()
        self.sep = separator
        self.filename = os.fspath(filename)
        self.append = append
        self.writer = None
        self.keys = None
        self.append_header = True
        self.csv_file = None

    def on_train_begin(self, logs=None):
        if self.append:
            if os.path.exists(self.filename):
                with open(self.filename) as f:
                    self.append_header = not f.readline()
            mode = "a"
        else:
            mode = "w"
        self.csv_file = open(self.filename, mode, newline="")

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        if self.keys is None:
            self.keys = sorted(logs)
            if not any(key.startswith("val_") for key in self.keys):
                self.keys.extend(["val_" + key for key in self.keys])  # validation_freq > 1 starts without them
        if self.writer is None:
            dialect = type("CSVLoggerDialect", (csv.excel,), {"delimiter": self.sep})
            self.writer = csv.DictWriter(self.csv_file, fieldnames=["epoch"] + self.keys, dialect=dialect)
            if self.append_header:
                self.writer.writeheader()
        row = {"epoch": epoch}
        row.update((key, _csv_value(logs.get(key, "NA"))) for key in self.keys)
        self.writer.writerow(row)
        self.csv_file.flush()

    def on_train_end(self, logs=None):
        if self.csv_file is not None:
            self.csv_file.close()
        self.writer = None


def _csv_value(value):
    if isinstance(value, str) or (isinstance(value, np.ndarray) and value.ndim == 0):
        return value
    if isinstance(value, collections.abc.Iterable):
        return f"\"[{', '.join(map(str, value))}]\""
    return value


_POST_TIMEOUT = 10  # seconds: a server that does not answer must not hang training


class RemoteMonitor(Callback):
    """`RemoteMonitor(root="http://localhost:9000", path="/publish/epoch/end/", field="data", headers=None,
    send_as_json=False)`: POSTs each epoch's logs with its (0-based) 'epoch' to root + path, as a JSON body
    (send_as_json) or as the JSON text in form field `field`. A server that cannot be reached is a warning."""

    def __init__(self, root="http://localhost:9000", path="/publish/epoch/end/", field="data", headers=None,
                 send_as_json=False):
        super().__init__()
        self.root = root
        self.path = path
        self.field = field
        self.headers = headers
        self.send_as_json = send_as_json

    def on_epoch_end(self, epoch, logs=None):
        send = {"epoch": epoch}
        for key, value in (logs or {}).items():
            send[key] = value.item() if isinstance(value, (np.ndarray, np.generic)) else value
        headers = dict(self.headers or {})
        if self.send_as_json:
            body = json.dumps(send).encode()
            headers.setdefault("Content-Type", "application/json")
        else:
            body = urllib.parse.urlencode({self.field: json.dumps(send)}).encode()
            headers.setdefault("Content-Type", "application/x-www-form-urlencoded")
        request = urllib.request.Request(self.root + self.path, data=body, headers=headers, method="POST")
        try:
            with urllib.request.urlopen(request, timeout=_POST_TIMEOUT) as response:
                response.read()
        except (urllib.error.URLError, OSError, ValueError):
            _log.warning("Warning: could not reach RemoteMonitor root server at %s", self.root)
