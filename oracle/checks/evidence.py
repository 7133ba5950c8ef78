"""Evidence for findings: elementwise comparison and the worst elements."""

from __future__ import annotations


import numpy as np

from ..result import Element, Finding
from ..tolerances import relative_errors

SHOWN_ELEMENTS = 4096    # arrays up to this size travel with a finding, for reports and diagnosis
WORST_SHOWN = 5

# --------------------------------------------------------------------------- evidence

def worst_elements(got: np.ndarray, expected: np.ndarray, errors: np.ndarray,
                   fd: np.ndarray | None = None, k: int = WORST_SHOWN) -> list[Element]:
    flat = np.argsort(-errors, axis=None, kind="stable")[:k]
    elements = []
    for position in flat:
        index = np.unravel_index(position, errors.shape) if errors.ndim else ()
        elements.append(Element(
            index=[int(i) for i in index], got=float(np.asarray(got)[index]), expected=float(np.asarray(expected)[index]),
            error=float(errors[index]), finite_difference=None if fd is None else float(fd[index]),
        ))
    return elements


def _small(array: np.ndarray) -> np.ndarray | None:
    return array if np.size(array) <= SHOWN_ELEMENTS else None


def compare(check: str, argument: str | None, got: np.ndarray, expected: np.ndarray, rtol: float,
            what: str, facts: dict | None = None, rounding: np.ndarray | None = None) -> Finding | None:
    """Elementwise comparison; a Finding naming how many and which elements are off."""
    got = np.asarray(got, dtype=np.float64)
    expected = np.asarray(expected, dtype=np.float64)
    errors = relative_errors(got, expected, rtol, rounding)
    bad = errors > rtol
    if not bad.any():
        return None
    worst = worst_elements(got, expected, errors)
    return Finding(
        check, f"{what}: {int(bad.sum())} of {bad.size} elements exceed the tolerance "
               f"(worst relative error {worst[0].error:.2g} > threshold {rtol:.0e})",
        argument=argument, error=float(errors.max()), threshold=rtol, worst=worst, bad=int(bad.sum()),
        total=int(bad.size), got=_small(got), expected=_small(expected), facts=facts or {},
    )


def _grad_label(name: str) -> str:
    return f"gradient for {name!r}"
