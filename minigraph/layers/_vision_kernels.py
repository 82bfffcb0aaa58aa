"""The compiled-kernel forms of the vision ops (minigraph.kernels: batchnorm, depthwise, avg pool), each
forward rule with its gradient. Same contracts as their numpy references in _vision_ops, which the tests
compare them against; the layers route here where a kernel covers the case."""
import numpy as np

from minigraph.autodiff import differentiable
from minigraph.kernels import batchnorm as _bn
from minigraph.kernels import bias as _bias
from minigraph.kernels import depthwise as _dw
from minigraph.kernels import pool as _pool

MAX_DEPTHWISE_KERNEL = 32  # the depthwise kernels take windows up to 32 x 32


@differentiable
def batch_norm_last_axis(x, gamma=None, beta=None, epsilon=1e-3, stats=None, relu=False, max_value=None):
    """Training-mode batch normalisation over the last axis (batch statistics; gradient through them), then
    ReLU (capped at max_value when given) when `relu`, fused into the kernels. `stats`, a list, receives the
    (C,) batch mean and biased variance."""
    y, mean, variance, inv_std = _bn.batch_norm_train_forward(x, gamma, beta, epsilon, relu, max_value)
    if stats is not None:
        stats.extend((mean, variance))

    def backward(g, needs):
        dx, dgamma, dbeta = _bn.batch_norm_train_backward(g, x, mean, inv_std, gamma, beta, relu, max_value)
        return (dx if needs[0] else None, dgamma if gamma is not None and needs[1] else None,
                dbeta if beta is not None and needs[2] else None)
    return y, backward


@differentiable
def batch_norm_last_axis_inference(x, moving_mean, moving_variance, gamma=None, beta=None, epsilon=1e-3,
                                   relu=False, max_value=None):
    """Inference-mode batch normalisation over the last axis, with the moving statistics as constants, then
    ReLU (capped at max_value when given) when `relu`, fused into the kernel."""
    y = _bn.batch_norm_inference_forward(x, moving_mean, moving_variance, gamma, beta, epsilon, relu, max_value)

    def backward(g, needs):
        dx = (_bn.batch_norm_inference_backward(g, x, moving_mean, moving_variance, gamma, beta, epsilon, relu,
                                                max_value) if needs[0] else None)
        dgamma = dbeta = None
        if relu and (gamma is not None and needs[3] or beta is not None and needs[4]):
            g = g * _relu_passes(y, x, moving_mean, moving_variance, gamma, beta, epsilon, max_value)
        if gamma is not None and needs[3]:  # trainable gamma in an explicit training=False call
            inv_std = 1 / np.sqrt(moving_variance.astype(np.float64) + epsilon)
            rows = (x.reshape(-1, x.shape[-1]) - moving_mean) * inv_std
            dgamma = np.sum(g.reshape(rows.shape) * rows, axis=0).astype(x.dtype)
        if beta is not None and needs[4]:
            dbeta = g.reshape(-1, g.shape[-1]).sum(axis=0, dtype=np.float64).astype(x.dtype)
        return dx, None, None, dgamma, dbeta
    return y, backward


def _relu_passes(y, x, moving_mean, moving_variance, gamma, beta, epsilon, max_value):
    """Where the fused ReLU passed its input's gradient: 0 < pre-activation (<= max_value, recomputed)."""
    if max_value is None:
        return y > 0
    pre = _bn.batch_norm_inference_forward(x, moving_mean, moving_variance, gamma, beta, epsilon)
    return (pre > 0) & (pre <= pre.dtype.type(max_value))


@differentiable
def depthwise_conv2d(x, kernel, bias=None, strides=(1, 1), padding="valid", dilation_rate=(1, 1), relu=False):
    """Depthwise convolution + bias, then ReLU when `relu` (fused into the kernel's store)."""
    out = _dw.depthwise_conv2d_forward(x, kernel, bias, strides, padding, dilation_rate, "relu" if relu else None)

    def backward(g, needs):
        bias_grad = None
        if relu or (bias is not None and needs[2]):
            g, bias_grad = _bias.bias_relu_backward(g, out, relu)
        if needs[0] and needs[1]:  # both in one pass over g
            dx, dk = _dw.depthwise_conv2d_backward(x, g, kernel, strides, padding, dilation_rate)
        else:
            dx = (_dw.depthwise_conv2d_backward_input(g, kernel, x.shape[1:3], strides, padding, dilation_rate)
                  if needs[0] else None)
            dk = (_dw.depthwise_conv2d_backward_kernel(x, g, kernel.shape[:2], kernel.shape[3], strides, padding,
                                                       dilation_rate) if needs[1] else None)
        return dx, dk, bias_grad if bias is not None and needs[2] else None
    return out, backward


@differentiable
def avg_pool2d(x, pool_size, strides=None, padding="valid"):
    """The mean of each window's cells inside the input (padded cells are not counted)."""
    out = _pool.avg_pool2d_forward(x, pool_size, strides, padding)
    return out, lambda g, needs: (_pool.avg_pool2d_backward(g, x.shape, pool_size, strides, padding),)
