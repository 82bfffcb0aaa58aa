"""Shape rules shared by the kernels and the layers (TensorFlow/Keras conventions).

'same' padding follows TensorFlow: out = ceil(n / s); the total padding is
max((out - 1) * s + k - n, 0), and when it is odd the extra pixel goes after (bottom/right).
"""
import operator


def normalize_tuple(value, n, name):
    """An int or a tuple of n ints as a tuple of n ints (Keras' normalize_tuple).

    Only true integers pass (operator.index): 1.5 is not silently truncated, '2' and True are refused.
    """
    items = (value,) * n if _is_integer(value) else value
    try:
        out = tuple(operator.index(v) for v in items if not isinstance(v, bool))
        if len(out) != n or len(items) != n:
            raise TypeError
    except TypeError:
        what = "a pair of ints" if n == 2 else f"a tuple of {n} int{'s' if n > 1 else ''}"
        raise ValueError(f"{name} must be an int or {what}, got {value!r}") from None
    return out


def normalize_pair(value, name):
    return normalize_tuple(value, 2, name)


def _is_integer(value):
    try:
        operator.index(value)
    except TypeError:
        return False
    return not isinstance(value, bool)


def normalize_padding(padding):
    p = str(padding).lower()
    if p not in ("valid", "same"):
        raise ValueError(f"padding must be 'valid' or 'same', got {padding!r}")
    return p


def conv_output_length(n, k, s, padding):
    """Output length of a convolution or pooling window along one axis."""
    if padding == "same":
        return -(-n // s)
    return (n - k) // s + 1 if n >= k else 0


def same_pad_before(n, k, s):
    """Padding placed before the data along one axis under TF's 'same' rule."""
    out = -(-n // s)
    return max((out - 1) * s + k - n, 0) // 2


def conv_pad_before(n, k, s, padding):
    return same_pad_before(n, k, s) if padding == "same" else 0


def deconv_output_length(n, k, s, padding, output_padding=None):
    """Output length of a transposed convolution (Keras' deconv_output_length)."""
    if output_padding is None:
        if padding == "valid":
            return n * s + max(k - s, 0)
        return n * s
    pad = k // 2 if padding == "same" else 0
    return (n - 1) * s + k - 2 * pad + output_padding
