"""Evidence for findings: elementwise comparison and the elements worth showing."""

from __future__ import annotations


import numpy as np

from ..figures import figure
from ..result import Element, Finding
from ..tolerances import relative_errors, within_everywhere

SHOWN_ELEMENTS = 4096    # arrays up to this size travel with a finding, for reports and diagnosis
WORST_SHOWN = 5          # elements over the threshold shown, at most
CONTEXT_SHOWN = 2        # elements within the threshold shown beside them, for comparison

# --------------------------------------------------------------------------- evidence


def _ratio(numerator: float, denominator: float) -> float:
    if denominator == 0:
        return 0.0 if numerator == 0 else float("inf")
    return numerator / denominator


def worst_elements(got: np.ndarray, expected: np.ndarray, errors: np.ndarray,
                   fd: np.ndarray | None = None, k: int = WORST_SHOWN, rtol: float | None = None) -> list[Element]:
    """The elements over the threshold (worst first, at most k), then one or two within it for context.

    Each carries its error three ways: as judged, relative to the element itself, and relative
    to the gradient's scale (its rms), so a reader can check the numbers."""
    got, expected, errors = np.asarray(got), np.asarray(expected), np.asarray(errors, dtype=np.float64)
    order = np.argsort(-np.nan_to_num(errors, nan=np.inf), axis=None, kind="stable")
    over = errors > rtol if rtol is not None else np.ones(errors.shape, dtype=bool)
    count = int(over.sum())
    chosen = list(order[:min(k, count)]) + list(order[count:count + CONTEXT_SHOWN]) if rtol is not None else list(order[:k])
    with np.errstate(all="ignore"):
        finite = np.asarray(expected, dtype=np.float64)
        scale = float(np.sqrt(np.mean(finite[np.isfinite(finite)] ** 2))) if np.any(np.isfinite(finite)) else 0.0
    elements = []
    for position in chosen:
        index = np.unravel_index(position, errors.shape) if errors.ndim else ()
        g, e = float(np.asarray(got, dtype=np.float64)[index]), float(np.asarray(expected, dtype=np.float64)[index])
        difference = abs(g - e) if np.isfinite(g) and np.isfinite(e) else float("inf")
        elements.append(Element(
            index=[int(i) for i in index], got=g, expected=e, error=float(errors[index]),
            finite_difference=None if fd is None else float(fd[index]),
            error_element=_ratio(difference, abs(e)), error_scale=_ratio(difference, scale),
            over=bool(over[index]),
        ))
    return elements


def _small(array: np.ndarray) -> np.ndarray | None:
    return array if np.size(array) <= SHOWN_ELEMENTS else None


def compare(check: str, argument: str | None, got: np.ndarray, expected: np.ndarray, rtol: float,
            what: str, facts: dict | None = None, rounding: np.ndarray | None = None) -> Finding | None:
    """Elementwise comparison; a Finding naming how many and which elements are off."""
    got = np.asarray(got, dtype=np.float64)
    expected = np.asarray(expected, dtype=np.float64)
    # Equal to the last bit (a second call, an exact op) is within any tolerance, infinities too. A small
    # array is asked that first (one ufunc, less than the bound's setup); a large one is bounded first,
    # which finds equal finite arrays too in three passes, and asked only when the bound fails.
    same_shape = got.shape == expected.shape
    if same_shape and got.size <= SHOWN_ELEMENTS and bool((got == expected).all()):
        return None
    if within_everywhere(got, expected, rtol, rounding):
        return None
    if same_shape and got.size > SHOWN_ELEMENTS and bool((got == expected).all()):
        return None
    errors = relative_errors(got, expected, rtol, rounding)
    bad = errors > rtol
    if not bad.any():
        return None
    worst = worst_elements(got, expected, errors, rtol=rtol)
    worst_error = float(np.max(errors))
    return Finding(
        check, f"{what}: {int(bad.sum())} of {bad.size} elements exceed the tolerance "
               f"(worst relative error {figure(worst_error, '.2g')} > threshold {figure(rtol, '.0e')})",
        argument=argument, error=worst_error, threshold=rtol, worst=worst, bad=int(bad.sum()),
        total=int(bad.size), got=_small(got), expected=_small(expected), facts=facts or {},
    )


def _grad_label(name: str) -> str:
    return f"gradient for {name!r}"
