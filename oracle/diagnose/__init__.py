"""Diagnose: what kind of bug a wrong gradient looks like, from the evidence of its failing case.

Runs once per failing verdict, on the shrunk case. It compares the wrong array with
transformations of the reference (its transpose, a multiple of it, a reduction, another
input's gradient, the derivative taken elsewhere, a flipped kernel, ...) and, where comparing
cannot tell, asks the implementation again (the same upstream gradient twice, another
upstream gradient, another case's inputs, the same inputs in float64).

A diagnosis is data: `{"kind", "text", "evidence"}` with its kind from KINDS (kinds.py),
never recovered from the text. Nothing here knows an op by name: only shapes, values, the
spec's reference and the implementation's answers.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..result import Finding
from ..spec import Spec
from .asking import changed_input, mutation, nondeterministic, stale, upstream, varies
from .comparison import Comparison, match_tolerance, snap_tolerance
from .kinds import KINDS, diagnosis
from .numbers import close, offset, ratio
from .precision import float32_only, float32_only_output

__all__ = ["KINDS", "diagnose", "diagnosis"]

_GRADIENT_CHECKS = ("shape", "reference", "finite_differences", "relu_sparse", "matmul_transpose",
                    "add_distributes", "max_routes", "mul_swaps", "copy_adds")


def diagnose(spec: Spec, finding: Finding, evaluation: Any) -> dict | None:
    """What the failing array looks like, as {kind, text, evidence}; None when the evidence shows nothing simple."""
    if finding.status != "failed" or finding.check in ("call", "structure", "finite", "dtype"):
        return None
    ev = evaluation
    changed = changed_input(ev)
    if finding.check == "mutation" or changed:
        return mutation(finding, changed)
    if finding.check == "forward":
        return _forward(ev)
    index = _argument_index(spec, finding, ev)
    # A value kept from the previous call also differs between two calls; the more precise story first.
    found = Comparison.attempt(lambda: stale(ev, index))
    if found:
        return found
    if finding.check == "determinism" or varies(ev):
        return nondeterministic()
    comparison = _comparison(spec, finding, ev, index)
    # Rounding is not linear in the upstream either; name the cause, not the symptom.
    if comparison is not None:
        found = comparison.attempt(comparison.precision) or comparison.attempt(
            lambda: float32_only(ev, index, comparison.got, comparison.expected))
        if found:
            return found
    found = upstream(ev, index)
    if found:
        return found
    if finding.check == "linearity":
        return diagnosis("nonlinear", "the gradient is not linear in the upstream gradient")
    return comparison.explain() if comparison else None


def _comparison(spec: Spec, finding: Finding, ev, index: int | None) -> Comparison | None:
    if finding.check not in _GRADIENT_CHECKS or index is None:
        return None
    got = np.asarray(ev.grads[index], dtype=np.float64)
    if ev.reference_grads is not None:
        expected = np.asarray(ev.reference_grads[index], dtype=np.float64)
    elif finding.expected is not None:
        expected = np.asarray(finding.expected, dtype=np.float64)
    else:
        return None
    return Comparison(spec, ev, index, got, expected)


def _argument_index(spec: Spec, finding: Finding, ev) -> int | None:
    if finding.argument in spec.differentiable:
        return spec.differentiable.index(finding.argument)
    if ev.reference_grads is None:
        return 0 if len(spec.differentiable) == 1 else None
    for i, (got, expected) in enumerate(zip(ev.grads, ev.reference_grads)):
        if not close(got, expected, ev.rtol("reference")):
            return i
    return None


def _forward(ev) -> dict | None:
    if ev.reference_output is None:
        return None
    tol = match_tolerance(ev)
    dims = {n: int(v) for n, v in ev.case.dims.items()}
    for index, (got, expected) in enumerate(zip(ev.output, ev.reference_output)):
        got, expected = np.asarray(got, dtype=np.float64), np.asarray(expected, dtype=np.float64)
        if close(got, expected, ev.rtol("forward")):
            continue
        if got.shape != expected.shape:
            if got.ndim == 2 and close(got.T, expected, tol):
                return diagnosis("transpose", "the output looks like the transpose of the reference's", where="output")
            if got.size == expected.size and close(got.reshape(expected.shape), expected, tol):
                return diagnosis("reshaped", f"the output has the right values in the wrong shape {got.shape} "
                                 f"instead of {expected.shape}", where="output")
            return None
        # A forward that loses precision in float32 alone is off by a rounding-sized factor: name the cause.
        found = float32_only_output(ev, index, got, expected)
        if found is not None:
            return found
        found = ratio(got, expected, tol, snap_tolerance(ev), dims)
        if found is not None:
            number, note, factor = found
            return diagnosis("scale", f"the output equals {number} × the reference's output"
                             + (f" ({note})" if note else ""), factor=factor, where="output")
        moved = offset(got, expected, tol, snap_tolerance(ev))
        if moved is not None:
            text, evidence = moved
            return diagnosis("offset", f"the output {text}", where="output", **evidence)
        return None
    return None
