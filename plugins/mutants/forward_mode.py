"""Wrong NumPy forward-mode rules (the jvp convention): f(*inputs, *tangents) -> (out, tangent_out)."""

from __future__ import annotations

import numpy as np


def tanh_jvp_derivative_at_input(x, t):
    """1 − x² where 1 − tanh² x was meant: the derivative taken at the input."""
    return np.tanh(x), t * (1 - x * x)


def sigmoid_jvp_ignores_tangent(x, t):
    """The derivative itself, not times the tangent."""
    s = 1 / (1 + np.exp(-x))
    return s, s * (1 - s) * np.ones_like(t)


def mul_jvp_one_term(x, y, tx, ty):
    """The product rule with one term: d(xy) = tx·y, the ty·x forgotten."""
    return x * y, tx * y


def register(plugin) -> None:
    plugin.jvp("tanh", tanh_jvp_derivative_at_input, name="tanh_jvp_derivative_at_input")
    plugin.jvp("sigmoid", sigmoid_jvp_ignores_tangent, name="sigmoid_jvp_ignores_tangent")
    plugin.jvp("mul", mul_jvp_one_term, name="mul_jvp_one_term")
