"""Precision lost in float32 only: the same inputs given in float64 give the right gradient."""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from ..tolerances import relative_errors, rms
from .kinds import diagnosis
from .numbers import indices, where


def float32_only(ev, index: int, got: np.ndarray, expected: np.ndarray) -> dict | None:
    """Right in float64, wrong in float32: name it, and say where the precision went where the evidence shows it."""
    from ..checks import call

    if ev.dtype != "float32" or got.shape != expected.shape:
        return None
    case64 = replace(ev.case, dtype="float64", inputs={
        n: a.astype(np.float64) if a.dtype.kind == "f" else a for n, a in ev.case.inputs.items()})
    try:
        _, pullback = call(ev.impl.vjp, *case64.args(), timeout=ev.timeout)
        grad64 = np.asarray(ev.pull(tuple(c.astype(np.float64) for c in ev.cotangent), pullback)[index], dtype=np.float64)
    except Exception:  # noqa: BLE001 - code that fails in float64 says nothing about float32
        return None
    return _precision32(got, expected, grad64, ev.rtol("reference"), "gradient")


def float32_only_output(ev, index: int, got: np.ndarray, expected: np.ndarray) -> dict | None:
    """The forward's output right in float64 and wrong in float32 (a cancellation in the forward)."""
    if ev.dtype != "float32" or got.shape != expected.shape:
        return None
    try:
        primals = [np.array(ev.case.inputs[n], dtype=np.float64) for n in ev.spec.differentiable]   # copies: given to the code
        output64 = np.asarray(ev.forward64(primals)[index], dtype=np.float64)
    except Exception:  # noqa: BLE001 - code that fails in float64 says nothing about float32
        return None
    return _precision32(got, expected, output64, ev.rtol("forward"), "output")


def _precision32(got: np.ndarray, expected: np.ndarray, got64: np.ndarray, rtol: float, what: str) -> dict | None:
    """precision32 when `got64` (the same code given float64 inputs) is right and `got` is not; what:
    "gradient" or "output"."""
    if got64.shape != expected.shape:
        return None
    error32 = relative_errors(got, expected, rtol)
    error64 = relative_errors(got64, expected, rtol)
    worst32, worst64 = float(np.max(error32)), float(np.max(error64))
    if not worst32 > rtol or worst64 > min(1e-7, worst32 / 100):
        return None
    wrong = error32 > rtol
    ulps = worst32 / float(np.finfo(np.float32).eps)
    text = (f"{'the output is ' if what == 'output' else ''}right when the same inputs are given in float64 (relative error {worst64:.1e}) and wrong in "
            f"float32 (relative error {worst32:.2e}, about {ulps:.0f} float32 rounding units): a computation loses "
            "precision in float32")
    small = np.abs(expected[wrong]) < 0.1 * rms(expected)
    if wrong.any() and np.all(small):
        text += (f"; the wrong elements ({where(wrong)}) are those much smaller than the {what}'s "
                 "scale: a difference of nearly equal terms (cancellation) computed in float32")
    elif wrong.any() and not wrong.all():
        text += f", at {where(wrong)}"
    return diagnosis("precision32", text, error_float32=worst32, error_float64=worst64, at=indices(wrong),
                     cancellation=bool(wrong.any() and np.all(small)), **({"where": what} if what == "output" else {}))
