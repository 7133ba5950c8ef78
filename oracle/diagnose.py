"""Diagnose: what kind of bug a wrong gradient looks like, from the evidence of its failing case.

Runs once per failing verdict, on the shrunk case. It compares the wrong array with
transformations of the reference (its transpose, a multiple of it, a reduction, another
input's gradient, the derivative taken elsewhere, ...) and, where comparing cannot tell,
asks the implementation again: a second call with the same upstream gradient (is it
deterministic?) and one with another upstream gradient (does it use it, linearly?).

Every diagnosis is a short sentence that contains its kind's marker (KINDS), so a
diagnosis can be recognised again from the text alone (kind_of). Nothing here knows an
op by name: only shapes, values, the spec's reference and the implementation's answers.
"""

from __future__ import annotations

import itertools
import time
from fractions import Fraction
from typing import Any, Callable, Sequence

import numpy as np

from .result import Finding
from .spec import Spec
from .tolerances import relative_errors

__all__ = ["diagnose", "kind_of", "KINDS"]

# kind -> the phrase every diagnosis of that kind contains; checked in this order by kind_of.
KINDS: dict[str, str] = {
    "mutated": "changed in place",
    "nondeterministic": "two calls gave different",
    "upstream_ignored": "does not change with the upstream gradient",
    "nonlinear": "not linear in the upstream gradient",
    "transpose": "transpose of the reference",
    "wrong_axis": "reduced over the wrong axis",
    "unreduced": "was not reduced",
    "not_broadcast": "was not broadcast back",
    "reshaped": "the right values in the wrong shape",
    "partial": "through output",
    "precision": "half precision",
    "scale": "× the reference",
    "swapped": "equals the reference gradient of",
    "output": "derivative taken at the output",
    "diagonal": "diagonal of the Jacobian",
    "times_input": "elementwise by",
    "offset": "differs from the reference by",
    "mask": "a mask or routing",
    "leak": "nonzero where the reference is exactly zero",
    "zero": "zero where the reference is not",
    "elements": "right except at",
}

_GRADIENT_CHECKS = ("shape", "reference", "finite_differences", "relu_sparse", "matmul_transpose",
                    "add_distributes", "max_routes", "mul_swaps", "copy_adds")
_REPEAT_BUDGET = 0.5      # seconds spent calling the implementation again, at most
_REPEATS = 20             # calls that look for a gradient that changes from call to call
_JACOBIAN_LIMIT = 64      # inputs up to this size get their reference Jacobian computed, row by row
_SHOWN_INDICES = 4


def kind_of(diagnosis: str | None) -> str | None:
    """The kind of a diagnosis sentence, from its marker; None for no diagnosis or an unknown one."""
    if not diagnosis:
        return None
    for kind, marker in KINDS.items():
        if marker in diagnosis:
            return kind
    return None


def diagnose(spec: Spec, finding: Finding, evaluation: Any) -> str | None:
    """One sentence saying what the failing array looks like; None when the evidence shows nothing simple."""
    if finding.status != "failed" or finding.check in ("call", "structure", "finite", "dtype"):
        return None
    ev = evaluation
    changed = _changed_input(ev)
    if finding.check == "mutation" or changed:
        return _mutation(finding, changed)
    if finding.check == "determinism" or _varies(ev):
        return ("two calls gave different gradients for the same inputs and upstream gradient: "
                "it is nondeterministic, or keeps state between calls")
    if finding.check == "forward":
        return _forward(ev)
    index = _argument_index(spec, finding, ev)
    comparison = _comparison(spec, finding, ev, index)
    # Half-precision rounding is not linear in the upstream either; name the cause, not the symptom.
    precision = comparison.attempt(comparison.precision) if comparison else None
    if precision:
        return precision
    upstream = _upstream(ev, index)
    if upstream:
        return upstream
    if finding.check == "linearity":
        return "the gradient is not linear in the upstream gradient"
    return comparison.explain() if comparison else None


