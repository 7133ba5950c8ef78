"""One wrong gradient beside its reference, and the ways the two may be related.

Each test returns a diagnosis (oracle.diagnose.kinds.diagnosis) or None; the first that
holds explains the array. Tests that move the case (the derivative at another point, a
flipped kernel, one output element at a time) ask the JAX reference again.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from dataclasses import replace

import numpy as np

from ..spec import Spec
from ..tolerances import relative_errors
from .kinds import diagnosis
from .numbers import axes_text, axis_sets, close, indices, offset, ratio, where
from .terms import typo

_JACOBIAN_LIMIT = 64      # up to this many input (or output) elements, the reference is asked one element at a time

# Derivatives that are often written through the output y = f(x) (or through x), as (shown, formula).
_FORMULAS: list[tuple[str, Callable[[np.ndarray], np.ndarray]]] = [
    ("{v}·(1 − {v})", lambda t: t * (1 - t)),
    ("1 − {v}²", lambda t: 1 - t**2),
    ("{v}", lambda t: t),
    ("1/{v}", lambda t: 1 / t),
    ("−1/{v}²", lambda t: -1 / t**2),
    ("2·{v}", lambda t: 2 * t),
    ("exp({v})", np.exp),
    ("1/(1 + {v}²)", lambda t: 1 / (1 + t**2)),
]


def reference_grads(case, cotangent: Sequence[np.ndarray]) -> tuple[np.ndarray, ...]:
    """The reference's gradients at `case` for this upstream gradient (float64)."""
    from ..reference import reference

    _, _, grads = reference(case, lambda shapes: tuple(cotangent))
    return grads


def _dims(ev) -> dict[str, int]:
    dims = {n: int(v) for n, v in ev.case.dims.items()}
    for i, size in enumerate(ev.case.batch):
        dims[f"batch[{i}]"] = int(size)
    return dims


def snap_tolerance(ev) -> float:
    """How closely a ratio must equal a simple number to be named as one."""
    return 1e-5 if ev.dtype == "float32" else 1e-10


def match_tolerance(ev) -> float:
    """How closely a transformed reference must match to count as the explanation."""
    return 4 * ev.rtol("reference")


