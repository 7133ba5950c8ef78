"""The kinds of bug a diagnosis can name, declared once.

A diagnosis is plain data, `{"kind": ..., "text": ..., "evidence": {...}}`: the kind is what
code branches on (the self-test's score by kind, a report's grouping), the text is for a
reader, and the evidence holds the numbers behind it. Nothing reads the kind back from the text.
"""

from __future__ import annotations

from typing import Any

from ..result import jsonable

__all__ = ["KINDS", "diagnosis"]

# kind -> what it means, in a few words (for the self-test's table and the docs).
KINDS: dict[str, str] = {
    "mutated": "an input or the upstream gradient changed in place",
    "nondeterministic": "two calls with the same inputs disagree",
    "stale": "a value kept from an earlier call",
    "upstream_ignored": "the upstream gradient not multiplied in",
    "nonlinear": "not linear in the upstream gradient",
    "transpose": "the transpose of the reference",
    "kernel": "a flipped or transposed kernel",
    "wrong_axis": "reduced over the wrong axis",
    "unreduced": "a broadcast gradient not reduced",
    "not_broadcast": "a reduced gradient not broadcast back",
    "reshaped": "the right values in the wrong shape",
    "partial": "the gradient through one output only",
    "overwritten": "contributions overwritten instead of accumulated",
    "precision": "computed in half precision",
    "precision32": "precision lost in float32 only",
    "scale": "a multiple of the reference",
    "swapped": "another input's gradient",
    "output": "the derivative taken at the output instead of the input (a formula in x evaluated on y)",
    "input_for_output": "a derivative written through the output evaluated on the input",
    "diagonal": "only the diagonal of the Jacobian",
    "times_input": "a power off by one",
    "typo": "a constant or sign typo in one term",
    "offset": "a constant term too many or missing",
    "mask": "a mask or routing from the wrong place",
    "leak": "nonzero where the reference is exactly zero",
    "zero": "zero where the reference is not",
    "elements": "right except at a few elements",
}


def diagnosis(kind: str, text: str, **evidence: Any) -> dict:
    """One diagnosis as plain, JSON-ready data."""
    if kind not in KINDS:
        raise ValueError(f"unknown diagnosis kind {kind!r}")
    return {"kind": kind, "text": text, "evidence": jsonable(evidence)}