def _comparison(spec: Spec, finding: Finding, ev, index: int | None) -> "_Comparison | None":
    if finding.check not in _GRADIENT_CHECKS or index is None:
        return None
    got = np.asarray(ev.grads[index], dtype=np.float64)
    if ev.reference_grads is not None:
        expected = np.asarray(ev.reference_grads[index], dtype=np.float64)
    elif finding.expected is not None:
        expected = np.asarray(finding.expected, dtype=np.float64)
    else:
        return None
    return _Comparison(spec, ev, index, got, expected)


# --------------------------------------------------------------------------- asking the implementation again

def _changed_input(ev) -> str | None:
    """'x' or 'the upstream gradient' when the implementation wrote into what it was given."""
    for name, original, given in zip(ev.spec.input_names, ev.case.inputs.values(), ev.args):
        if not _identical(original, given):
            return repr(name)
    for original, given in zip(ev.cotangent, ev.cotangent_given):
        if not _identical(original, given):
            return "the upstream gradient"
    return None


def _identical(a, b) -> bool:
    a, b = np.asarray(a), np.asarray(b)
    return a.shape == b.shape and np.array_equal(a, b, equal_nan=a.dtype.kind == "f")


def _mutation(finding: Finding, changed: str | None) -> str:
    what = changed or (repr(finding.argument) if finding.argument else "an input")
    if what == "the upstream gradient" or finding.facts.get("mutated") == "upstream":
        return "the upstream gradient was changed in place by the backward (it must be treated as read-only)"
    return f"input {what} was changed in place by the implementation (compute into a new array instead)"


def _close(a: np.ndarray, b: np.ndarray, tol: float) -> bool:
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    return a.shape == b.shape and bool(np.all(relative_errors(a, b, tol) <= tol))


def _varies(ev) -> bool:
    """Does calling the pullback (or the whole implementation) again give another gradient?"""
    from .checks import call

    tol = ev.rtol("determinism")
    started = time.perf_counter()
    try:
        for attempt in range(_REPEATS):
            if attempt >= 2 and time.perf_counter() - started > _REPEAT_BUDGET:
                break
            again = ev.pull(ev.cotangent)
            if any(not _close(a, b, tol) for a, b in zip(again, ev.grads)):
                return True
        _, pullback = call(ev.impl.vjp, *ev.case.args(), timeout=ev.timeout)
        again = ev.pull(ev.cotangent, pullback)
        return any(not _close(a, b, tol) for a, b in zip(again, ev.grads))
    except Exception:  # an implementation that fails when called again says nothing about this
        return False


def _upstream(ev, index: int | None) -> str | None:
    """Does the gradient follow the upstream gradient, and linearly?"""
    shapes = [c.shape for c in ev.cotangent]
    other = ev.case.cotangent(shapes, stream=3)
    if all(_identical(a, b) for a, b in zip(other, ev.cotangent)):
        return None
    tol = ev.rtol("linearity")
    try:
        pulled = ev.pull(other)
        positions = [index] if index is not None else range(len(ev.grads))
        for i in positions:
            first = np.asarray(ev.grads[i], dtype=np.float64)
            if np.any(first != 0) and _close(pulled[i], first, ev.rtol("determinism")):
                name = ev.spec.differentiable[i]
                return (f"the gradient for {name!r} does not change with the upstream gradient: "
                        "the upstream gradient was not multiplied in")
        a, b = 2.0, -0.5
        combined = tuple((a * c1 + b * c2).astype(c1.dtype) for c1, c2 in zip(ev.cotangent, other))
        pulled_combined = ev.pull(combined)
        for i in positions:
            expected = a * np.asarray(ev.grads[i], dtype=np.float64) + b * np.asarray(pulled[i], dtype=np.float64)
            if pulled_combined[i].shape == expected.shape and not _close(pulled_combined[i], expected, tol):
                name = ev.spec.differentiable[i]
                return f"the gradient for {name!r} is not linear in the upstream gradient"
    except Exception:
        return None
    return None


def _argument_index(spec: Spec, finding: Finding, ev) -> int | None:
    if finding.argument in spec.differentiable:
        return spec.differentiable.index(finding.argument)
    if ev.reference_grads is None:
        return 0 if len(spec.differentiable) == 1 else None
    for i, (got, expected) in enumerate(zip(ev.grads, ev.reference_grads)):
        if not _close(got, expected, ev.rtol("reference")):
            return i
    return None


