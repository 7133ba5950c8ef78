"""The lectures' gate patterns and other exact properties a spec names."""

from __future__ import annotations

from typing import Callable

import numpy as np

from ..result import Finding
from .evaluation import Evaluation
from .evidence import _grad_label, _small, compare, worst_elements

def _exact(check: str, name: str, got: np.ndarray, expected: np.ndarray, what: str, mask: np.ndarray | None = None) -> Finding | None:
    got = np.asarray(got, dtype=np.float64)
    expected = np.asarray(expected, dtype=np.float64)
    wrong = got != expected
    if mask is not None:
        wrong &= mask
    if not wrong.any():
        return None
    errors = np.where(wrong, np.abs(got - expected), 0.0)
    worst = worst_elements(got, expected, errors)
    return Finding(check, f"{what}: {int(wrong.sum())} of {wrong.size} elements differ", argument=name,
                   worst=worst, bad=int(wrong.sum()), total=int(wrong.size), error=float(errors.max()), threshold=0.0,
                   got=_small(got), expected=_small(expected))


def _values(ev: Evaluation) -> dict[str, np.ndarray]:
    return {n: a.astype(np.float64) for n, a in ev.case.inputs.items()}


def relu_sparse(ev: Evaluation) -> Finding | None:
    x, g = _values(ev)["x"], ev.cotangent[0].astype(np.float64)
    (dx,) = ev.grads
    expected = np.where(x > 0, g, 0.0)
    return _exact("relu_sparse", "x", dx, expected, "the ReLU gradient must be exactly 0 where x < 0 and exactly the upstream where x > 0")


def max_routes(ev: Evaluation) -> Finding | None:
    v, g = _values(ev), ev.cotangent[0].astype(np.float64)
    x, y = v["x"], v["y"]
    for name, grad, expected in (("x", ev.grads[0], np.where(x > y, g, 0.0)), ("y", ev.grads[1], np.where(y > x, g, 0.0))):
        finding = _exact("max_routes", name, grad, expected,
                         f"the max gate routes the upstream gradient to the larger input only; {_grad_label(name)} does not")
        if finding:
            return finding
    return None


def add_distributes(ev: Evaluation) -> Finding | None:
    g = ev.cotangent[0].astype(np.float64)
    for name, grad in zip(ev.spec.differentiable, ev.grads):
        finding = _exact("add_distributes", name, grad, g,
                         f"the add gate passes the upstream gradient unchanged to every input; {_grad_label(name)} differs")
        if finding:
            return finding
    return None


def mul_swaps(ev: Evaluation) -> Finding | None:
    v, g = _values(ev), ev.cotangent[0].astype(np.float64)
    rtol = ev.rtol("property")
    for name, grad, other in (("x", ev.grads[0], "y"), ("y", ev.grads[1], "x")):
        finding = compare("mul_swaps", name, grad, g * v[other], rtol,
                          f"the mul gate's {_grad_label(name)} must be the upstream times the other input {other!r}",
                          rounding=ev.rounding(0 if name == "x" else 1))
        if finding:
            return finding
    return None


def copy_adds(ev: Evaluation) -> Finding | None:
    g1, g2 = (c.astype(np.float64) for c in ev.cotangent)
    return compare("copy_adds", "x", ev.grads[0], g1 + g2, ev.rtol("property"),
                   "a value used twice gets the sum of both upstream gradients; the gradient for 'x' does not",
                   rounding=ev.rounding(0))


def matmul_transpose(ev: Evaluation) -> Finding | None:
    v, dc = _values(ev), ev.cotangent[0].astype(np.float64)
    a, b = v["a"], v["b"]
    rtol = ev.rtol("property")
    return (compare("matmul_transpose", "a", ev.grads[0], dc @ b.T, rtol, "matmul needs dA = dC·Bᵀ; the gradient for 'a' differs",
                    rounding=ev.rounding(0))
            or compare("matmul_transpose", "b", ev.grads[1], a.T @ dc, rtol, "matmul needs dB = Aᵀ·dC; the gradient for 'b' differs",
                       rounding=ev.rounding(1)))


PROPERTIES: dict[str, Callable[[Evaluation], Finding | None]] = {
    "relu_sparse": relu_sparse, "max_routes": max_routes, "add_distributes": add_distributes,
    "mul_swaps": mul_swaps, "copy_adds": copy_adds, "matmul_transpose": matmul_transpose,
}


def check_properties(ev: Evaluation) -> Finding | None:
    for name in ev.spec.properties:
        finding = PROPERTIES[name](ev)
        if finding:
            return finding
    return None


# Properties of assignment layers, each in its own module: dropout's revealed mask, batchnorm's running statistics.
from .dropout import dropout_mask  # noqa: E402
from .state import running_stats  # noqa: E402

PROPERTIES.update(dropout_mask=dropout_mask, running_stats=running_stats)
