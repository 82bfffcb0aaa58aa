"""minigraph.ops is keras.ops: differentiable operations, each forward rule with its gradient rule beside it.

Layers (and users' custom layers) are written with these ops, so anything built from them trains without
a hand-written gradient. Every op takes numpy arrays, `Variable`s or `Traced` values (see
`minigraph.autodiff`); called on a `Symbolic` tensor it goes to the symbolic handler instead.

    core     conversion, shape, dtype, cast
    numpy    creation, elementwise math, comparisons, shapes, indexing, reductions, products
    math     logsumexp, rsqrt, erf, norm
    nn       activations, dense, convolution, pooling, the losses on logits, one_hot
    image    upsampling
    rnn      whole-sequence LSTM, GRU and SimpleRNN, the embedding lookup (compiled kernels)
"""
from minigraph.ops import _operators  # noqa: F401 - installs the operators on tensors
from minigraph.ops import core, image, math, nn, numpy, rnn
from minigraph.ops.core import *  # noqa: F401,F403
from minigraph.ops.image import *  # noqa: F401,F403
from minigraph.ops.math import *  # noqa: F401,F403
from minigraph.ops.nn import *  # noqa: F401,F403
from minigraph.ops.numpy import *  # noqa: F401,F403
from minigraph.ops.rnn import *  # noqa: F401,F403

__all__ = core.__all__ + numpy.__all__ + math.__all__ + nn.__all__ + image.__all__ + rnn.__all__
