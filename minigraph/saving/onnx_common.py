"""What the ONNX converters (`onnx_layers`, `onnx_recurrent`) share: the refusal naming a layer, a call's
input and dtype, casts, and the mask a mask-using layer applies."""
import numpy as np

from minigraph.layers.base import KerasTensor

NO_MASK_FORM = object()  # the mask of a tensor whose mask the export does not compute


def _who(layer):
    return f"layer '{layer.name}' ({type(layer).__name__})"


def unsupported(layer, why):
    return ValueError(f"ONNX export: {_who(layer)} {why}")


def dtype_of(tensor):
    return np.dtype(tensor.dtype.as_numpy_dtype)


def single_input(node):
    return node.call_args[0]


def cast(g, x, dtype, hint):
    return g.op("Cast", [x], hint, to=g.helper.np_dtype_to_tensor_dtype(np.dtype(dtype)))


def needed_mask(g, layer, node):
    """The ONNX name of the mask a mask-using layer applies (None without one): the call's mask argument,
    else the mask its input carries."""
    given = node.call_kwargs.get("mask")
    if isinstance(given, KerasTensor):
        return cast(g, g.name_of(given), np.bool_, layer.name)
    mask = g.mask_of(single_input(node))
    if mask is NO_MASK_FORM:
        raise unsupported(layer, "is called with a mask that the export does not compute (a layer before it "
                                 "combines or makes masks in a way that has no ONNX form here)")
    return mask
