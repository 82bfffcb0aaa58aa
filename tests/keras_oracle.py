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


# the start of a script for Keras 3 in the oracle: it prints NO_KERAS3 and stops when the oracle's keras is 2
KERAS3_PRELUDE = """
import os, sys
os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
import numpy as np
import keras
if not keras.__version__.startswith("3"):
    print("NO_KERAS3 " + keras.__version__)
    sys.exit(0)
"""


def run_keras3(script, args=(), cwd=None):
    """Run the file `script` (it starts with KERAS3_PRELUDE) in the oracle; the calling test skips, naming
    the reason, when the oracle or its Keras 3 is absent."""
    import pytest
    if not os.path.exists(ORACLE):
        pytest.skip(f"no Keras 3 interpreter at {ORACLE}")
    run = subprocess.run([ORACLE, str(script), *map(str, args)], cwd=cwd, capture_output=True, text=True,
                         timeout=900)
    if "NO_KERAS3" in run.stdout:
        pytest.skip(f"{ORACLE} has Keras {run.stdout.split()[-1]}, not Keras 3")
    if "No module named 'keras'" in run.stderr:
        pytest.skip(f"{ORACLE} has no keras")
    return run


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
