"""Finite differences of an implementation's own forward, in float64.

Two views of the same derivative:

- directional: vᵀ·J·u for a random direction u, from two forward calls whatever the input
  size (the fast first pass, as in PyTorch's fast gradcheck);
- elementwise: the whole vector vᵀ·J, one central difference per input element, to locate
  which elements of a gradient are wrong, or to judge small inputs that have no reference.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from .tolerances import FD_STEP

__all__ = ["directional_derivative", "directions", "elementwise_vjp"]

Forward = Callable[[Sequence[np.ndarray]], tuple[np.ndarray, ...]]


def _contract(outputs_plus, outputs_minus, cotangent, h: float) -> float:
    return float(sum(np.sum((p - m) / (2 * h) * c) for p, m, c in zip(outputs_plus, outputs_minus, cotangent)))


def directions(rng: np.random.Generator, primals: Sequence[np.ndarray]) -> list[np.ndarray]:
    """A random direction for every differentiable input, entries of either sign in [0.5, 1]."""
    found = []
    for p in primals:
        # One uniform draw r in [0, 1) gives both: the sign of r - 1/2 and a magnitude 1/2 + |r - 1/2|,
        # each uniform and independent. In place: one array per input at any size.
        u = rng.random(p.shape)
        u -= 0.5
        np.copysign(np.abs(u) + 0.5, u, out=u)
        found.append(u)
    return found


def directional_derivative(forward: Forward, primals: Sequence[np.ndarray], direction: Sequence[np.ndarray],
                           cotangent: Sequence[np.ndarray], h: float = FD_STEP) -> float:
    """vᵀ·J·u by a central difference along u."""
    plus = forward([p + h * u for p, u in zip(primals, direction)])
    minus = forward([p - h * u for p, u in zip(primals, direction)])
    return _contract(plus, minus, cotangent, h)


def elementwise_vjp(forward: Forward, primals: Sequence[np.ndarray], cotangent: Sequence[np.ndarray],
                    h: float = FD_STEP) -> list[np.ndarray]:
    """vᵀ·J for every differentiable input, one central difference per element."""
    grads = []
    for i, primal in enumerate(primals):
        grad = np.zeros(primal.shape, dtype=np.float64)
        for index in np.ndindex(primal.shape):
            shifted_plus = [p.copy() for p in primals]
            shifted_minus = [p.copy() for p in primals]
            shifted_plus[i][index] += h
            shifted_minus[i][index] -= h
            grad[index] = _contract(forward(shifted_plus), forward(shifted_minus), cotangent, h)
        grads.append(grad)
    return grads
