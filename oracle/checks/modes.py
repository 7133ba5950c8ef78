"""Checks of the other modes of differentiation: forward mode, the adjoint identity and second order.

- jvp: the implementation's forward-mode tangents against jax.jvp of the reference (float64).
- adjoint: ⟨J·u, v⟩ from its forward mode equals ⟨u, Jᵀ·v⟩ from its pullback. Needs no reference
  and no finite differences, so it also covers ops no spec describes.
- second_order: ∇ₓ ⟨pullback(v), w⟩ (torch's double backward, jax.grad through a custom rule)
  against the same quantity of the reference in float64.

A mode the implementation does not have is skipped with the reason (`skipped`). A mode it
declared (modes=("rev", "fwd"), order=2) must hold: failing to run it is a finding.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any, Callable, Sequence

import numpy as np

from ..plugin import FRAMEWORK_CONVENTIONS, Implementation, ModeUnsupported
from ..reference_modes import reference_modes
from ..result import Finding
from ..rounding import modes_rounding_spread
from ..streams import generator, thousandths
from ..tolerances import ROUNDING_ALLOWANCE, eps, rms
from .calling import call
from .evaluation import Evaluation, nudging
from .evidence import _small, compare

__all__ = ["MODE_CHECKS", "skipped", "check_jvp", "check_adjoint", "check_second_order"]

MODE_CHECKS = ("jvp", "adjoint", "second_order")
_TANGENT_STREAM, _DIRECTION_STREAM, _NUDGE_STREAM = 5, 6, 17


def skipped(impl: Implementation) -> dict[str, str]:
    """check name -> why this implementation does not get it (its convention, its declarations, its code)."""
    convention = impl.convention
    if convention not in FRAMEWORK_CONVENTIONS:
        return {"jvp": f"the {convention} convention has no forward mode",
                "adjoint": f"the {convention} convention has no forward mode",
                "second_order": f"a {convention} implementation's pullback is NumPy, not differentiable"}
    reasons = dict(impl.adapter().unsupported(impl))
    if impl.modes is not None and "fwd" not in impl.modes:
        reasons["jvp"] = reasons["adjoint"] = f"declared modes={impl.modes!r}"
    if impl.order == 1:
        reasons["second_order"] = "declared order=1"
    if impl.spec.reference is None:
        for name in ("jvp", "second_order"):
            reasons.setdefault(name, f"{impl.spec.name} has no JAX reference")
    return reasons


def _vectors(ev: Evaluation) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """(tangents u, direction w): short numbers in the case's dtype, one per differentiable input, from the seed."""
    shapes = [ev.case.inputs[n].shape for n in ev.spec.differentiable]
    u, w = (generator(ev.case.seed, stream) for stream in (_TANGENT_STREAM, _DIRECTION_STREAM))
    return ([thousandths(u, s).astype(ev.dtype, copy=False) for s in shapes],
            [thousandths(w, s).astype(ev.dtype, copy=False) for s in shapes])


def _attempt(ev: Evaluation, fn: Callable, *args: Any) -> tuple[Any, str | None]:
    """(result, None), or (None, reason) when the implementation has no such mode."""
    def run():
        try:
            return fn(*args), None
        except ModeUnsupported as error:
            return None, str(error)
    return call(run, timeout=ev.timeout)


def _implementation_jvp(ev: Evaluation) -> tuple[Any, str | None]:
    """The implementation's forward mode along u, called once per case for both the jvp and the adjoint check."""
    cache = ev.__dict__.setdefault("_modes", {})
    if "jvp" not in cache:
        cache["jvp"] = _attempt(ev, ev.impl.jvp, ev.case.args(), _vectors(ev)[0])
    return cache["jvp"]


def _not_there(ev: Evaluation, check: str, reason: str, declared: bool) -> Finding | None:
    if not declared:
        return None  # a mode the implementation never claimed: skipped
    claim = "order=2" if check == "second_order" else f"modes={ev.impl.modes!r}"
    return Finding(check, f"declared {claim}, but {reason}", facts={"declared": claim})