# --------------------------------------------------------------------------- the forward

def _forward(ev) -> str | None:
    if ev.reference_output is None:
        return None
    tol = _tolerance(ev)
    for got, expected in zip(ev.output, ev.reference_output):
        got, expected = np.asarray(got, dtype=np.float64), np.asarray(expected, dtype=np.float64)
        if _close(got, expected, ev.rtol("forward")):
            continue
        if got.shape != expected.shape:
            if got.ndim == 2 and _close(got.T, expected, tol):
                return "the output looks like the transpose of the reference's"
            if got.size == expected.size and _close(got.reshape(expected.shape), expected, tol):
                return f"the output has the right values in the wrong shape {got.shape} instead of {expected.shape}"
            return None
        ratio = _ratio(got, expected, tol, _snap_tolerance(ev), _dims(ev))
        if ratio is not None:
            number, note = ratio
            return f"the output equals {number} × the reference's output" + (f" ({note})" if note else "")
        offset = _offset(got, expected, tol, _snap_tolerance(ev))
        if offset is not None:
            return f"the output {offset}"
        return None
    return None


# --------------------------------------------------------------------------- comparing a wrong gradient with the reference

class _Comparison:
    """One wrong gradient beside its reference, and the ways they may be related."""

    def __init__(self, spec: Spec, ev, index: int, got: np.ndarray, expected: np.ndarray) -> None:
        self.spec, self.ev, self.index = spec, ev, index
        self.got, self.expected = got, expected
        self.name = spec.differentiable[index]
        self.rtol = ev.rtol("reference")
        self.tol = _tolerance(ev)

    def explain(self) -> str | None:
        tests: Sequence[Callable[[], str | None]] = (
            [self.transposed, self.wrong_axis, self.unreduced, self.not_broadcast, self.reshaped, self.swapped]
            if self.got.shape != self.expected.shape else
            [self.transposed, self.partial, self.scaled, self.swapped, self.wrong_axis, self.times_input,
             self.at_output, self.diagonal_only, self.offset, self.masked]
        )
        for test in tests:
            found = self.attempt(test)
            if found:
                return found
        return None

    @staticmethod
    def attempt(test: Callable[[], str | None]) -> str | None:
        try:
            return test()
        except Exception:  # one line of evidence failing to compute must not hide the others
            return None

    # -- shape-changing mistakes

    def transposed(self) -> str | None:
        got, expected = self.got, self.expected
        if got.ndim != 2 or got.T.shape != expected.shape or _close(got.T, got, 0.0):
            return None
        if _close(got.T, expected, self.tol):
            shape = f" (shape {got.shape} where {expected.shape} was expected)" if got.shape != expected.shape else ""
            return f"looks like the transpose of the reference{shape}"
        return None

    def unreduced(self) -> str | None:
        got, expected = self.got, self.expected
        if got.size <= expected.size:
            return None
        for axes in _axis_sets(got.ndim):
            for keep in (False, True):
                summed = got.sum(axis=axes, keepdims=keep)
                if summed.shape == expected.shape and _close(summed, expected, self.tol):
                    return (f"summed over {_axes_text(axes)} it equals the reference: "
                            f"the gradient of a broadcast input was not reduced back to its shape {expected.shape}")
        return None

    def not_broadcast(self) -> str | None:
        got, expected = self.got, self.expected
        if got.size >= expected.size:
            return None
        for axis in range(expected.ndim):
            candidate = np.expand_dims(got, axis) if got.ndim < expected.ndim else got
            try:
                spread = np.broadcast_to(candidate, expected.shape)
            except ValueError:
                continue
            if _close(spread, expected, self.tol):
                return (f"repeated along {_axes_text((axis,))} it equals the reference: "
                        f"the gradient was not broadcast back to the input's shape {expected.shape}")
        return None

    def reshaped(self) -> str | None:
        got, expected = self.got, self.expected
        if got.size == expected.size and _close(got.reshape(expected.shape), expected, self.tol):
            return (f"it holds the right values in the wrong shape {got.shape} instead of {expected.shape}: "
                    "a missing reshape, or a size-1 axis not summed away")
        return None

    def wrong_axis(self) -> str | None:
        """The reference is some array reduced over one axis; the gradient is the same array reduced over another."""
        got, expected = self.got, self.expected
        sources = [("the upstream gradient", np.asarray(c, dtype=np.float64)) for c in self.ev.cotangent]
        for label, source in sources:
            if source.ndim < 2:
                continue
            for reduce, verb in ((np.sum, "summed"), (np.mean, "averaged")):
                right = [a for a in range(source.ndim) if _close(reduce(source, axis=a), expected, self.tol)]
                wrong = [a for a in range(source.ndim) if a not in right and _close(reduce(source, axis=a), got, self.tol)]
                if right and wrong:
                    return (f"equals {label} {verb} over axis {wrong[0]}, where the reference is it {verb} over "
                            f"axis {right[0]}: reduced over the wrong axis")
        return None

    # -- same-shape mistakes

    def swapped(self) -> str | None:
        if self.ev.reference_grads is None:
            return None
        for j, other in enumerate(self.ev.reference_grads):
            other = np.asarray(other, dtype=np.float64)
            if j == self.index or other.shape != self.got.shape or not np.any(other != 0):
                continue
            if _close(self.got, other, self.tol) and not _close(other, self.expected, self.tol):
                theirs = self.spec.differentiable[j]
                return (f"equals the reference gradient of {theirs!r}, not of {self.name!r}: the gradients were "
                        f"swapped, or a value belonging to {theirs!r} was used in place of {self.name!r}'s")
        return None

    def partial(self) -> str | None:
        if self.spec.outputs < 2 or self.spec.reference is None:
            return None
        cotangent = [np.asarray(c, dtype=np.float64) for c in self.ev.cotangent]
        for k in range(len(cotangent)):
            alone = tuple(c if i == k else np.zeros_like(c) for i, c in enumerate(cotangent))
            if _close(self.got, _reference_grads(self.ev.case, alone)[self.index], self.tol):
                return (f"equals the gradient through output {k + 1} alone: the gradient from the other "
                        "output was overwritten instead of added")
        return None

    def scaled(self) -> str | None:
        ratio = _ratio(self.got, self.expected, self.tol, _snap_tolerance(self.ev), _dims(self.ev))
        if ratio is None:
            return None
        number, note = ratio
        if number == "-1":
            return "equals -1 × the reference: the sign is wrong"
        return f"equals {number} × the reference" + (f" ({note})" if note else "")

    def at_output(self) -> str | None:
        """For an op with one input and an output of its shape: the reference's derivative at y = f(x) instead of x."""
        spec, ev = self.spec, self.ev
        if len(spec.inputs) != 1 or spec.outputs != 1 or spec.reference is None or ev.reference_output is None:
            return None
        y = np.asarray(ev.reference_output[0], dtype=np.float64)
        if y.shape != self.got.shape:
            return None
        moved = type(ev.case)(spec, "float64", dict(ev.case.dims), tuple(ev.case.batch), dict(ev.case.hyper),
                              ev.case.seed, {spec.input_names[0]: y})
        at_y = _reference_grads(moved, tuple(np.asarray(c, dtype=np.float64) for c in ev.cotangent))[0]
        if _close(self.got, at_y, self.tol):
            return "matches the derivative taken at the output y = f(x) instead of at the input x"
        return None

    def diagonal_only(self) -> str | None:
        """For an op with one input and an output of its shape: only the Jacobian's diagonal applied."""
        spec, ev = self.spec, self.ev
        if len(spec.inputs) != 1 or spec.outputs != 1 or spec.reference is None:
            return None
        x = ev.case.inputs[spec.input_names[0]]
        if x.size > _JACOBIAN_LIMIT or x.shape != self.got.shape or x.size < 2:
            return None
        # Row i of the Jacobian is the reference's gradient for a one-hot upstream gradient at i.
        rows = []
        for i in range(x.size):
            one_hot = np.zeros(x.size)
            one_hot[i] = 1.0
            rows.append(_reference_grads(ev.case, (one_hot.reshape(x.shape),))[0].reshape(-1))
        jacobian = np.array(rows)
        diagonal = np.diag(jacobian).copy()
        if not np.any(jacobian - np.diag(diagonal)):
            return None  # a diagonal Jacobian: nothing can be missing off it
        g = np.asarray(ev.cotangent[0], dtype=np.float64).reshape(-1)
        if _close(self.got, (diagonal * g).reshape(x.shape), self.tol):
            return ("equals the diagonal of the Jacobian times the upstream gradient: the off-diagonal terms "
                    "(each output's dependence on the other elements) are missing")
        return None

    def times_input(self) -> str | None:
        ev = self.ev
        candidates = [(repr(n), np.asarray(a, dtype=np.float64)) for n, a in ev.case.inputs.items()
                      if np.asarray(a).dtype.kind == "f"]
        if ev.reference_output is not None:
            candidates += [("the output", np.asarray(o, dtype=np.float64)) for o in ev.reference_output]
        for label, value in candidates:
            if value.shape != self.got.shape:
                continue
            if _close(self.got, self.expected * value, self.tol):
                return f"equals the reference multiplied elementwise by {label}: a power off by one?"
            if np.all(value != 0) and _close(self.got, self.expected / value, self.tol):
                return f"equals the reference divided elementwise by {label}: a power off by one?"
        return None

    def offset(self) -> str | None:
        text = _offset(self.got, self.expected, self.tol, _snap_tolerance(self.ev))
        return f"it {text}" if text else None

    def precision(self) -> str | None:
        got = self.got
        if got.shape != self.expected.shape or not np.all(np.isfinite(got)) or np.all(got == 0):
            return None
        half = got.astype(np.float16).astype(np.float64)
        reference = self.expected.astype(self.ev.dtype).astype(np.float64)
        representable = reference.astype(np.float16).astype(np.float64) == reference
        # A result of cancellation has few significant bits and fits float16 by accident; it
        # takes several different magnitudes that all fit to show half precision.
        magnitudes = np.unique(np.abs(got[got != 0]))
        if magnitudes.size >= 2 and np.array_equal(half, got) and not np.all(representable):
            return ("every element is exactly representable in float16 and the reference's are not: "
                    "it was computed in half precision")
        return None

    def masked(self) -> str | None:
        got, expected = self.got, self.expected
        wrong = relative_errors(got, expected, self.rtol) > self.rtol
        bad, total = int(wrong.sum()), int(wrong.size)
        if bad == 0 or got.ndim == 0:
            return None
        zeroed = wrong & (got == 0) & (expected != 0)
        leaked = wrong & (expected == 0) & (got != 0)
        if zeroed.sum() == bad:
            return f"zero where the reference is not, at {_where(zeroed)}"
        if leaked.sum() == bad:
            return f"nonzero where the reference is exactly zero, at {_where(leaked)}"
        if zeroed.sum() + leaked.sum() == bad:
            return (f"zero at {_where(zeroed)} where the reference is nonzero, and nonzero at {_where(leaked)} "
                    "where it is zero: a mask or routing taken from the wrong place")
        if bad < total:
            return f"right except at {_where(wrong)}"
        return None


