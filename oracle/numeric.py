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
    """Σ (plus − minus)·c / 2h over the outputs: the difference made in one array and weighted in place."""
    total = 0.0
    for p, m, c in zip(outputs_plus, outputs_minus, cotangent):
        difference = np.subtract(p, m, out=np.empty(np.broadcast_shapes(np.shape(p), np.shape(m))))
        weighted = np.multiply(difference, c, out=difference) if difference.shape == np.shape(c) else difference * c
        total += float(np.sum(weighted))
    return total / (2 * h)


# A double's sign bit and mantissa, and the exponent bits of 0.5: a random word masked to the first and
# given the second is a double of either sign in [0.5, 1), its magnitude uniform on that range's doubles.
_SIGN_AND_MANTISSA = np.uint64(0x800F_FFFF_FFFF_FFFF)
_EXPONENT_OF_HALF = np.uint64(0x3FE0_0000_0000_0000)


def directions(rng: np.random.Generator, primals: Sequence[np.ndarray]) -> list[np.ndarray]:
    """A random direction for every differentiable input, entries of either sign in [0.5, 1)."""
    found = []
    for p in primals:
        # Random words made doubles in two in-place passes: a million entries cost the draw and
        # little more (a uniform draw shifted and folded took twice as long).
        bits = rng.bit_generator.random_raw(p.size)
        bits &= _SIGN_AND_MANTISSA
        bits |= _EXPONENT_OF_HALF
        found.append(bits.view(np.float64).reshape(p.shape))
    return found


def directional_derivative(forward: Forward, primals: Sequence[np.ndarray], direction: Sequence[np.ndarray],
                           cotangent: Sequence[np.ndarray], h: float = FD_STEP) -> float:
    """vᵀ·J·u by a central difference along u."""
    steps = [h * u for u in direction]
    plus = forward([p + step for p, step in zip(primals, steps)])
    minus = forward([p - step for p, step in zip(primals, steps)])
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
