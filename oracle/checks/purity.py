"""Checks of behaviour: linear in the upstream gradient, inputs left alone, the same answer twice."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..result import Finding
from .calling import call
from .evaluation import Evaluation
from .evidence import _grad_label, _small, compare

def check_linearity(ev: Evaluation) -> Finding | None:
    # a + b != 1, so a pullback that ignores its upstream gradient cannot pass by accident.
    a, b = 2.0, -0.5
    shapes = [c.shape for c in ev.cotangent]
    other = ev.case.cotangent(shapes, stream=2)
    combined = tuple(_combination(a, c1, b, c2).astype(ev.dtype, copy=False) for c1, c2 in zip(ev.cotangent, other))
    pulled_other = ev.pull(other)
    pulled_combined = ev.pull(combined)
    # The case's rounding estimate is for pullback(g₁); rounding in a pullback grows with its upstream
    # gradient, so the three pullbacks compared here may round as much as their upstreams' sizes say.
    first = _size(ev.cotangent)
    scale = (abs(a) * first + abs(b) * _size(other) + _size(combined)) / max(first, 1e-300)
    for i, (name, g1, g2, gc) in enumerate(zip(ev.spec.differentiable, ev.grads, pulled_other, pulled_combined)):
        expected = _combination(a, np.asarray(g1, dtype=np.float64), b, np.asarray(g2, dtype=np.float64))
        if gc.shape != expected.shape:
            continue  # shape problems are reported by the shape check
        finding = compare("linearity", name, gc, expected, ev.rtol("linearity"),
                          f"{_grad_label(name)} is not linear in the upstream gradient: pullback({a:g}·g₁ {b:+g}·g₂) "
                          f"≠ {a:g}·pullback(g₁) {b:+g}·pullback(g₂)",
                          rounding=ev.rounding(i, scale=scale))
        if finding:
            return finding
    return None


def _combination(a: float, x: np.ndarray, b: float, y: np.ndarray) -> np.ndarray:
    """a·x + b·y in the arrays' dtype, with one temporary: a pass fewer than the expression."""
    combined = np.multiply(x, a)
    combined += np.multiply(y, b)
    return combined


def _size(arrays) -> float:
    """The largest magnitude in a tuple of arrays (its largest and smallest element: no array of magnitudes)."""
    return max((max(-float(x.min()), float(x.max())) for x in map(np.asarray, arrays) if x.size), default=0.0)


def _same(a: Any, b: Any) -> bool:
    a, b = np.asarray(a), np.asarray(b)
    if a.shape != b.shape:
        return False
    # NaN-aware comparison costs ten times a plain one: only for arrays the plain one calls different.
    return np.array_equal(a, b) or (a.dtype.kind in "fV" and np.array_equal(a, b, equal_nan=True))


def check_mutation(ev: Evaluation) -> Finding | None:
    names = ev.spec.input_names
    for name, original, given in zip(names, ev.case.inputs.values(), ev.args):
        if not _same(original, given):
            changed = int(np.sum(np.asarray(original) != np.asarray(given))) if np.shape(original) == np.shape(given) else None
            return Finding("mutation", f"input {name!r} was changed in place by the implementation"
                           + (f" ({changed} of {np.size(original)} elements)" if changed is not None else ""),
                           argument=name, got=_small(np.asarray(given)), expected=_small(original),
                           facts={"mutated": name})
    for i, (original, given) in enumerate(zip(ev.cotangent, ev.cotangent_given)):
        if not _same(original, given):
            return Finding("mutation", "the upstream gradient was changed in place by the pullback",
                           got=_small(np.asarray(given)), expected=_small(original), facts={"mutated": "upstream"})
    return None


def check_determinism(ev: Evaluation) -> Finding | None:
    # The same pullback called again is the linearity check's business: its two further calls give
    # another gradient from a pullback that uses up or changes state, and the diagnosis names that.
    # Here the implementation is called afresh. A random forward may differ from call to call.
    if ev.spec.stochastic:
        return None
    rtol = ev.rtol("determinism")
    _, pullback = call(ev.impl.vjp, *ev.case.args(), timeout=ev.timeout)
    for name, first, second in zip(ev.spec.differentiable, ev.grads, ev.pull(ev.cotangent, pullback)):
        if first.shape == second.shape:
            finding = compare("determinism", name, second, first, rtol,
                              f"two calls on the same inputs gave different values for the {_grad_label(name)}")
            if finding:
                return finding
    return None


# -- properties named by specs: the lecture's gate patterns, checked exactly where exactness is the rule
