"""The environment of a test's child process: it imports the minigraph this test process imported (an
installed one, or the in-place build), whatever the child's working directory."""
import os

import minigraph

MINIGRAPH_HOME = os.path.dirname(os.path.dirname(os.path.abspath(minigraph.__file__)))


def child_env(**extra):
    """os.environ with MINIGRAPH_HOME first on PYTHONPATH, plus `extra` variables. Run the child with a cwd
    away from a source checkout: `python -c` puts the cwd first on sys.path, and an unbuilt package there
    would shadow the build."""
    return {**os.environ, **extra, "PYTHONPATH": MINIGRAPH_HOME + os.pathsep + os.environ.get("PYTHONPATH", "")}