# --------------------------------------------------------------------------- small helpers

def _reference_grads(case, cotangent: tuple) -> tuple[np.ndarray, ...]:
    """The reference's gradients at `case` for this upstream gradient (float64)."""
    from .reference import reference

    _, _, grads = reference(case, lambda shapes: cotangent)
    return grads


def _tolerance(ev) -> float:
    """How closely a transformed reference must match to count as the explanation."""
    return 4 * ev.rtol("reference")


def _snap_tolerance(ev) -> float:
    """How closely a ratio must equal a simple number to be named as one."""
    return 1e-5 if ev.dtype == "float32" else 1e-10


def _dims(ev) -> dict[str, int]:
    dims = {n: int(v) for n, v in ev.case.dims.items()}
    for i, size in enumerate(ev.case.batch):
        dims[f"batch[{i}]"] = int(size)
    return dims


def _ratio(got: np.ndarray, expected: np.ndarray, tol: float, snap: float,
           dims: dict[str, int]) -> tuple[str, str | None] | None:
    """('2', None), ('-1', None), ('(1 + 1e-05)', None), ('1/3', '1/3 is 1/n: ...') when got is that
    multiple of expected; None otherwise."""
    nonzero = np.abs(expected) > 0
    if not np.any(nonzero):
        return None
    c = float(np.sum(got * expected) / np.sum(expected * expected))
    if c == 0 or not np.isfinite(c) or abs(c - 1) <= tol or not _close(got, c * expected, tol):
        return None
    number = _simple(c, snap)
    note = _dim_note(c, number or f"{c:.4g}", snap, dims)
    if number is None and note is None and int(nonzero.sum()) < 2:
        return None  # one number is a multiple of any other: only a simple factor means something
    return number or f"{c:.4g}", note


