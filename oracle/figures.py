"""Numbers in messages: formatted safely whatever they are, with the digits a reader needs.

Evidence can hold anything an implementation returned: NaN, inf, the strings "nan"/"inf" a
Finding stores for them, a string, None, an object array. `figure` formats every one of them
without raising; `distinct` gives two numbers the significant digits that make them visibly
different, so "got 0.361894, expected 0.361894" never happens.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import numpy as np

__all__ = ["as_float", "digits_to_tell_apart", "distinct", "figure"]

_MAX_TEXT = 60


def as_float(value: Any) -> float | None:
    """A Python float for any real number or the JSON's "nan"/"inf"/"-inf"; None for anything else."""
    if isinstance(value, (bool, np.bool_)):
        return None
    if isinstance(value, (int, float, np.integer, np.floating)):
        try:
            return float(value)
        except OverflowError:  # an int beyond float's range
            return math.inf if value > 0 else -math.inf
    if isinstance(value, str) and value.strip().lower() in ("nan", "inf", "-inf", "+inf"):
        return float(value)
    if isinstance(value, np.ndarray) and value.size == 1 and value.dtype.kind in "iuf":
        return float(value.reshape(-1)[0])
    return None


def figure(value: Any, spec: str = ".6g") -> str:
    """`value` formatted with a float format spec when it is a number; a short safe text otherwise."""
    number = as_float(value)
    if number is not None:
        if math.isnan(number) or math.isinf(number):
            return str(number)
        try:
            return format(number, spec)
        except (ValueError, TypeError):
            return repr(number)
    if value is None:
        return "—"
    try:
        text = value if isinstance(value, str) else repr(value)
    except Exception:  # a repr that raises: say what it is
        text = f"<{type(value).__name__}>"
    text = " ".join(str(text).split())
    return text if len(text) <= _MAX_TEXT else text[:_MAX_TEXT - 1] + "…"


def digits_to_tell_apart(pairs: Iterable[tuple[Any, Any]], least: int = 6) -> int:
    """The fewest significant digits (at least `least`) at which every pair of different numbers prints differently."""
    digits = least
    for a, b in pairs:
        x, y = as_float(a), as_float(b)
        if x is None or y is None or x == y or not (math.isfinite(x) and math.isfinite(y)):
            continue
        while digits < 17 and format(x, f".{digits}g") == format(y, f".{digits}g"):
            digits += 1
    return digits


def distinct(a: Any, b: Any, least: int = 6) -> tuple[str, str]:
    """Both numbers with enough significant digits that they visibly differ (when they do)."""
    digits = digits_to_tell_apart([(a, b)], least)
    return figure(a, f".{digits}g"), figure(b, f".{digits}g")
