"""Gates: the lecture's forward/backward API, one small class per operation.

    gate = MultiplyGate()
    z = gate.forward(x, y)        # computes z and keeps what backward needs (x and y)
    dx, dy = gate.backward(dz)    # upstream gradient in, one gradient per input out

backward always returns a tuple with one gradient per input, each of its input's shape.
Hyper-parameters (a constant, an axis, a window size) come after the inputs in forward
and get no gradient. Every gate keeps the dtype it is given: float32 in, float32 out.
"""

from __future__ import annotations

import numpy as np


def const(c, like: np.ndarray):
    """A hyper-parameter in the dtype of `like`, so float32 code stays float32."""
    return np.asarray(c, dtype=like.dtype)


def unbroadcast(grad: np.ndarray, shape: tuple) -> np.ndarray:
    """Sum a gradient over the axes that broadcasting added, giving it its variable's shape."""
    while grad.ndim > len(shape):
        grad = grad.sum(axis=0)
    for axis, size in enumerate(shape):
        if size == 1 and grad.shape[axis] != 1:
            grad = grad.sum(axis=axis, keepdims=True)
    return grad


class Gate:
    """A node of a computational graph: forward(*inputs, *hyper) -> output; backward(*douts) -> grads."""

    outputs = 1  # how many values forward returns (the copy gate returns two)


# --------------------------------------------------------------------------- two inputs

class AddGate(Gate):
    """z = x + y: the gradient distributor (broadcasting allowed, as in the bias add)."""

    def forward(self, x, y):
        self.x_shape, self.y_shape = np.shape(x), np.shape(y)
        return x + y

    def backward(self, dz):
        return unbroadcast(dz, self.x_shape), unbroadcast(dz, self.y_shape)


class SubtractGate(Gate):
    """z = x - y."""

    def forward(self, x, y):
        self.x_shape, self.y_shape = np.shape(x), np.shape(y)
        return x - y

    def backward(self, dz):
        return unbroadcast(dz, self.x_shape), unbroadcast(-dz, self.y_shape)


class MultiplyGate(Gate):
    """z = x * y: the gradient switcher (each input gets the other one times dz)."""

    def forward(self, x, y):
        self.x, self.y = x, y
        return x * y

    def backward(self, dz):
        return unbroadcast(self.y * dz, np.shape(self.x)), unbroadcast(self.x * dz, np.shape(self.y))


class DivideGate(Gate):
    """z = x / y."""

    def forward(self, x, y):
        self.x, self.y = x, y
        return x / y

    def backward(self, dz):
        dx = dz / self.y
        dy = -dz * self.x / (self.y * self.y)
        return unbroadcast(dx, np.shape(self.x)), unbroadcast(dy, np.shape(self.y))


class MaxGate(Gate):
    """z = max(x, y): the gradient router (dz goes to whichever input was larger)."""

    def forward(self, x, y):
        self.x_shape, self.y_shape = np.shape(x), np.shape(y)
        self.x_wins = x >= y
        return np.maximum(x, y)

    def backward(self, dz):
        return unbroadcast(dz * self.x_wins, self.x_shape), unbroadcast(dz * ~self.x_wins, self.y_shape)


class MinGate(Gate):
    """z = min(x, y): routes dz to the smaller input."""

    def forward(self, x, y):
        self.x_shape, self.y_shape = np.shape(x), np.shape(y)
        self.x_wins = x <= y
        return np.minimum(x, y)

    def backward(self, dz):
        return unbroadcast(dz * self.x_wins, self.x_shape), unbroadcast(dz * ~self.x_wins, self.y_shape)


class DotGate(Gate):
    """z = x · y for two vectors (a scalar)."""

    def forward(self, x, y):
        self.x, self.y = x, y
        return x @ y

    def backward(self, dz):
        return dz * self.y, dz * self.x


class MatMulGate(Gate):
    """z = a @ b: da = dz bᵀ, db = aᵀ dz (shapes say where the transposes go)."""

    def forward(self, a, b):
        self.a, self.b = a, b
        return a @ b

    def backward(self, dz):
        if self.b.ndim == 1:  # matrix times vector, q = W x: dW = dq xᵀ
            return np.outer(dz, self.b), self.a.T @ dz
        return dz @ self.b.T, self.a.T @ dz


class PickGate(Gate):
    """z[i] = x[i, labels[i]]: one entry per row, as the losses read the correct class's score."""

    def forward(self, x, labels):
        self.shape, self.dtype, self.rows = x.shape, x.dtype, (np.arange(x.shape[0]), labels)
        return x[self.rows]

    def backward(self, dz):
        dx = np.zeros(self.shape, self.dtype)
        dx[self.rows] = dz
        return dx, None  # labels get no gradient


# --------------------------------------------------------------------------- one input

class CopyGate(Gate):
    """(x, x): one value used twice; the gradient adder."""

    outputs = 2

    def forward(self, x):
        return x, x

    def backward(self, dz1, dz2):
        return (dz1 + dz2,)


class NegateGate(Gate):
    """z = -x."""

    def forward(self, x):
        return -x

    def backward(self, dz):
        return (-dz,)


class AddConstGate(Gate):
    """z = x + c, the lecture's '+1' gate."""

    def forward(self, x, c):
        return x + const(c, x)

    def backward(self, dz):
        return (dz,)


class MulConstGate(Gate):
    """z = c · x, the lecture's '*-1' gate."""

    def forward(self, x, c):
        self.c = const(c, x)
        return x * self.c

    def backward(self, dz):
        return (dz * self.c,)


class PowConstGate(Gate):
    """z = x ** p for a constant p."""

    def forward(self, x, p):
        self.x, self.p = x, const(p, x)
        return x ** self.p

    def backward(self, dz):
        return (dz * self.p * self.x ** (self.p - 1),)