def _expected(ev: Evaluation, precision: str = "float64", nudged: bool = False) -> tuple[tuple, tuple]:
    """The reference's (jvp, second-order product) for this case, once per case and variant.

    nudged: at inputs and vectors moved by one rounding unit of the case's dtype; precision:
    evaluated in another dtype. Together they say what rounding alone does in this case.
    """
    cache = ev.__dict__.setdefault("_modes", {})
    key = (precision, nudged)
    if key not in cache:
        u, w = _vectors(ev)
        case, arrays = ev.case, [u, list(ev.cotangent), w]
        if nudged:
            nudge = nudging(ev.case, _NUDGE_STREAM)
            case = replace(case, inputs={n: nudge(a) if a.dtype.kind in "fV" else a for n, a in case.inputs.items()})
            arrays = [[nudge(a) for a in group] for group in arrays]
        cache[key] = reference_modes(case, *arrays, precision=precision)
    return cache[key]


def _rms(arrays: Sequence[np.ndarray]) -> float:
    """The rms of several arrays' elements together."""
    return rms(np.concatenate([np.ravel(np.asarray(a, dtype=np.float64)) for a in arrays])) if len(arrays) else 0.0


def _rounding(ev: Evaluation, which: int) -> list[np.ndarray]:
    """What rounding alone does to the reference's jvp (which=0) or second-order product (1) in this case.

    An exact zero (log_softmax of one class, a linear op's second order) does not move when the
    inputs move, yet a correct implementation computes it from terms of the vectors' size and
    lands a few ulps of them away: one rounding unit of that size is the least allowed. Below
    float64, the reference's own program re-run under the dtype's rounding (oracle.rounding) also
    counts: it sees terms that cancel inside the computation, which moving the inputs does not.
    """
    exact = _expected(ev)[which]
    u, w = _vectors(ev)
    size = max(_rms(u), _rms(ev.cotangent) * _rms(w)) if which else _rms(u)
    spread = [np.maximum(np.abs(m - e), eps(ev.dtype) * max(size, _rms([e])))
              for m, e in zip(_expected(ev, nudged=True)[which], exact)]
    if ev.dtype != "float64":
        spread = [np.maximum(s, np.abs(m - e)) for s, m, e in zip(spread, _expected(ev, ev.dtype)[which], exact)]
        u, w = _vectors(ev)
        disturbed = modes_rounding_spread(ev.case, u, list(ev.cotangent), w, _expected(ev))
        if disturbed is not None:
            spread = [np.maximum(s, d) for s, d in zip(spread, disturbed[which])]
    return spread


def _as_results(values: Any, expected: Sequence[np.ndarray], ev: Evaluation, check: str, what: str):
    """The arrays the implementation returned, or a Finding saying why they cannot be compared."""
    values = tuple(values) if isinstance(values, (tuple, list)) else (values,)
    if len(values) != len(expected):
        return Finding(check, f"{len(values)} {what}s came back; {len(expected)} were expected")
    arrays = []
    for i, (value, wanted) in enumerate(zip(values, expected)):
        label = f"{what} {i}" if len(values) > 1 else what
        array = None if value is None else np.asarray(value)
        if array is None or array.dtype.kind not in "fV":
            return Finding(check, f"the {label} is {'None' if array is None else f'of dtype {array.dtype}'}, not a float array")
        if array.shape != wanted.shape:
            return Finding(check, f"the {label} has shape {array.shape}; the reference's has shape {wanted.shape}",
                           got=_small(array), expected=_small(wanted),
                           facts={"got_shape": list(array.shape), "expected_shape": list(wanted.shape)})
        if array.dtype != np.dtype(ev.dtype):
            return Finding(check, f"the {label} has dtype {array.dtype}; the case is {ev.dtype}",
                           facts={"got_dtype": str(array.dtype), "expected_dtype": ev.dtype})
        if not np.isfinite(array.astype(np.float64)).all():
            return Finding(check, f"the {label} has NaN or Inf", got=_small(array))
        arrays.append(array)
    return tuple(arrays)


def _compare_all(ev: Evaluation, check: str, names: Sequence[str | None], got, expected, labels: Sequence[str],
                 rounding: Callable[[], list[np.ndarray]]) -> Finding | None:
    """Compare element by element; only on a mismatch is the (costly) rounding estimate made and applied."""
    rtol = ev.rtol(check)
    allowance = None
    for i, (name, g, e, label) in enumerate(zip(names, got, expected, labels)):
        finding = compare(check, name, g, e, rtol, label)
        if finding and allowance is None:
            allowance = rounding()
        if finding:
            finding = compare(check, name, g, e, rtol, label, rounding=allowance[i])
        if finding:
            return finding
    return None


