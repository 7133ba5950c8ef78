"""Wrong linear algebra and reductions: transposes, reductions and broadcasts gone astray."""

from __future__ import annotations

import numpy as np


def matmul_transposed_grad(a, b):
    """dB computed as dCᵀ·A: the transpose of Aᵀ·dC."""
    return a @ b, lambda g: (g @ b.T, g.T @ a)


def matmul_grads_swapped(a, b):
    """Both gradients right, returned in the wrong order; shapes agree only when every side is equal."""

    def pullback(g):
        da = g @ b.T
        db = a.T @ g
        return db, da

    return a @ b, pullback


def matmul_half_precision(a, b):
    """A 'fast path' that multiplies single-precision gradients in half precision."""

    def pullback(g):
        if g.dtype == np.float32:
            half = np.float16
            da = g.astype(half) @ b.T.astype(half)
            db = a.T.astype(half) @ g.astype(half)
            return da.astype(np.float32), db.astype(np.float32)
        return g @ b.T, a.T @ g

    return a @ b, pullback


def dot_value_and_grad_inputs(x, y):
    """x·y with each input's own value returned as its gradient."""
    return np.dot(x, y), (x, y)


def transpose_forgets_transpose(x):
    """The upstream gradient handed back as it came, in the output's layout."""
    return x.T, lambda g: (g,)


def reshape_forward(x, shape):
    return x.reshape(shape), x.shape


def reshape_backward_not_reshaped(dout, cache):
    """The gradient is never reshaped back to the input's shape."""
    return dout


class SumGateNotBroadcast:
    """The reduced upstream gradient returned without broadcasting it back over the summed axis."""

    def forward(self, x, axis):
        return np.sum(x, axis=axis)

    def backward(self, dout):
        return dout


def mean_missing_count(x, axis):
    """The mean's gradient broadcast back without dividing by the number of elements averaged."""
    out = np.mean(x, axis=axis)

    def pullback(g):
        g = g if axis is None else np.expand_dims(g, axis)
        return (np.broadcast_to(g, x.shape).copy(),)

    return out, pullback


def mean_forward(x, axis):
    return np.mean(x, axis=axis), (x.shape, axis)


def mean_backward_count_from_last_axis(dout, cache):
    """The count taken from the last axis whatever the axis averaged: right only when n == m."""
    shape, axis = cache
    if axis is None:
        return np.broadcast_to(dout, shape) / int(np.prod(shape))
    count = shape[-1]
    return np.broadcast_to(np.expand_dims(dout, axis), shape) / count


def bias_add_forward(x, b):
    return x + b, None


def bias_add_backward_not_reduced(dout, cache):
    """db = dout: the gradient of the broadcast bias is not summed back over the rows."""
    return dout, dout


def affine_forward(x, W, b):
    return x @ W + b, (x, W)


def affine_backward_bias_wrong_axis(dout, cache):
    """db summed over the wrong axis of dout: over the outputs instead of the rows."""
    x, W = cache
    return dout @ W.T, x.T @ dout, dout.sum(axis=1)


def l2_squared_missing_two(W, x):
    """The gradient of ½‖Wx‖² used for ‖Wx‖²: a factor of two missing."""
    q = W @ x
    return np.dot(q, q), (np.outer(q, x), W.T @ q)


def register(plugin) -> None:
    plugin.pullback("matmul", matmul_transposed_grad, name="matmul_transposed_grad")
    plugin.pullback("matmul", matmul_grads_swapped, name="matmul_grads_swapped")
    plugin.pullback("matmul", matmul_half_precision, name="matmul_half_precision")
    plugin.value_and_grad("dot", dot_value_and_grad_inputs, name="dot_own_input_as_grad")
    plugin.pullback("transpose", transpose_forgets_transpose, name="transpose_not_transposed_back")
    plugin.layer("reshape", reshape_forward, reshape_backward_not_reshaped, name="reshape_not_reshaped_back")
    plugin.gate("sum", SumGateNotBroadcast, name="sum_not_broadcast_back")
    plugin.pullback("mean", mean_missing_count, name="mean_missing_1_over_n")
    plugin.layer("mean", mean_forward, mean_backward_count_from_last_axis, name="mean_count_of_last_axis")
    plugin.layer("bias_add", bias_add_forward, bias_add_backward_not_reduced, name="bias_add_not_reduced")
    plugin.layer("affine", affine_forward, affine_backward_bias_wrong_axis, name="affine_bias_wrong_axis")
    plugin.value_and_grad("l2_squared", l2_squared_missing_two, name="l2_squared_missing_two")