class ExpGate(Gate):
    """z = eˣ: its own derivative."""

    def forward(self, x):
        self.out = np.exp(x)
        return self.out

    def backward(self, dz):
        return (dz * self.out,)


class LogGate(Gate):
    """z = ln x."""

    def forward(self, x):
        self.x = x
        return np.log(x)

    def backward(self, dz):
        return (dz / self.x,)


class ReciprocalGate(Gate):
    """z = 1/x, local gradient -1/x²."""

    def forward(self, x):
        self.out = 1 / x
        return self.out

    def backward(self, dz):
        return (-dz * self.out * self.out,)


class SigmoidGate(Gate):
    """σ(x) = 1 / (1 + e⁻ˣ), fused: local gradient σ(x)(1 - σ(x)) from the output alone."""

    def forward(self, x):
        self.out = 1 / (1 + np.exp(-x))
        return self.out

    def backward(self, dz):
        return (dz * self.out * (1 - self.out),)


class TanhGate(Gate):
    """z = tanh x, local gradient 1 - tanh² x."""

    def forward(self, x):
        self.out = np.tanh(x)
        return self.out

    def backward(self, dz):
        return (dz * (1 - self.out * self.out),)


class ReLUGate(Gate):
    """z = max(0, x): dz passes where x > 0 and is zero elsewhere."""

    def forward(self, x):
        self.x = x
        return np.maximum(x, 0)

    def backward(self, dz):
        return (dz * (self.x > 0),)


class LeakyReLUGate(Gate):
    """z = x if x > 0 else alpha · x."""

    def forward(self, x, alpha):
        self.positive, self.alpha = x > 0, const(alpha, x)
        return np.where(self.positive, x, x * self.alpha)

    def backward(self, dz):
        return (np.where(self.positive, dz, dz * self.alpha),)


# --------------------------------------------------------------------------- shapes and reductions

class TransposeGate(Gate):
    """z = xᵀ (or any permutation of the axes): the gradient is permuted back."""

    def forward(self, x, axes=None):
        self.axes = axes
        return np.transpose(x, axes)

    def backward(self, dz):
        return (np.transpose(dz, None if self.axes is None else np.argsort(self.axes)),)


class ReshapeGate(Gate):
    """z = x.reshape(shape): the gradient is reshaped back."""

    def forward(self, x, shape):
        self.shape = x.shape
        return x.reshape(shape)

    def backward(self, dz):
        return (dz.reshape(self.shape),)


class SumGate(Gate):
    """z = Σ x over an axis (all of them for None): every summand gets dz."""

    def forward(self, x, axis=None, keepdims=False):
        self.shape, self.axis, self.keepdims = x.shape, axis, keepdims
        return x.sum(axis=axis, keepdims=keepdims)

    def backward(self, dz):
        if self.axis is not None and not self.keepdims:
            dz = np.expand_dims(dz, self.axis)
        return (np.broadcast_to(dz, self.shape).copy(),)


class MeanGate(SumGate):
    """z = mean of x over an axis (all of them for None): every element gets dz / count."""

    def forward(self, x, axis=None, keepdims=False):
        total = super().forward(x, axis, keepdims)
        self.count = const(x.size // np.size(total), x)
        return total / self.count

    def backward(self, dz):
        return super().backward(dz / self.count)


class MaxAlongGate(Gate):
    """z = max of x along one axis: the max gate's routing, to the largest entry of each slice."""

    def forward(self, x, axis, keepdims=False):
        self.shape, self.axis, self.keepdims = x.shape, axis, keepdims
        self.where = np.expand_dims(x.argmax(axis=axis), axis)
        out = np.take_along_axis(x, self.where, axis)
        return out if keepdims else out.squeeze(axis)

    def backward(self, dz):
        dx = np.zeros(self.shape, dz.dtype)
        np.put_along_axis(dx, self.where, dz if self.keepdims else np.expand_dims(dz, self.axis), self.axis)
        return (dx,)


# --------------------------------------------------------------------------- images

class Pad2dGate(Gate):
    """Zero padding of the last two axes of (N, C, H, W): the gradient is the unpadded middle."""

    def forward(self, x, pad):
        self.pad, (self.H, self.W) = pad, x.shape[-2:]
        return np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))

    def backward(self, dz):
        p = self.pad
        return (dz[:, :, p:p + self.H, p:p + self.W],)


class Im2ColGate(Gate):
    """Every HH x WW window of (N, C, H, W), one window per column: (C·HH·WW, OH·OW·N).

    A pure gather, so backward scatters each column back, adding where windows overlap.
    """

    def forward(self, x, HH, WW, stride):
        N, C, H, W = x.shape
        OH, OW = 1 + (H - HH) // stride, 1 + (W - WW) // stride
        channel = np.repeat(np.arange(C), HH * WW)[:, None]
        row = np.tile(np.repeat(np.arange(HH), WW), C)[:, None] + stride * np.repeat(np.arange(OH), OW)
        col = np.tile(np.arange(WW), HH * C)[:, None] + stride * np.tile(np.arange(OW), OH)
        self.shape, self.index = x.shape, (slice(None), channel, row, col)
        patches = x[self.index]                                 # (N, C·HH·WW, OH·OW)
        return patches.transpose(1, 2, 0).reshape(C * HH * WW, -1)

    def backward(self, dcols):
        dx = np.zeros(self.shape, dcols.dtype)
        rows, windows = self.index[2].shape
        dpatches = dcols.reshape(rows, windows, self.shape[0]).transpose(2, 0, 1)
        np.add.at(dx, self.index, dpatches)
        return (dx,)
