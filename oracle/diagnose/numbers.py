"""Small numeric helpers of the diagnosis: closeness, simple numbers, constant differences, places."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from fractions import Fraction

import numpy as np

from ..tolerances import relative_errors

SHOWN_INDICES = 4


def close(a, b, tol: float) -> bool:
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    return a.shape == b.shape and bool(np.all(relative_errors(a, b, tol) <= tol))


def identical(a, b) -> bool:
    a, b = np.asarray(a), np.asarray(b)
    return a.shape == b.shape and np.array_equal(a, b, equal_nan=a.dtype.kind == "f")


def near(c: float, value: float, snap: float) -> bool:
    return abs(c - value) <= snap * max(1.0, abs(value))


def distinct_from_one(c: float) -> str:
    """c with as many digits as it takes not to read as 1 (a factor shown as "1" explains nothing)."""
    for digits in range(4, 17):
        shown = f"{c:.{digits}g}"
        if float(shown) != 1.0:
            return shown
    return repr(c)


def simple(c: float, snap: float) -> str | None:
    """c as a short exact number: 1 ± 10⁻ᵏ, or a fraction with a small denominator; never 1 itself."""
    for k in range(1, 13):
        for sign in (1, -1):
            if near(c, 1 + sign * 10.0**-k, snap):
                return f"(1 {'+' if sign > 0 else '-'} {10.0**-k:.0e})"
    fraction = Fraction(c).limit_denominator(12)
    if fraction != 1 and abs(fraction.numerator) <= 100 and near(c, float(fraction), snap):
        return str(fraction)
    return None


def dim_note(c: float, shown: str, snap: float, dims: dict[str, int]) -> str | None:
    """'2 is the size of n: a division by n missing?' when the factor is a dim's size, its inverse or a ratio of two."""
    for name, size in dims.items():
        if size >= 2 and near(c, size, snap):
            return f"{shown} is the size of {name}: a division by {name} missing?"
    for (n1, d1), (n2, d2) in itertools.permutations(dims.items(), 2):
        if d1 != d2 and near(c, d1 / d2, snap):
            return f"{shown} is {n1}/{n2}: divided by {n2} instead of {n1}?"
    for name, size in dims.items():
        if size >= 2 and near(c, 1 / size, snap):
            return f"{shown} is 1/{name}: an extra division by {name}?"
    return None


def ratio(got: np.ndarray, expected: np.ndarray, tol: float, snap: float,
          dims: dict[str, int]) -> tuple[str, str | None, float] | None:
    """(shown factor, note, factor) when got is that multiple of expected; None otherwise.

    A factor within a fraction of the comparison's tolerance of 1 is no explanation and is never named."""
    nonzero = np.abs(expected) > 0
    if not np.any(nonzero):
        return None
    c = float(np.sum(got * expected) / np.sum(expected * expected))
    # c is a least-squares fit over every element, far more precise than one element's tolerance.
    if c == 0 or not np.isfinite(c) or abs(c - 1) <= tol / 8 or not close(got, c * expected, tol):
        return None
    number = simple(c, snap)
    note = dim_note(c, number or distinct_from_one(c), snap, dims)
    if number is None and note is None and int(nonzero.sum()) < 2:
        return None  # one number is a multiple of any other: only a simple factor means something
    return number or distinct_from_one(c), note, c


def offset(got: np.ndarray, expected: np.ndarray, tol: float, snap: float) -> tuple[str, dict] | None:
    """('differs from the reference by ...', evidence) when the difference is one constant, or constant along an axis."""
    difference = got - expected
    if got.size == 1:
        value = float(difference.reshape(-1)[0])
        fraction = Fraction(value).limit_denominator(12)
        if fraction != 0 and abs(fraction.numerator) <= 100 and near(value, float(fraction), snap):
            return (f"differs from the reference by exactly {'+' if fraction > 0 else ''}{fraction}: "
                    "a constant term too many or missing", {"difference": value})
        return None
    constant = float(np.mean(difference))
    if constant != 0 and close(got, expected + constant, tol):
        return (f"differs from the reference by the same amount, {constant:.4g}, at every element: a constant term",
                {"difference": constant})
    for axis in range(got.ndim):
        if got.shape[axis] < 2:
            continue
        along = np.mean(difference, axis=axis, keepdims=True)
        if np.any(np.abs(along) > 0) and close(got, expected + along, tol):
            return (f"differs from the reference by a term that is the same along axis {axis}: "
                    f"a term that comes through a mean or sum over axis {axis} is missing or wrong", {"axis": axis})
    return None


def axis_sets(ndim: int):
    for size in range(1, ndim + 1):
        yield from itertools.combinations(range(ndim), size)


def axes_text(axes: Sequence[int]) -> str:
    axes = tuple(axes)
    return f"axis {axes[0]}" if len(axes) == 1 else f"axes {axes}"


def indices(mask: np.ndarray) -> list[list[int]]:
    return [[int(i) for i in idx] for idx in np.argwhere(mask)[:SHOWN_INDICES]]


def where(mask: np.ndarray) -> str:
    """'2 of 6 elements: index (0, 1), (1, 2)', or 'every element'."""
    count, total = int(mask.sum()), int(mask.size)
    if count == total:
        return "every element"
    shown = ", ".join(str(tuple(i)) for i in indices(mask)) + (", ..." if count > SHOWN_INDICES else "")
    return f"{count} of {total} element{'s' if total != 1 else ''}: index {shown}"
