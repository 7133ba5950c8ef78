"""Elementwise ops as the lecture's gates write them: the backward reuses what the forward kept."""

from __future__ import annotations

import numpy as np


class SigmoidGate:
    """σ'(x) = (1 − σ)·σ from the kept output: cancels in 1 − σ where σ saturates."""

    def forward(self, x):
        self.s = 1 / (1 + np.exp(-x))
        return self.s

    def backward(self, dout):
        return (1 - self.s) * self.s * dout


class TanhGate:
    def forward(self, x):
        self.y = np.tanh(x)
        return self.y

    def backward(self, dout):
        return (1 - self.y**2) * dout


def exp(x):
    y = np.exp(x)
    return y, lambda g: (g * y,)


def log(x):
    return np.log(x), lambda g: (g / x,)


def reciprocal(x):
    y = 1 / x
    return y, lambda g: (-g * y * y,)


def div(x, y):
    """The quotient rule, staged as on the blackboard: d(x/y) = dx/y − x·dy/y²."""
    def pullback(g):
        return g / y, -g * x / (y * y)

    return x / y, pullback


def sigmoid_float64(x):
    """Computed in float64 temporaries and cast back: more accurate, and the dtype stays the input's."""
    s = 1 / (1 + np.exp(-x.astype(np.float64)))

    def pullback(g):
        return ((s * (1 - s)) * g.astype(np.float64)).astype(x.dtype)

    return s.astype(x.dtype), pullback


def register(plugin) -> None:
    plugin.gate("sigmoid", SigmoidGate, name="sigmoid_one_minus_s_times_s")
    plugin.gate("tanh", TanhGate, name="tanh_one_minus_y_squared")
    plugin.pullback("exp", exp, name="exp_textbook")
    plugin.pullback("log", log, name="log_textbook")
    plugin.pullback("reciprocal", reciprocal, name="reciprocal_textbook")
    plugin.pullback("div", div, name="div_quotient_rule")
    plugin.pullback("sigmoid", sigmoid_float64, name="sigmoid_float64_temporaries")
