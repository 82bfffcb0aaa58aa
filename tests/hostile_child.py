"""Run hostile input in a child process with a timeout and an address-space limit, so that a hang or a
memory blow-up fails the one test instead of the suite.

The child imports minigraph, then caps its address space at what it already uses plus `budget` bytes
(resource.setrlimit(RLIMIT_AS)), runs the code and reports the exception it raised (or none) as JSON.
"""
import json
import subprocess
import sys
import textwrap

import pytest

from child_env import child_env

_PREAMBLE = """
import json, os, resource, sys, traceback
import numpy as np
import h5py
import minigraph as keras
from minigraph import layers

def _vm_size():
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmSize:"):
                return int(line.split()[1]) * 1024
_limit = _vm_size() + {budget}
resource.setrlimit(resource.RLIMIT_AS, (_limit, _limit))
os.chdir({workdir!r})
try:
{body}
except BaseException as err:
    print(json.dumps({{"type": type(err).__name__, "message": str(err),
                      "trace": traceback.format_exc()[-2000:]}}))
else:
    print(json.dumps({{"type": None, "message": "", "result": repr(globals().get("result"))}}))
"""


def run_child(code, workdir, timeout=90, budget=768 << 20):
    """{'type': exception class name or None, 'message': str} of `code` run in a limited child."""
    script = _PREAMBLE.format(budget=budget, workdir=str(workdir),
                              body=textwrap.indent(textwrap.dedent(code), "    "))
    env = child_env(OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1")
    try:
        proc = subprocess.run([sys.executable, "-c", script], cwd=str(workdir), env=env, capture_output=True,
                              text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        pytest.fail(f"the hostile input ran past {timeout} s (a hang)")
    lines = proc.stdout.strip().splitlines()
    if proc.returncode != 0 or not lines:
        pytest.fail(f"the child died (exit {proc.returncode}): {proc.stderr[-3000:]}")
    return json.loads(lines[-1])


def expect_error(code, workdir, kind, *fragments, **limits):
    """Run `code` in a child; it must raise `kind` (a class name) whose message holds every fragment."""
    outcome = run_child(code, workdir, **limits)
    assert outcome["type"] == kind, outcome
    for fragment in fragments:
        assert fragment in outcome["message"], (fragment, outcome)
    return outcome["message"]