def _near(c: float, value: float, snap: float) -> bool:
    return abs(c - value) <= snap * max(1.0, abs(value))


def _simple(c: float, snap: float) -> str | None:
    """c as a short exact number: 1 ± 10⁻ᵏ, or a fraction with a small denominator."""
    for k in range(1, 13):
        for sign in (1, -1):
            if _near(c, 1 + sign * 10.0**-k, snap):
                return f"(1 {'+' if sign > 0 else '-'} {10.0**-k:.0e})"
    fraction = Fraction(c).limit_denominator(12)
    if abs(fraction.numerator) <= 100 and _near(c, float(fraction), snap):
        return str(fraction)
    return None


def _dim_note(c: float, shown: str, snap: float, dims: dict[str, int]) -> str | None:
    """'2 is the size of n: a division by n missing?' when the factor is a dim's size, its inverse or a ratio of two."""
    for name, size in dims.items():
        if size >= 2 and _near(c, size, snap):
            return f"{shown} is the size of {name}: a division by {name} missing?"
    for (n1, d1), (n2, d2) in itertools.permutations(dims.items(), 2):
        if d1 != d2 and _near(c, d1 / d2, snap):
            return f"{shown} is {n1}/{n2}: divided by {n2} instead of {n1}?"
    for name, size in dims.items():
        if size >= 2 and _near(c, 1 / size, snap):
            return f"{shown} is 1/{name}: an extra division by {name}?"
    return None


