"""Helpers for the kernel tests: central finite differences and non-contiguous copies of an array."""
import numpy as np


def numeric_grads_in_place(loss, arrays, eps=1e-6):
    """Central-difference gradients of the scalar loss() with respect to each array, perturbing the arrays
    themselves one element at a time (for arrays a layer reads, such as its weights)."""
    grads = []
    for value in arrays:
        numeric = np.zeros_like(value)
        for idx in np.ndindex(value.shape):
            old = value[idx]
            value[idx] = old + eps
            up = loss()
            value[idx] = old - eps
            numeric[idx] = (up - loss()) / (2 * eps)
            value[idx] = old
        grads.append(numeric)
    return grads


def numeric_grad(f, x, cotangent, eps=1e-6):
    """Central-difference gradient of sum(f(x) * cotangent) with respect to x, one element at a time."""
    x = np.array(x, dtype=np.float64)
    grad = np.empty_like(x)
    flat, flat_grad = x.reshape(-1), grad.reshape(-1)
    for i in range(flat.size):
        orig = flat[i]
        flat[i] = orig + eps
        plus = np.vdot(f(x), cotangent)
        flat[i] = orig - eps
        minus = np.vdot(f(x), cotangent)
        flat[i] = orig
        flat_grad[i] = (plus - minus) / (2 * eps)
    return grad


def layouts(x):
    """Arrays equal to x whose memory is not C-ordered: step-sliced, axes-swapped and reversed views,
    and a Fortran-ordered copy."""
    every_other = tuple(slice(None, None, 2) for _ in x.shape)
    stepped = np.zeros(tuple(2 * s for s in x.shape), x.dtype)
    stepped[every_other] = x
    return {
        "stepped": stepped[every_other],
        "swapped": np.ascontiguousarray(np.swapaxes(x, 0, -1)).swapaxes(0, -1),
        "reversed": np.ascontiguousarray(x[::-1])[::-1],
        "fortran": np.asfortranarray(x),
    }
