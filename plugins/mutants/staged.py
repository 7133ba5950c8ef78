"""Mistakes in staged backward code: a formula evaluated on the wrong variable, a typo in one
term, a value kept from an earlier call, and precision lost only in float32.

Each function is right but for its one mistake; the labels in BUGS say which.
"""

from __future__ import annotations

import numpy as np


def _sigmoid(x):
    return 1 / (1 + np.exp(-x))


# --------------------------------------------------------------------------- a derivative through the output, evaluated on the input

class SigmoidGateOnInput:
    """σ' = σ·(1 − σ) written with the input: x·(1 − x)."""

    def forward(self, x):
        self.x = x
        return _sigmoid(x)

    def backward(self, dout):
        return dout * self.x * (1 - self.x)


def tanh_derivative_on_input(x):
    """tanh' = 1 − y², evaluated as 1 − x²."""
    return np.tanh(x), lambda g: (g * (1 - x**2),)


def exp_derivative_on_input(x):
    """exp' = y, returned as g·x."""
    return np.exp(x), lambda g: (g * x,)


def sigmoid_forward_keeps_input(x):
    return _sigmoid(x), x


def sigmoid_backward_reads_cache_as_output(dout, cache):
    """The cache holds x, but the backward treats it as σ(x)."""
    s = cache
    return dout * s * (1 - s)


class TanhGateOnInput:
    def forward(self, x):
        self.x = x
        return np.tanh(x)

    def backward(self, dout):
        return dout * (1 - self.x * self.x)


# --------------------------------------------------------------------------- a derivative through the input, evaluated on the output

def log_derivative_on_output(x):
    """log' = 1/x, evaluated as 1/y."""
    y = np.log(x)
    return y, lambda g: (g / y,)


def reciprocal_derivative_on_output(x):
    """(1/x)' = −1/x², evaluated as −1/y²."""
    y = 1 / x
    return y, lambda g: (-g / (y * y),)


# --------------------------------------------------------------------------- a typo in one term

def tanh_sign_typo(x):
    y = np.tanh(x)
    return y, lambda g: (g * (1 + y**2),)


def tanh_constant_typo(x):
    y = np.tanh(x)
    return y, lambda g: (g * (1 - 2 * y**2),)


def sigmoid_sign_typo(x):
    y = _sigmoid(x)
    return y, lambda g: (g * y * (1 + y),)


