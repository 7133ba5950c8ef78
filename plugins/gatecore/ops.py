"""Compound ops as small graphs of gates. Each takes Values (and hyper-parameters) and returns a Value.

Nothing here has a backward of its own: the graph's backward walks the gates these
expressions record, so every gradient below is the chain rule over the gates in gates.py.
"""

from __future__ import annotations

import numpy as np

from .graph import Value, dot, exp, im2col, log, pad2d, pick, reciprocal, relu, sigmoid


def sigmoid_composed(x: Value) -> Value:
    """σ(x) from the lecture's four gates: *-1, exp, +1, 1/x (the fused SigmoidGate is one gate)."""
    return reciprocal(exp(x * -1) + 1)


def l2_squared(W: Value, x: Value) -> Value:
    """f = ||W x||²: q feeds both sides of the dot, so dq adds up to 2q."""
    q = W @ x
    return dot(q, q)


def affine(x: Value, W: Value, b: Value) -> Value:
    return x @ W + b  # the add broadcasts b over rows; its gate sums the gradient back to b's shape


# --------------------------------------------------------------------------- losses

def softmax(x: Value) -> Value:
    e = exp(x - x.max(axis=-1, keepdims=True))  # the shift leaves softmax unchanged and keeps exp finite
    return e / e.sum(axis=-1, keepdims=True)


def log_softmax(x: Value) -> Value:
    shifted = x - x.max(axis=-1, keepdims=True)
    return shifted - log(exp(shifted).sum(axis=-1, keepdims=True))


def softmax_cross_entropy(x: Value, labels) -> Value:
    """mean over rows of -log softmax(x_i)[y_i]."""
    return -pick(log_softmax(x), labels).mean()


def svm_loss(x: Value, labels) -> Value:
    """mean over rows of Σ_{j != y_i} max(0, x_ij - x_iy_i + 1)."""
    n, classes = x.shape
    correct = pick(x, labels).reshape((n, 1))
    others = (np.arange(classes) != np.asarray(labels)[:, None]).astype(x.dtype)  # the j = y_i term is left out
    return (relu(x - correct + 1) * others).sum(axis=1).mean()


def mse(y_pred: Value, y: Value) -> Value:
    return ((y_pred - y) ** 2).mean()


def two_layer_net(x: Value, y: Value, w1: Value, w2: Value) -> Value:
    """The lecture's network: sigmoid hidden layer, squared error summed over the batch."""
    h = sigmoid(x @ w1)
    y_pred = h @ w2
    return ((y_pred - y) ** 2).sum()


# --------------------------------------------------------------------------- layers

def _normalise(x: Value, gamma: Value, beta: Value, eps, axis) -> Value:
    centred = x - x.mean(axis=axis, keepdims=True)
    variance = (centred * centred).mean(axis=axis, keepdims=True)  # biased, as in training mode
    return centred / (variance + eps) ** 0.5 * gamma + beta


def batchnorm(x: Value, gamma: Value, beta: Value, eps) -> Value:
    """Training-mode batch normalisation: statistics over the batch (axis 0)."""
    return _normalise(x, gamma, beta, eps, axis=0)


def layernorm(x: Value, gamma: Value, beta: Value, eps) -> Value:
    """Layer normalisation: statistics over the features of each row (last axis)."""
    return _normalise(x, gamma, beta, eps, axis=-1)


def conv2d(x: Value, w: Value, b: Value, stride, pad) -> Value:
    """Convolution as one matrix product: filters (F, C·HH·WW) times image windows (C·HH·WW, windows)."""
    N, _, H, W = x.shape
    F, _, HH, WW = w.shape
    OH, OW = 1 + (H + 2 * pad - HH) // stride, 1 + (W + 2 * pad - WW) // stride
    windows = im2col(pad2d(x, pad), HH, WW, stride)
    out = w.reshape((F, -1)) @ windows + b.reshape((F, 1))
    return out.reshape((F, OH, OW, N)).transpose((3, 0, 1, 2))


def max_pool2d(x: Value, size, stride) -> Value:
    """Each channel as its own one-channel image; the max of each window routes the gradient."""
    N, C, H, W = x.shape
    OH, OW = 1 + (H - size) // stride, 1 + (W - size) // stride
    windows = im2col(x.reshape((N * C, 1, H, W)), size, size, stride)
    return windows.max(axis=0).reshape((OH, OW, N, C)).transpose((2, 3, 0, 1))


def dropout(x: Value, p, seed) -> Value:
    """Inverted dropout with a mask fixed by the seed: out = x · mask / (1 - p)."""
    keep = np.random.default_rng(seed).random(x.shape) >= p
    return x * keep.astype(x.dtype) / (1 - p)
