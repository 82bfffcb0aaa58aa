"""Running real tf_keras on files minigraph wrote, in a subprocess (an optional oracle).

The interpreter is MINIGRAPH_ORACLE_PYTHON (default /work/oracle/bin/python); `skip_reason()` says why a test
cannot run when it is absent or has no tf_keras, and the tests skip with that reason.
"""
import json
import os
import subprocess

import numpy as np

ORACLE = os.environ.get("MINIGRAPH_ORACLE_PYTHON", "/work/oracle/bin/python")

_LOAD = """
import json, sys
import numpy as np
import tf_keras as keras
path, x_path, out_path = sys.argv[1:4]
model = keras.models.load_model(path)
x = np.load(x_path, allow_pickle=False)
np.save(out_path, model.predict(x, verbose=0))
print(json.dumps([type(l).__name__ for l in model.layers]))
"""


def skip_reason():
    if not os.path.exists(ORACLE):
        return f"no oracle interpreter at {ORACLE} (set MINIGRAPH_ORACLE_PYTHON)"
    probe = subprocess.run([ORACLE, "-c", "import tf_keras"], capture_output=True, timeout=300)
    return None if probe.returncode == 0 else f"{ORACLE} has no tf_keras"


def predict_in_tf_keras(model, x, tmp_path):
    """Save `model` as .h5, load it in tf_keras, predict x there: (predictions, tf_keras's layer classes)."""
    path, x_path, out_path = (str(tmp_path / n) for n in ("m.h5", "x.npy", "pred.npy"))
    model.save(path)
    np.save(x_path, x)
    run = subprocess.run([ORACLE, "-c", _LOAD, path, x_path, out_path], capture_output=True, text=True,
                         timeout=600)
    assert run.returncode == 0, run.stderr[-3000:]
    return np.load(out_path), json.loads(run.stdout.strip().splitlines()[-1])
