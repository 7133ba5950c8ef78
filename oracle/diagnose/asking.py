"""Diagnoses that ask the implementation again: mutation, nondeterminism, stale state, the upstream gradient.

Each costs a few more calls of the implementation (under half a second in all) and is asked
only when comparing arrays cannot tell.
"""

from __future__ import annotations

import time

import numpy as np

from ..result import Finding
from .kinds import diagnosis
from .numbers import close, identical

_REPEAT_BUDGET = 0.5      # seconds spent calling the implementation again, at most
_REPEATS = 20             # calls that look for a gradient that changes from call to call


def changed_input(ev) -> str | None:
    """'x' or 'the upstream gradient' when the implementation wrote into what it was given."""
    for name, original, given in zip(ev.spec.input_names, ev.case.inputs.values(), ev.args):
        if not identical(original, given):
            return repr(name)
    for original, given in zip(ev.cotangent, ev.cotangent_given):
        if not identical(original, given):
            return "the upstream gradient"
    return None


def mutation(finding: Finding, changed: str | None) -> dict:
    what = changed or (repr(finding.argument) if finding.argument else "an input")
    if what == "the upstream gradient" or finding.facts.get("mutated") == "upstream":
        return diagnosis("mutated", "the upstream gradient was changed in place by the backward "
                                    "(it must be treated as read-only)", changed="upstream")
    return diagnosis("mutated", f"input {what} was changed in place by the implementation "
                                "(compute into a new array instead)", changed=what)


def varies(ev) -> bool:
    """Does calling the pullback (or the whole implementation) again give another gradient?"""
    from ..checks import call

    tol = ev.rtol("determinism")
    started = time.perf_counter()
    try:
        for attempt in range(_REPEATS):
            if attempt >= 2 and time.perf_counter() - started > _REPEAT_BUDGET:
                break
            again = ev.pull(ev.cotangent)
            if any(not close(a, b, tol) for a, b in zip(again, ev.grads)):
                return True
        _, pullback = call(ev.impl.vjp, *ev.case.args(), timeout=ev.timeout)
        again = ev.pull(ev.cotangent, pullback)
        return any(not close(a, b, tol) for a, b in zip(again, ev.grads))
    except Exception:  # an implementation that fails when called again says nothing about this
        return False


def nondeterministic() -> dict:
    return diagnosis("nondeterministic", "two calls gave different gradients for the same inputs and upstream "
                                         "gradient: it is nondeterministic, or keeps state between calls")


def _reference_grads(case, cotangent) -> tuple[np.ndarray, ...]:
    from ..reference import reference

    _, _, grads = reference(case, lambda shapes: tuple(cotangent))
    return grads


def stale(ev, index: int | None) -> dict | None:
    """Does the gradient belong to the inputs of another call (an earlier one, or a later forward)?

    Calls the implementation on the failing case A after a call on a second case of the same shapes
    (B), and again after a third (C). A's gradient equal to the reference at B's inputs, then at C's,
    while A called right after A is right, is a value kept from the previous call; B's pullback giving
    the reference at A's inputs once A's forward has run is state a later forward replaced. Two other
    cases, so that a gradient which merely ignores the inputs cannot match by chance.
    """
    from ..cases import build_case
    from ..checks import call

    if ev.reference_grads is None or index is None:
        return None
    case = ev.case
    others = [build_case(case.spec, case.dtype, case.dims, case.batch, case.hyper, (case.seed + k) % 2**32)
              for k in (7919, 104729)]
    if any(o is None for o in others):
        return None
    tol = 4 * ev.rtol("reference")
    name = ev.spec.differentiable[index]
    ref_a = ev.reference_grads[index]
    try:
        refs = [_reference_grads(o, ev.cotangent)[index] for o in others]
        if any(close(ref_a, r, tol) for r in refs) or close(refs[0], refs[1], tol):
            return None  # the gradient hardly depends on the inputs: nothing to tell
        after_other, later_forward = [], []
        for other in others:
            _, pull_other = call(ev.impl.vjp, *other.args(), timeout=ev.timeout)
            _, pull_a = call(ev.impl.vjp, *case.args(), timeout=ev.timeout)
            after_other.append(ev.pull(ev.cotangent, pull_a)[index])
            later_forward.append(ev.pull(ev.cotangent, pull_other)[index])
        _, pull_a = call(ev.impl.vjp, *case.args(), timeout=ev.timeout)
        after_itself = ev.pull(ev.cotangent, pull_a)[index]
    except Exception:
        return None
    if all(close(g, r, tol) for g, r in zip(after_other, refs)) and close(after_itself, ref_a, tol):
        return diagnosis("stale", f"the gradient for {name!r} equals the reference at the inputs of the previous "
                                  "call, not of this one: a value kept from an earlier call (a cache or a "
                                  "closure not refreshed)", order="previous call")
    if all(close(g, ref_a, tol) for g in after_other) and all(close(g, ref_a, tol) for g in later_forward):
        return diagnosis("stale", f"the pullback of an earlier call gives the gradient for {name!r} at the "
                                  "inputs of the latest forward call: the backward reads state that the next "
                                  "forward replaced (keep each call's values with its own pullback)",
                         order="later forward")
    return None


def upstream(ev, index: int | None) -> dict | None:
    """Does the gradient follow the upstream gradient, and linearly?"""
    shapes = [c.shape for c in ev.cotangent]
    other = ev.case.cotangent(shapes, stream=3)
    if all(identical(a, b) for a, b in zip(other, ev.cotangent)):
        return None
    tol = ev.rtol("linearity")
    try:
        pulled = ev.pull(other)
        positions = [index] if index is not None else range(len(ev.grads))
        for i in positions:
            first = np.asarray(ev.grads[i], dtype=np.float64)
            if np.any(first != 0) and close(pulled[i], first, ev.rtol("determinism")):
                name = ev.spec.differentiable[i]
                return diagnosis("upstream_ignored", f"the gradient for {name!r} does not change with the upstream "
                                                     "gradient: the upstream gradient was not multiplied in",
                                 argument=name)
        a, b = 2.0, -0.5
        combined = tuple((a * c1 + b * c2).astype(c1.dtype) for c1, c2 in zip(ev.cotangent, other))
        pulled_combined = ev.pull(combined)
        for i in positions:
            expected = a * np.asarray(ev.grads[i], dtype=np.float64) + b * np.asarray(pulled[i], dtype=np.float64)
            if pulled_combined[i].shape == expected.shape and not close(pulled_combined[i], expected, tol):
                name = ev.spec.differentiable[i]
                return diagnosis("nonlinear", f"the gradient for {name!r} is not linear in the upstream gradient",
                                 argument=name)
    except Exception:
        return None
    return None
