"""Compiled kernels: forward passes and gradients on raw numpy arrays (see csrc/API.md)."""
from minigraph.kernels import _blas_library  # first: the kernels below link its library
from minigraph.kernels._openmp_helpers import get_num_threads, set_num_threads, openmp_enabled
from minigraph.kernels import shapes
from minigraph.kernels.conv import *
from minigraph.kernels.pool import *
from minigraph.kernels.upsample import *
from minigraph.kernels.dense import *
from minigraph.kernels.bias import *
from minigraph.kernels.softmax import *
from minigraph.kernels.batchnorm import *
from minigraph.kernels.depthwise import *
from minigraph.kernels.optimizer import *
from minigraph.kernels.rnn import *
from minigraph.kernels.embedding import *