class Comparison:
    """One wrong gradient beside its reference."""

    def __init__(self, spec: Spec, ev, index: int, got: np.ndarray, expected: np.ndarray) -> None:
        self.spec, self.ev, self.index = spec, ev, index
        self.got, self.expected = got, expected
        self.name = spec.differentiable[index]
        self.rtol = ev.rtol("reference")
        self.tol = match_tolerance(ev)

    def explain(self) -> dict | None:
        tests = (
            [self.transposed, self.wrong_axis, self.unreduced, self.not_broadcast, self.reshaped, self.swapped]
            if self.got.shape != self.expected.shape else
            [self.transposed, self.partial, self.scaled, self.swapped, self.kernel, self.wrong_axis, self.times_input,
             self.at_output, self.input_for_output, self.diagonal_only, self.overwritten, self.offset, self.typo,
             self.masked]
        )
        for test in tests:
            found = self.attempt(test)
            if found:
                return found
        return None

    @staticmethod
    def attempt(test: Callable[[], dict | None]) -> dict | None:
        try:
            return test()
        except Exception:  # one line of evidence failing to compute must not hide the others
            return None

    def _moved(self, name: str, value: np.ndarray):
        """The case with one input replaced (in float64, so nothing rounds)."""
        inputs = {n: (np.asarray(value, dtype=np.float64) if n == name else a) for n, a in self.ev.case.inputs.items()}
        return replace(self.ev.case, dtype="float64", inputs=inputs)

    # -- shape-changing mistakes

    def transposed(self) -> dict | None:
        got, expected = self.got, self.expected
        if got.ndim != 2 or got.T.shape != expected.shape or close(got.T, got, 0.0):
            return None
        if close(got.T, expected, self.tol):
            shape = f" (shape {got.shape} where {expected.shape} was expected)" if got.shape != expected.shape else ""
            return diagnosis("transpose", f"looks like the transpose of the reference{shape}", shape=list(got.shape))
        return None

    def unreduced(self) -> dict | None:
        got, expected = self.got, self.expected
        if got.size <= expected.size:
            return None
        for axes in axis_sets(got.ndim):
            for keep in (False, True):
                summed = got.sum(axis=axes, keepdims=keep)
                if summed.shape == expected.shape and close(summed, expected, self.tol):
                    return diagnosis("unreduced", f"summed over {axes_text(axes)} it equals the reference: the gradient "
                                     f"of a broadcast input was not reduced back to its shape {expected.shape}",
                                     axes=list(axes))
        return None

    def not_broadcast(self) -> dict | None:
        got, expected = self.got, self.expected
        if got.size >= expected.size:
            return None
        for axis in range(expected.ndim):
            candidate = np.expand_dims(got, axis) if got.ndim < expected.ndim else got
            try:
                spread = np.broadcast_to(candidate, expected.shape)
            except ValueError:
                continue
            if close(spread, expected, self.tol):
                return diagnosis("not_broadcast", f"repeated along {axes_text((axis,))} it equals the reference: "
                                 f"the gradient was not broadcast back to the input's shape {expected.shape}", axis=axis)
        return None

    def reshaped(self) -> dict | None:
        got, expected = self.got, self.expected
        if got.size == expected.size and close(got.reshape(expected.shape), expected, self.tol):
            return diagnosis("reshaped", f"it holds the right values in the wrong shape {got.shape} instead of "
                             f"{expected.shape}: a missing reshape, or a size-1 axis not summed away",
                             shape=list(got.shape), expected_shape=list(expected.shape))
        return None

    def wrong_axis(self) -> dict | None:
        """The reference is some array reduced over one axis; the gradient is the same array reduced over another."""
        got, expected = self.got, self.expected
        for source in (np.asarray(c, dtype=np.float64) for c in self.ev.cotangent):
            if source.ndim < 2:
                continue
            for reduce, verb in ((np.sum, "summed"), (np.mean, "averaged")):
                right = [a for a in range(source.ndim) if close(reduce(source, axis=a), expected, self.tol)]
                wrong = [a for a in range(source.ndim) if a not in right and close(reduce(source, axis=a), got, self.tol)]
                if right and wrong:
                    return diagnosis("wrong_axis", f"equals the upstream gradient {verb} over axis {wrong[0]}, where the "
                                     f"reference is it {verb} over axis {right[0]}: reduced over the wrong axis",
                                     axis=wrong[0], expected_axis=right[0])
        return None

    # -- same-shape mistakes

    def swapped(self) -> dict | None:
        if self.ev.reference_grads is None:
            return None
        for j, other in enumerate(self.ev.reference_grads):
            other = np.asarray(other, dtype=np.float64)
            if j == self.index or other.shape != self.got.shape or not np.any(other != 0):
                continue
            if close(self.got, other, self.tol) and not close(other, self.expected, self.tol):
                theirs = self.spec.differentiable[j]
                return diagnosis("swapped", f"equals the reference gradient of {theirs!r}, not of {self.name!r}: the "
                                 f"gradients were swapped, or a value belonging to {theirs!r} was used in place of "
                                 f"{self.name!r}'s", other=theirs)
        return None

    def partial(self) -> dict | None:
        if self.spec.outputs < 2 or self.spec.reference is None:
            return None
        cotangent = [np.asarray(c, dtype=np.float64) for c in self.ev.cotangent]
        for k in range(len(cotangent)):
            alone = tuple(c if i == k else np.zeros_like(c) for i, c in enumerate(cotangent))
            if close(self.got, reference_grads(self.ev.case, alone)[self.index], self.tol):
                return diagnosis("partial", f"equals the gradient through output {k + 1} alone: the gradient from the "
                                 "other output was overwritten instead of added", output=k)
        return None

    def scaled(self) -> dict | None:
        found = ratio(self.got, self.expected, self.tol, snap_tolerance(self.ev), _dims(self.ev))
        if found is None:
            return None
        number, note, factor = found
        if number == "-1":
            return diagnosis("scale", "equals -1 × the reference: the sign is wrong", factor=factor)
        return diagnosis("scale", f"equals {number} × the reference" + (f" ({note})" if note else ""), factor=factor)

    def kernel(self) -> dict | None:
        """The gradient of a kernel flipped, or the gradient computed with a flipped or transposed kernel."""
        got, expected, ev = self.got, self.expected, self.ev
        if got.ndim >= 3:
            last = (got.ndim - 2, got.ndim - 1)
            moves = [(f"flipped along {axes_text(axes)}", np.flip(expected, axis=axes)) for axes in (last, last[:1], last[1:])]
            if expected.shape[-1] == expected.shape[-2]:
                moves.append((f"transposed in {axes_text(last)}", np.swapaxes(expected, -1, -2)))
            if expected.shape[0] == expected.shape[1]:
                moves.append(("with axes 0 and 1 swapped", np.swapaxes(expected, 0, 1)))
            for how, moved in moves:
                if not close(moved, expected, self.tol) and close(got, moved, self.tol):
                    return diagnosis("kernel", f"equals the reference {how}: the kernel's gradient is flipped or "
                                     "transposed (a convolution where a correlation was meant, or axes swapped)", how=how)
        if self.spec.reference is None:
            return None
        for name, value in ev.case.inputs.items():
            value = np.asarray(value)
            if value.dtype.kind != "f" or value.ndim < 3:
                continue
            last = (value.ndim - 2, value.ndim - 1)
            moves = [(f"flipped along {axes_text(last)}", np.flip(value, axis=last))]
            if value.shape[-1] == value.shape[-2]:
                moves.append((f"transposed in {axes_text(last)}", np.swapaxes(value, -1, -2)))
            if value.shape[0] == value.shape[1]:
                moves.append(("with axes 0 and 1 swapped", np.swapaxes(value, 0, 1)))
            for how, moved in moves:
                if np.array_equal(moved, value):
                    continue
                if close(got, reference_grads(self._moved(name, moved), ev.cotangent)[self.index], self.tol):
                    return diagnosis("kernel", f"equals the reference gradient computed with {name!r} {how}: a flipped "
                                     "or transposed kernel in the backward", input=name, how=how)
        return None

    def at_output(self) -> dict | None:
        """For an op with one input and an output of its shape: the reference's derivative at y = f(x) instead of x."""
        spec, ev = self.spec, self.ev
        y = self._single_output()
        if y is None:
            return None
        at_y = reference_grads(self._moved(spec.input_names[0], y), ev.cotangent)[0]
        if close(self.got, at_y, self.tol):
            return diagnosis("output", "matches the derivative taken at the output y = f(x) instead of at the input x")
        return None

    def _single_output(self) -> np.ndarray | None:
        spec, ev = self.spec, self.ev
        if len(spec.inputs) != 1 or spec.outputs != 1 or spec.reference is None or ev.reference_output is None:
            return None
        y = np.asarray(ev.reference_output[0], dtype=np.float64)
        return y if y.shape == self.got.shape else None

    def input_for_output(self) -> dict | None:
        """A derivative written through the output (y·(1 − y), 1 − y²) evaluated on the input x, or the reverse."""
        y = self._single_output()
        if y is None:
            return None
        x = np.asarray(self.ev.case.inputs[self.spec.input_names[0]], dtype=np.float64)
        g = np.asarray(self.ev.cotangent[0], dtype=np.float64)
        with np.errstate(all="ignore"):
            for shown, formula in _FORMULAS:
                # (The reverse, a formula in x evaluated on y, is the derivative taken at the output.)
                for right, wrong, right_name, wrong_name in ((y, x, "y", "x"),):
                    if close(g * formula(right), self.expected, self.tol) and not close(formula(wrong), formula(right), self.tol) \
                            and close(self.got, g * formula(wrong), self.tol):
                        meant = "output y" if right_name == "y" else "input x"
                        used = "input x" if wrong_name == "x" else "output y"
                        return diagnosis("input_for_output", f"the derivative {shown.format(v=right_name)}, written "
                                         f"through the {meant}, was evaluated on the {used} instead: "
                                         f"{shown.format(v=wrong_name)}", meant=right_name, used=wrong_name,
                                         formula=shown.format(v="t"))
        return None

    def diagonal_only(self) -> dict | None:
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
            rows.append(reference_grads(ev.case, (one_hot.reshape(x.shape),))[0].reshape(-1))
        jacobian = np.array(rows)
        diagonal = np.diag(jacobian).copy()
        if not np.any(jacobian - np.diag(diagonal)):
            return None  # a diagonal Jacobian: nothing can be missing off it
        g = np.asarray(ev.cotangent[0], dtype=np.float64).reshape(-1)
        if close(self.got, (diagonal * g).reshape(x.shape), self.tol):
            return diagnosis("diagonal", "equals the diagonal of the Jacobian times the upstream gradient: the "
                             "off-diagonal terms (each output's dependence on the other elements) are missing")
        return None

    def overwritten(self) -> dict | None:
        """Where several output elements' gradients meet, the gradient holds only one of them."""
        ev = self.ev
        if self.spec.reference is None or ev.reference_grads is None:
            return None
        cotangent = [np.asarray(c, dtype=np.float64) for c in ev.cotangent]
        if sum(c.size for c in cotangent) > _JACOBIAN_LIMIT:
            return None
        wrong = relative_errors(self.got, self.expected, self.rtol) > self.rtol
        if not wrong.any():
            return None
        contributions = []   # one array per output element: its share of this input's gradient
        for k, c in enumerate(cotangent):
            for position in range(c.size):
                alone = [np.zeros_like(d) for d in cotangent]
                alone[k].reshape(-1)[position] = c.reshape(-1)[position]
                contributions.append(reference_grads(ev.case, alone)[self.index])
        shares = np.array(contributions).reshape(len(contributions), -1)
        got, scale = self.got.reshape(-1), max(float(np.sqrt(np.mean(self.expected**2))), 1e-300)
        partly = False   # some element holds part of what meets there: the sign of an overwrite
        for i in np.flatnonzero(wrong.reshape(-1)):
            meeting = shares[:, i][np.abs(shares[:, i]) > 1e-12 * scale]
            if meeting.size > 10:
                return None
            # What an overwrite leaves: the sum of some of the contributions (none, if a later write zeroed it).
            sums = [sum(chosen) for r in range(meeting.size) for chosen in itertools.combinations(meeting, r)]
            if not any(abs(total - got[i]) <= self.tol * scale for total in sums):
                return None
            partly = partly or (meeting.size >= 2 and abs(got[i]) > self.tol * scale)
        if not partly:
            return None
        return diagnosis("overwritten", f"at {where(wrong)}, where the gradients of several output elements meet, it "
                         "holds only one of them: overwritten (=) instead of accumulated (+=)", at=indices(wrong))

    def times_input(self) -> dict | None:
        ev = self.ev
        candidates = [(repr(n), np.asarray(a, dtype=np.float64)) for n, a in ev.case.inputs.items()
                      if np.asarray(a).dtype.kind == "f"]
        if ev.reference_output is not None:
            candidates += [("the output", np.asarray(o, dtype=np.float64)) for o in ev.reference_output]
        for label, value in candidates:
            if value.shape != self.got.shape:
                continue
            if close(self.got, self.expected * value, self.tol):
                return diagnosis("times_input", f"equals the reference multiplied elementwise by {label}: a power off "
                                 "by one?", by=label, operation="multiplied")
            if np.all(value != 0) and close(self.got, self.expected / value, self.tol):
                return diagnosis("times_input", f"equals the reference divided elementwise by {label}: a power off "
                                 "by one?", by=label, operation="divided")
        return None

    def offset(self) -> dict | None:
        found = offset(self.got, self.expected, self.tol, snap_tolerance(self.ev))
        if found is None:
            return None
        text, evidence = found
        return diagnosis("offset", f"it {text}", **evidence)

    def typo(self) -> dict | None:
        return typo(self.ev, self.got, self.expected, self.tol, snap_tolerance(self.ev))

    def precision(self) -> dict | None:
        got = self.got
        if got.shape != self.expected.shape or not np.all(np.isfinite(got)) or np.all(got == 0):
            return None
        half = got.astype(np.float16).astype(np.float64)
        reference = self.expected.astype(self.ev.dtype).astype(np.float64)
        representable = reference.astype(np.float16).astype(np.float64) == reference
        # A result of cancellation has few significant bits and fits float16 by accident; it
        # takes several different magnitudes that all fit to show half precision.
        magnitudes = np.unique(np.abs(got[got != 0]))
        # Values on one absolute grid as coarse as float16's at the largest come from a large term
        # added and taken away again (float32 cancellation), not from half precision.
        # (Only magnitudes that span several binades can show it: a float16 value of the smallest
        # would have bits below that grid.)
        if magnitudes.size:
            top, bottom = np.floor(np.log2(magnitudes.max())), np.floor(np.log2(magnitudes.min()))
            if top - bottom >= 4 and np.all(np.mod(got, 2.0 ** (top - 12)) == 0):
                return None
        if magnitudes.size >= 2 and np.array_equal(half, got) and not np.all(representable):
            return diagnosis("precision", "every element is exactly representable in float16 and the reference's are "
                             "not: it was computed in half precision")
        return None

    def masked(self) -> dict | None:
        got, expected = self.got, self.expected
        wrong = relative_errors(got, expected, self.rtol) > self.rtol
        bad, total = int(wrong.sum()), int(wrong.size)
        if bad == 0 or got.ndim == 0:
            return None
        zeroed = wrong & (got == 0) & (expected != 0)
        leaked = wrong & (expected == 0) & (got != 0)
        if zeroed.sum() == bad:
            return diagnosis("zero", f"zero where the reference is not, at {where(zeroed)}", at=indices(zeroed))
        if leaked.sum() == bad:
            return diagnosis("leak", f"nonzero where the reference is exactly zero, at {where(leaked)}", at=indices(leaked))
        if zeroed.sum() + leaked.sum() == bad:
            return diagnosis("mask", f"zero at {where(zeroed)} where the reference is nonzero, and nonzero at "
                             f"{where(leaked)} where it is zero: a mask or routing taken from the wrong place",
                             zero_at=indices(zeroed), nonzero_at=indices(leaked))
        if bad < total:
            return diagnosis("elements", f"right except at {where(wrong)}", at=indices(wrong))
        return None