def _softmax(x):
    e = np.exp(x - x.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def softmax_sign_typo(x):
    s = _softmax(x)
    return s, lambda g: (s * (g + (g * s).sum(axis=1, keepdims=True)),)


def softmax_constant_typo(x):
    s = _softmax(x)
    return s, lambda g: (s * (g - 2 * (g * s).sum(axis=1, keepdims=True)),)


# --------------------------------------------------------------------------- a value from an earlier call

# What each forward call kept, by (shape, dtype): the mistake reads the previous call's entry.
_PREVIOUS: dict = {}


def _previous(label: str, value: np.ndarray) -> np.ndarray:
    key = (label, value.shape, value.dtype.str)
    before = _PREVIOUS.get(key, value)
    _PREVIOUS[key] = value.copy()
    return before


def exp_previous_output(x):
    """The backward multiplies by the output the previous call kept (a cache not refreshed)."""
    y = np.exp(x)
    kept = _previous("exp", y)
    return y, lambda g: (g * kept,)


def mul_previous_input(x, y):
    kept = _previous("mul", y)
    return x * y, lambda g: (g * kept, g * x)


def matmul_previous_b(a, b):
    kept = _previous("matmul", b)
    return a @ b, lambda g: (g @ kept.T, a.T @ g)


class TanhGatePreviousOutput:
    """A class attribute where an instance attribute was meant: the backward reads the last call's output."""

    kept: dict = {}  # noqa: RUF012 - shared by every instance: that is the mistake

    def forward(self, x):
        y = np.tanh(x)
        key = (y.shape, y.dtype.str)
        self.y = TanhGatePreviousOutput.kept.get(key, y)
        TanhGatePreviousOutput.kept[key] = y
        return y

    def backward(self, dout):
        return dout * (1 - self.y**2)


def sigmoid_forward_previous(x):
    s = _sigmoid(x)
    return s, _previous("sigmoid", s)


def sigmoid_backward(dout, cache):
    return dout * cache * (1 - cache)


# --------------------------------------------------------------------------- precision lost in float32 only

_SHIFT = 80.0   # a fixed shift "for stability" instead of the row maximum


def _logsumexp_fixed_shift(x):
    # log Σ exp(x) = m + log Σ exp(x − m): with m fixed at 80 the two terms nearly cancel.
    m = np.asarray(_SHIFT, dtype=x.dtype)
    return m + np.log(np.exp(x - m).sum(axis=1, keepdims=True))


def softmax_fixed_shift(x):
    s = np.exp(x - _logsumexp_fixed_shift(x))
    return s, lambda g: (s * (g - (g * s).sum(axis=1, keepdims=True)),)


def _stable_softmax(x):
    e = np.exp(x - x.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def log_softmax_fixed_shift(x):
    """The forward shifts by the row maximum; the backward recomputes the probabilities with the fixed shift."""
    out = np.log(_stable_softmax(x))
    s = np.exp(x - _logsumexp_fixed_shift(x))
    return out, lambda g: (g - s * g.sum(axis=1, keepdims=True),)


def softmax_loss_fixed_shift(x, y):
    """The loss from the row-maximum shift; the gradient's probabilities from the fixed shift."""
    n = x.shape[0]
    loss = -np.log(_stable_softmax(x)[np.arange(n), y]).mean()
    dx = np.exp(x - _logsumexp_fixed_shift(x))
    dx[np.arange(n), y] -= 1
    return np.asarray(loss, dtype=x.dtype), dx / n


def _offset(values):
    """A constant well above every value ("to keep them positive"), added and taken away again."""
    return np.asarray(128, dtype=values.dtype) * np.abs(values).max()


def mul_offset_cancels(x, y):
    def pullback(g):
        dx = g * y
        big = _offset(dx)
        return (dx + big) - big, g * x

    return x * y, pullback


class TanhGateOffsetCancels:
    def forward(self, x):
        self.y = np.tanh(x)
        return self.y

    def backward(self, dout):
        dx = dout * (1 - self.y**2)
        big = _offset(dx)
        return (dx + big) - big


def matmul_offset_cancels(a, b):
    def pullback(g):
        da = g @ b.T
        big = _offset(da)
        return (da + big) - big, a.T @ g

    return a @ b, pullback


def register(plugin) -> None:
    plugin.gate("sigmoid", SigmoidGateOnInput, name="sigmoid_derivative_on_input")
    plugin.pullback("tanh", tanh_derivative_on_input, name="tanh_derivative_on_input")
    plugin.pullback("exp", exp_derivative_on_input, name="exp_derivative_on_input")
    plugin.layer("sigmoid", sigmoid_forward_keeps_input, sigmoid_backward_reads_cache_as_output,
                 name="sigmoid_cache_read_as_output")
    plugin.gate("tanh", TanhGateOnInput, name="tanh_gate_derivative_on_input")
    plugin.pullback("log", log_derivative_on_output, name="log_derivative_on_output")
    plugin.pullback("reciprocal", reciprocal_derivative_on_output, name="reciprocal_derivative_on_output")
    plugin.pullback("tanh", tanh_sign_typo, name="tanh_sign_typo")
    plugin.pullback("tanh", tanh_constant_typo, name="tanh_constant_typo")
    plugin.pullback("sigmoid", sigmoid_sign_typo, name="sigmoid_sign_typo")
    plugin.pullback("softmax", softmax_sign_typo, name="softmax_sign_typo")
    plugin.pullback("softmax", softmax_constant_typo, name="softmax_constant_typo")
    plugin.pullback("exp", exp_previous_output, name="exp_previous_output")
    plugin.pullback("mul", mul_previous_input, name="mul_previous_input")
    plugin.pullback("matmul", matmul_previous_b, name="matmul_previous_b")
    plugin.gate("tanh", TanhGatePreviousOutput, name="tanh_gate_class_attribute")
    plugin.layer("sigmoid", sigmoid_forward_previous, sigmoid_backward, name="sigmoid_cache_from_previous_call")
    plugin.pullback("softmax", softmax_fixed_shift, name="softmax_fixed_shift")
    plugin.pullback("log_softmax", log_softmax_fixed_shift, name="log_softmax_fixed_shift")
    plugin.value_and_grad("softmax_cross_entropy", softmax_loss_fixed_shift, name="softmax_loss_fixed_shift")
    plugin.pullback("mul", mul_offset_cancels, name="mul_offset_cancels")
    plugin.gate("tanh", TanhGateOffsetCancels, name="tanh_gate_offset_cancels")
    plugin.pullback("matmul", matmul_offset_cancels, name="matmul_offset_cancels")
