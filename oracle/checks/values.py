"""Checks of gradient values: against the JAX reference and against finite differences of the forward."""

from __future__ import annotations


import numpy as np

from ..cases import kink_distance
from ..figures import distinct, figure
from ..numeric import directional_derivative, directions
from ..result import Finding
from ..streams import generator
from ..tolerances import COARSE_FD_RTOL, COARSE_FD_STEPS, FD_STEP, ROUNDING_ALLOWANCE
from .evaluation import Evaluation
from .evidence import _grad_label, compare

def check_reference(ev: Evaluation) -> Finding | None:
    if ev.reference_grads is None:
        return None
    for i, (name, got, expected) in enumerate(zip(ev.spec.differentiable, ev.grads, ev.reference_grads)):
        if np.shape(got) != np.shape(expected):
            continue  # the shape check names it; the values of the other arguments can still be judged
        finding = compare("reference", name, got, expected, ev.rtol("reference"),
                          f"{_grad_label(name)} differs from jax.vjp of the reference", rounding=ev.rounding(i))
        if finding:
            return finding
    return None


def _directional_error(ev: Evaluation, primals, direction, cotangent, grads, step: float) -> tuple[float, float, float]:
    """(relative error, vᵀJu from the pullback, vᵀJu from finite differences) along one direction."""
    # The products' own arrays are reused for their magnitudes and for rounding's: no other array of their size.
    products = [np.multiply(g, u) for g, u in zip(grads, direction)]
    from_pullback = sum(float(p.sum()) for p in products)
    from_forward = directional_derivative(ev.forward64, primals, direction, cotangent, h=step)
    scale = sum(float(_magnitude(p).sum()) for p in products) + abs(from_forward)
    if ev.rounding_grads is not None:  # what rounding alone moves vᵀJu by, in this case (rounding is never negative)
        moved = sum(float(_magnitude(_product(r, u, into)).sum()) for r, u, into in zip(ev.rounding_grads, direction, products))
        scale = max(scale, ROUNDING_ALLOWANCE * moved / ev.rtol("finite_differences"))
    return abs(from_pullback - from_forward) / max(scale, 1e-3), from_pullback, from_forward


def _magnitude(a: np.ndarray) -> np.ndarray:
    """|a|, written into a where a is an array (a 0-d product is a NumPy scalar)."""
    return np.abs(a, out=a) if isinstance(a, np.ndarray) else np.abs(a)


def _product(a: np.ndarray, b: np.ndarray, into: np.ndarray) -> np.ndarray:
    """a·b, written into `into` where it has the product's shape."""
    if isinstance(into, np.ndarray) and into.shape == np.broadcast_shapes(np.shape(a), np.shape(b)) and into.dtype == np.float64:
        return np.multiply(a, b, out=into)
    return np.multiply(a, b)


def _agrees_at_a_coarser_step(ev: Evaluation, primals, direction, cotangent, grads, rtol: float) -> bool:
    """For a forward that rounds to float32 inside, a 1e-6 step measures rounding, not slope.

    Such a forward shows itself: changing the step changes the estimate by far more than
    truncation could. Only then are longer steps tried, each only where it cannot cross a kink.
    """
    # Steps in ratios that are not simple fractions, so float32 rounding cannot repeat itself exactly.
    estimates = [directional_derivative(ev.forward64, primals, direction, cotangent, h=k * FD_STEP) for k in (1, 1.7, 2.9)]
    scale = float(sum(np.sum(np.abs(g * u)) for g, u in zip(grads, direction))) + abs(estimates[0])
    if (max(estimates) - min(estimates)) / max(scale, 1e-3) <= rtol / 10:
        return False  # the forward is smooth at this step: the mismatch is real
    distance = kink_distance(ev.spec, ev.case.inputs, ev.case.hyper)
    for step in COARSE_FD_STEPS:
        if 2 * step < distance:
            error, _, _ = _directional_error(ev, primals, direction, cotangent, grads, step)
            if error <= max(rtol, COARSE_FD_RTOL):
                return True
    return False


def check_finite_differences(ev: Evaluation) -> Finding | None:
    if ev.impl.dtypes is not None and "float64" not in ev.impl.dtypes:
        return None  # finite differences need the forward in float64
    if ev.spec.stochastic:
        return None  # a forward that draws its own random numbers is judged from its mask (a property)
    spec = ev.spec
    # Read only (the forward gets new arrays at each step): no copies where float64 already.
    primals = [np.asarray(ev.case.inputs[n], dtype=np.float64) for n in spec.differentiable]
    cotangent = [np.asarray(c, dtype=np.float64) for c in ev.cotangent]
    grads = [np.asarray(g, dtype=np.float64) for g in ev.grads]
    rng = generator(ev.case.seed, 7)
    rtol = ev.rtol("finite_differences")
    # Where the reference judged the gradient (this check runs only once it passed), one direction
    # cross-checks it against the implementation's own forward; without one, a second direction
    # makes a wrong gradient that one direction happens to hide less likely still.
    for attempt in range(1 if ev.reference_grads is not None else 2):
        direction = directions(rng, primals)
        error, from_pullback, from_forward = _directional_error(ev, primals, direction, cotangent, grads, FD_STEP)
        if error > rtol and not _agrees_at_a_coarser_step(ev, primals, direction, cotangent, grads, rtol):
            shown = distinct(from_pullback, from_forward)
            return Finding(
                "finite_differences",
                f"vᵀ·J·u from the pullback is {shown[0]}; finite differences of the implementation's "
                f"own forward give {shown[1]} (relative error {figure(error, '.2g')} > threshold {figure(rtol, '.0e')})",
                error=error, threshold=rtol,
                facts={"from_pullback": from_pullback, "from_forward": from_forward, "direction": attempt},
            )
    return None
