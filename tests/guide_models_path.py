"""examples/guide_models.py, the guide's models that the benchmarks build too, imported from the checkout."""
import importlib.util
import os

_PATH = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "examples", "guide_models.py")
_spec = importlib.util.spec_from_file_location("guide_models", _PATH)
guide_models = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(guide_models)
