"""keras.utils.pad_sequences: a list of sequences of different lengths as one padded array."""
import numpy as np


def pad_sequences(sequences, maxlen=None, dtype="int32", padding="pre", truncating="pre", value=0.0):
    """Array (len(sequences), maxlen, *sample_shape): each sequence cut to maxlen and padded with `value`.

    padding / truncating 'pre' pad or cut at the start, 'post' at the end; maxlen defaults to the
    longest sequence. The sample shape comes from the first non-empty sequence; every other one must match.
    """
    if padding not in ("pre", "post"):
        raise ValueError(f'pad_sequences: padding type "{padding}" not understood (use "pre" or "post")')
    if truncating not in ("pre", "post"):
        raise ValueError(f'pad_sequences: truncating type "{truncating}" not understood (use "pre" or "post")')
    if not hasattr(sequences, "__len__"):
        raise ValueError("pad_sequences: `sequences` must be iterable.")
    if maxlen is not None and (isinstance(maxlen, bool) or not isinstance(maxlen, (int, np.integer))
                               or maxlen < 0):
        raise ValueError(f"pad_sequences: `maxlen` must be a non-negative integer or None, got {maxlen!r}")
    lengths, sample_shape = [], None
    for seq in sequences:
        try:
            lengths.append(len(seq))
        except TypeError:
            raise ValueError(f"pad_sequences: `sequences` must be a list of iterables. Found non-iterable: "
                             f"{seq!r}") from None
        if sample_shape is None and len(seq):
            sample_shape = np.asarray(seq).shape[1:]
    sample_shape = sample_shape or ()
    if maxlen is None:
        maxlen = max(lengths) if lengths else 0
    is_text = np.issubdtype(dtype, np.str_) or np.issubdtype(dtype, np.bytes_)
    if isinstance(value, str) and dtype is not object and not is_text:
        raise ValueError(f"pad_sequences: `dtype` {dtype} is not compatible with `value`'s type: {type(value)}. "
                         f"Set `dtype=object` for variable length strings.")
    out = np.full((len(lengths), maxlen) + tuple(sample_shape), value, dtype=dtype)
    if maxlen == 0:
        return out
    for index, seq in enumerate(sequences):
        if not len(seq):
            continue
        kept = np.asarray(seq[-maxlen:] if truncating == "pre" else seq[:maxlen], dtype=dtype)
        if kept.shape[1:] != tuple(sample_shape):
            raise ValueError(f"pad_sequences: shape of sample {kept.shape[1:]} of sequence at position {index} "
                             f"is different from expected shape {tuple(sample_shape)}")
        if padding == "post":
            out[index, :len(kept)] = kept
        else:
            out[index, -len(kept):] = kept
    return out
