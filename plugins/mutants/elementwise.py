"""Wrong elementwise gates: the mistakes people make in their first backward passes."""

from __future__ import annotations

import numpy as np


def _sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


# --------------------------------------------------------------------------- binary gates

class SubtractGateWrongSign:
    """d(x - y)/dy written as +dout: the minus sign of the second input forgotten."""

    def forward(self, x, y):
        return x - y

    def backward(self, dout):
        return dout, dout


class AddGateSplits:
    """The add gate 'shares' the upstream gradient between its inputs instead of passing it to both."""

    def forward(self, x, y):
        return x + y

    def backward(self, dout):
        return 0.5 * dout, 0.5 * dout


class MultiplyGateNotSwapped:
    """Each input gets the upstream times itself, not times the other input."""

    def forward(self, x, y):
        self.x, self.y = x, y
        return x * y

    def backward(self, dout):
        return dout * self.x, dout * self.y


def mul_late_binding(x, y):
    """A stale variable: the closures look `other` up when called, after the loop left it at x."""
    pullbacks = []
    for other in (y, x):
        pullbacks.append(lambda g: g * other)
    return x * y, lambda g: tuple(pullback(g) for pullback in pullbacks)


def div_quotient_rule_sign(x, y):
    """The quotient rule's minus sign dropped: dy = +x·dout / y²."""
    return x / y, lambda g: (g / y, g * x / y**2)


class MaxGateWrongInput:
    """The max gate routes the upstream gradient to the smaller input."""

    def forward(self, x, y):
        self.x, self.y = x, y
        return np.maximum(x, y)

    def backward(self, dout):
        return dout * (self.x < self.y), dout * (self.y < self.x)


def max_routes_to_both(x, y):
    """The max gate passes the upstream gradient to both inputs, like an add gate."""
    return np.maximum(x, y), lambda g: (g, g)


class MinGateCopiedFromMax:
    """The min gate copied from the max gate without flipping the comparison."""

    def forward(self, x, y):
        self.x, self.y = x, y
        return np.minimum(x, y)

    def backward(self, dout):
        return dout * (self.x > self.y), dout * (self.y > self.x)


class CopyGateOverwrites:
    """A value used twice: the second branch's gradient overwrites the first instead of adding to it."""

    def forward(self, x):
        return x, x

    def backward(self, dout1, dout2):
        dx = dout1
        dx = dout2
        return dx


def neg_forward(x):
    return -x, None


def neg_backward_upstream(dout, cache):
    """The sign of neg's derivative lost: dx = dout."""
    return dout


# --------------------------------------------------------------------------- unary functions

def sigmoid_forward(x):
    out = _sigmoid(x)
    return out, out


def sigmoid_backward_upstream_ignored(dout, cache):
    """The local derivative alone, never multiplied by the upstream gradient."""
    out = cache
    return out * (1 - out)


def sigmoid_derivative_at_output(x):
    """σ'(·) evaluated at the output σ(x) instead of at x."""
    out = _sigmoid(x)

    def pullback(g):
        s = _sigmoid(out)
        return (g * s * (1 - s),)

    return out, pullback


class SigmoidGateRelative1e7:
    """A systematic relative error of 1e-7 (a truncated constant, a leftover epsilon)."""

    def forward(self, x):
        self.out = _sigmoid(x)
        return self.out

    def backward(self, dout):
        return dout * self.out * (1 - self.out) * (1 + 1e-7)


class TanhGateDerivativeAtOutput:
    """1 - tanh²(·) evaluated at the output tanh(x) instead of at x."""

    def forward(self, x):
        self.out = np.tanh(x)
        return self.out

    def backward(self, dout):
        return dout * (1 - np.tanh(self.out) ** 2)


def tanh_forward(x):
    out = np.tanh(x)
    return out, out


def tanh_backward_relative_1e5(dout, cache):
    """A systematic relative error of 1e-5."""
    return dout * (1 - cache**2) * (1 + 1e-5)


def exp_relative_1e3(x):
    """A systematic relative error of 1e-3."""
    out = np.exp(x)
    return out, lambda g: (g * out * (1 + 1e-3),)


def exp_in_place(x):
    """exp computed into the input's own memory: the caller's x is overwritten by e^x."""
    np.exp(x, out=x)
    return x, lambda g: (g * x,)