def _offset(got: np.ndarray, expected: np.ndarray, tol: float, snap: float) -> str | None:
    """'differs from the reference by ...' when the difference is one constant, or constant along an axis."""
    difference = got - expected
    if got.size == 1:
        value = float(difference.reshape(-1)[0])
        simple = Fraction(value).limit_denominator(12)
        if simple != 0 and abs(simple.numerator) <= 100 and abs(value - float(simple)) <= snap * max(1.0, abs(value)):
            return f"differs from the reference by exactly {'+' if simple > 0 else ''}{simple}: a constant term too many or missing"
        return None
    constant = float(np.mean(difference))
    if constant != 0 and _close(got, expected + constant, tol):
        return f"differs from the reference by the same amount, {constant:.4g}, at every element: a constant term"
    for axis in range(got.ndim):
        if got.shape[axis] < 2:
            continue
        along = np.mean(difference, axis=axis, keepdims=True)
        if np.any(np.abs(along) > 0) and _close(got, expected + along, tol):
            return (f"differs from the reference by a term that is the same along axis {axis}: "
                    f"a term that comes through a mean or sum over axis {axis} is missing or wrong")
    return None


def _axis_sets(ndim: int):
    for size in range(1, ndim + 1):
        yield from itertools.combinations(range(ndim), size)


def _axes_text(axes: Sequence[int]) -> str:
    axes = tuple(axes)
    return f"axis {axes[0]}" if len(axes) == 1 else f"axes {axes}"


def _where(mask: np.ndarray) -> str:
    """'2 of 6 elements: index (0, 1), (1, 2)', or 'every element'."""
    count, total = int(mask.sum()), int(mask.size)
    if count == total:
        return "every element"
    indices = [tuple(int(i) for i in idx) for idx in np.argwhere(mask)[:_SHOWN_INDICES]]
    shown = ", ".join(str(i) for i in indices) + (", ..." if count > _SHOWN_INDICES else "")
    return f"{count} of {total} element{'s' if total != 1 else ''}: index {shown}"
