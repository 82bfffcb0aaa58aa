"""Compiled kernels: forward passes and gradients on raw numpy arrays (see csrc/API.md)."""
from minigraph.kernels._openmp_helpers import get_num_threads, set_num_threads, openmp_enabled
from minigraph.kernels import shapes