def log_forward(x):
    return np.log(x), x


def log_backward_loop_from_one(dout, cache):
    """An element loop written 1-based: the first element is never visited and keeps its zero."""
    x = cache
    dx = np.zeros_like(x)
    flat_dx, flat_x, flat_dout = dx.reshape(-1), x.reshape(-1), dout.reshape(-1)
    for i in range(1, x.size):
        flat_dx[i] = flat_dout[i] / flat_x[i]
    return dx


def reciprocal_forward(x):
    return 1.0 / x, x


def reciprocal_backward_missing_square(dout, cache):
    """d(1/x)/dx written as -1/x instead of -1/x²."""
    return -dout / cache


def pow_const_exponent_kept(x, p):
    """d(xᵖ)/dx written as p·xᵖ: the exponent not lowered by one."""
    out = x**p
    return out, lambda g: (g * p * x**p,)


def add_const_returns_dc(x, c):
    """The constant treated as an input: a gradient is returned for it too."""
    return x + c, lambda g: (g, np.sum(g))


def relu_forward(x):
    return np.maximum(x, 0), x


def relu_backward_mask_from_upstream(dout, cache):
    """The ReLU mask taken from the upstream gradient instead of the input."""
    return dout * (dout > 0)


def relu_backward_in_place(dout, cache):
    """Right values, but the upstream gradient array is zeroed in place and handed back."""
    x = cache
    dout[x <= 0] = 0
    return dout


def leaky_relu_forward(x, alpha):
    return np.where(x > 0, x, alpha * x), x


def leaky_relu_backward_as_relu(dout, cache):
    """ReLU's backward copied over: the negative slope's gradient is lost."""
    x = cache
    return dout * (x > 0)


def register(plugin) -> None:
    plugin.gate("sub", SubtractGateWrongSign, name="sub_wrong_sign")
    plugin.gate("add", AddGateSplits, name="add_splits_upstream")
    plugin.gate("mul", MultiplyGateNotSwapped, name="mul_not_swapped")
    plugin.pullback("mul", mul_late_binding, name="mul_stale_closure")
    plugin.pullback("div", div_quotient_rule_sign, name="div_quotient_sign")
    plugin.gate("max", MaxGateWrongInput, name="max_routes_to_smaller")
    plugin.pullback("max", max_routes_to_both, name="max_routes_to_both")
    plugin.gate("min", MinGateCopiedFromMax, name="min_copied_from_max")
    plugin.gate("copy", CopyGateOverwrites, name="copy_overwrites_fanout")
    plugin.layer("neg", neg_forward, neg_backward_upstream, name="neg_returns_upstream")
    plugin.layer("sigmoid", sigmoid_forward, sigmoid_backward_upstream_ignored, name="sigmoid_upstream_ignored")
    plugin.pullback("sigmoid", sigmoid_derivative_at_output, name="sigmoid_derivative_at_output")
    plugin.gate("sigmoid", SigmoidGateRelative1e7, name="sigmoid_relative_1e-7")
    plugin.gate("tanh", TanhGateDerivativeAtOutput, name="tanh_derivative_at_output")
    plugin.layer("tanh", tanh_forward, tanh_backward_relative_1e5, name="tanh_relative_1e-5")
    plugin.pullback("exp", exp_relative_1e3, name="exp_relative_1e-3")
    plugin.pullback("exp", exp_in_place, name="exp_overwrites_input")
    plugin.layer("log", log_forward, log_backward_loop_from_one, name="log_skips_first_element")
    plugin.layer("reciprocal", reciprocal_forward, reciprocal_backward_missing_square, name="reciprocal_missing_square")
    plugin.pullback("pow_const", pow_const_exponent_kept, name="pow_const_exponent_kept")
    plugin.pullback("add_const", add_const_returns_dc, name="add_const_grad_for_constant")
    plugin.layer("relu", relu_forward, relu_backward_mask_from_upstream, name="relu_mask_from_upstream")
    plugin.layer("relu", relu_forward, relu_backward_in_place, name="relu_zeroes_upstream_in_place")
    plugin.layer("leaky_relu", leaky_relu_forward, leaky_relu_backward_as_relu, name="leaky_relu_slope_lost")