def check_jvp(ev: Evaluation) -> Finding | None:
    if "jvp" in skipped(ev.impl):
        return None
    result, reason = _implementation_jvp(ev)
    if reason:
        return _not_there(ev, "jvp", reason, ev.impl.modes is not None and "fwd" in ev.impl.modes)
    expected = _expected(ev)[0]
    got = _as_results(result[1], expected, ev, "jvp", "forward-mode tangent")
    if isinstance(got, Finding):
        return got
    labels = [f"the forward-mode tangent{'' if len(got) == 1 else f' of output {i}'} differs from jax.jvp of the reference"
              for i in range(len(got))]
    return _compare_all(ev, "jvp", [None] * len(got), got, expected, labels, lambda: _rounding(ev, 0))


def check_adjoint(ev: Evaluation) -> Finding | None:
    if "adjoint" in skipped(ev.impl):
        return None
    u = _vectors(ev)[0]
    result, reason = _implementation_jvp(ev)
    if reason:
        return _not_there(ev, "adjoint", reason, ev.impl.modes is not None and "fwd" in ev.impl.modes)
    tangent_out = tuple(result[1]) if isinstance(result[1], (tuple, list)) else (result[1],)
    if len(tangent_out) != len(ev.cotangent) or any(np.shape(t) != c.shape for t, c in zip(tangent_out, ev.cotangent)):
        return Finding("adjoint", f"the forward mode gave tangents of shapes {[np.shape(t) for t in tangent_out]}; "
                                  f"the outputs have shapes {[c.shape for c in ev.cotangent]}")
    terms_fwd = [np.asarray(t, dtype=np.float64) * c.astype(np.float64) for t, c in zip(tangent_out, ev.cotangent)]
    terms_rev = [a.astype(np.float64) * g.astype(np.float64) for a, g in zip(u, ev.grads)]
    forward, reverse = float(sum(t.sum() for t in terms_fwd)), float(sum(t.sum() for t in terms_rev))
    scale = float(sum(np.abs(t).sum() for t in terms_fwd + terms_rev))
    rtol = ev.rtol("adjoint")
    error = abs(forward - reverse) / max(scale, 1e-3)
    if error > rtol and ev.reference_grads is not None:
        # What rounding alone moves each side by in this case (an ill-conditioned case cancels).
        moved_fwd = _rounding(ev, 0)
        ev.widen_for_rounding()
        moved = sum(float(np.sum(m * np.abs(c.astype(np.float64)))) for m, c in zip(moved_fwd, ev.cotangent))
        moved += sum(float(np.sum(r * np.abs(a.astype(np.float64)))) for r, a in zip(ev.rounding_grads, u))
        error = abs(forward - reverse) / max(scale, 1e-3, ROUNDING_ALLOWANCE * moved / rtol)
    if error <= rtol:
        return None
    return Finding("adjoint", f"the forward and reverse modes disagree: ⟨J·u, v⟩ from the jvp is {forward:.6g}, "
                              f"⟨u, Jᵀ·v⟩ from the pullback is {reverse:.6g} (relative error {error:.2g} > threshold {rtol:.0e})",
                   error=error, threshold=rtol, facts={"forward": forward, "reverse": reverse})


# A second-order product in half precision is mostly rounding: its terms are first-order gradients
# (already a few ulps off) differentiated again, and in an ill-conditioned case (a layernorm row of
# nearly equal values) they cancel to far below that rounding. Second order is judged in float64 and
# float32; a backward that detaches or leaves the framework is wrong in every dtype, so it is caught there.
SECOND_ORDER_DTYPES = ("float64", "float32")


def check_second_order(ev: Evaluation) -> Finding | None:
    if "second_order" in skipped(ev.impl) or ev.dtype not in SECOND_ORDER_DTYPES:
        return None
    w = _vectors(ev)[1]
    result, reason = _attempt(ev, ev.impl.second_order, ev.case.args(), [c.copy() for c in ev.cotangent], w)
    if reason:
        return _not_there(ev, "second_order", reason, ev.impl.order == 2)
    expected = _expected(ev)[1]
    got = _as_results(result, expected, ev, "second_order", "second-order gradient")
    if isinstance(got, Finding):
        return got
    names = list(ev.spec.differentiable)
    labels = [f"the derivative of the pullback, ∇ₓ⟨pullback(v), w⟩, for {name!r} differs from the reference's "
              "second-order product" for name in names]
    return _compare_all(ev, "second_order", names, got, expected, labels, lambda: _rounding(ev, 1))

