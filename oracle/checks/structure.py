"""Checks that the implementation returns the right kind of thing: finite values, the forward, shapes, dtypes."""

from __future__ import annotations


import numpy as np

from ..result import Finding
from .evaluation import Evaluation
from .evidence import _grad_label, _small, compare

def check_finite(ev: Evaluation) -> Finding | None:
    named = [("output", o) for o in ev.output] + list(zip(ev.spec.differentiable, ev.grads))
    for name, array in named:
        # NumPy's own float types are tested as they are; a half type it holds through ml_dtypes, in float64.
        if array.dtype.kind in "fV" and not np.isfinite(array if array.dtype.kind == "f" else array.astype(np.float64)).all():
            bad = ~np.isfinite(array)
            first = [int(i) for i in np.argwhere(bad)[0]] if array.ndim else []
            what = "the output" if name == "output" else _grad_label(name)
            return Finding("finite", f"{what} has {int(bad.sum())} NaN or Inf of {array.size} elements (first at index {tuple(first)})",
                           argument=None if name == "output" else name, bad=int(bad.sum()), total=int(array.size),
                           got=_small(array))
    return None


def check_forward(ev: Evaluation) -> Finding | None:
    if ev.reference_output is None:
        return None
    for i, (got, expected) in enumerate(zip(ev.output, ev.reference_output)):
        what = "the output" if len(ev.output) == 1 else f"output {i}"
        if got.shape != expected.shape:
            return Finding("forward", f"{what} has shape {got.shape}; the reference's has shape {expected.shape}",
                           facts={"got_shape": list(got.shape), "expected_shape": list(expected.shape)},
                           got=_small(got), expected=_small(expected))
        finding = compare("forward", None, got, expected, ev.rtol("forward"), f"{what} differs from the reference",
                          rounding=ev.rounding_output[i] if ev.rounding_output else None)
        if finding:
            return finding
    return None


def check_shape(ev: Evaluation) -> Finding | None:
    for name, grad in zip(ev.spec.differentiable, ev.grads):
        wanted = ev.case.inputs[name].shape
        if grad.shape != wanted:
            expected = ev.reference_grads[ev.spec.differentiable.index(name)] if ev.reference_grads else None
            return Finding("shape", f"{_grad_label(name)} has shape {grad.shape}; {name!r} has shape {wanted}",
                           argument=name, got=_small(grad), expected=None if expected is None else _small(expected),
                           facts={"got_shape": list(grad.shape), "expected_shape": list(wanted)})
    return None


def check_dtype(ev: Evaluation) -> Finding | None:
    for name, grad in zip(ev.spec.differentiable, ev.grads):
        if grad.dtype != np.dtype(ev.dtype):
            if getattr(ev.impl, "float64_grads", "fail") == "warn" and grad.dtype == np.float64 and ev.dtype == "float32":
                # Course code builds gradients with np.zeros(shape): said once, and the values are still judged.
                ev.warnings.append(f"{_grad_label(name)} is float64 for a float32 input (float64_grads = \"warn\": "
                                   "reported, not failed; its values are judged)")
                continue
            return Finding("dtype", f"{_grad_label(name)} has dtype {grad.dtype}; {name!r} is {ev.dtype}",
                           argument=name, facts={"got_dtype": str(grad.dtype), "expected_dtype": ev.dtype})
    return None
