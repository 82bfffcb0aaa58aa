"""Compiled kernels: forward passes and gradients on raw numpy arrays (see csrc/API.md)."""
import os

# The kernels alternate OpenMP loops with (threaded) BLAS calls. With GNU OpenMP's default active wait,
# a finished OpenMP team spins for milliseconds and holds the cores the next BLAS call needs: passive
# waiting hands them over at once. Read by libgomp when it loads, so set before the first extension;
# a value the user set wins.
os.environ.setdefault("OMP_WAIT_POLICY", "passive")
from minigraph.kernels._openmp_helpers import get_num_threads, set_num_threads, openmp_enabled
from minigraph.kernels import shapes
from minigraph.kernels.conv import *
from minigraph.kernels.pool import *
from minigraph.kernels.upsample import *
from minigraph.kernels.dense import *
from minigraph.kernels.bias import *
