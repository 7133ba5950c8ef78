"""The failure message: one text, used by the terminal, pytest and the HTML report alike.

    FAILED demo.matmul [float64]: reference check, argument 'b'
      op        matmul(a: n k, b: k m)   C = A·B;  dA = dC·Bᵀ,  dB = Aᵀ·dC
      plugin    demo (pullback demo:mm)
      case      a: (2, 3), b: (3, 1)   n=2, k=3, m=1   case seed 812
      gradient for 'b' differs from jax.vjp of the reference: 3 of 3 elements exceed the tolerance
      error     2.1e-01 > threshold 1e-09 (relative)
        index   got       reference  finite diff  error/|elem|  error/scale
        (0, 0)  0.4213    0.412      0.412        2.26e-02      2.10e-01
        (1, 0)  0.533201  0.5332     0.5332       1.88e-06      1.00e-06     ok
      diagnosis looks like the transpose of the reference
      reproduce oracle check demo.py --op matmul --dtype float64 --seed 3 --examples 50
"""

from __future__ import annotations

from typing import Any

from .figures import as_float, digits_to_tell_apart, figure
from .result import Verdict

__all__ = ["format_failure", "format_number", "worst_table"]


def format_number(value: Any, digits: int = 6) -> str:
    """Any value as text, never raising: numbers in `digits` significant digits, "nan"/"inf" as they are."""
    return figure(value, f".{digits}g")


def _index(index: Any) -> str:
    if not isinstance(index, (list, tuple)):
        return figure(index)
    return "(" + ", ".join(map(str, index)) + ("," if len(index) == 1 else "") + ")" if index else "()"


def worst_table(verdict: Verdict) -> list[str]:
    """The elements over the threshold (and one or two within it, marked "ok") as aligned text rows, header first.

    got, expected and finite difference get as many digits as it takes to tell them apart; the
    error is shown relative to the element and relative to the gradient's scale (its rms)."""
    if not verdict.worst:
        return []
    fd_check = verdict.check == "finite_differences"
    digits = digits_to_tell_apart([(e.got, e.expected) for e in verdict.worst]
                                  + [(e.got, e.finite_difference) for e in verdict.worst if not fd_check])
    header = ["index", "got", "reference" if not fd_check else "finite diff", "finite diff",
              "error/|elem|", "error/scale", ""]
    rows = []
    for e in verdict.worst:
        fd = format_number(e.finite_difference, digits) if not fd_check and e.finite_difference is not None else ""
        element = figure(e.error_element, ".2e") if e.error_element is not None else figure(e.error, ".2e")
        scale = figure(e.error_scale, ".2e") if e.error_scale is not None else ""
        rows.append([_index(e.index), format_number(e.got, digits), format_number(e.expected, digits), fd,
                     element, scale, "ok" if e.over is False else ""])
    for column in (6, 5, 3):   # drop the columns no row fills
        if all(not r[column] for r in rows):
            header.pop(column)
            rows = [r[:column] + r[column + 1:] for r in rows]
    widths = [max(len(str(c)) for c in column) for column in zip(header, *rows)]
    return ["  ".join(str(c).ljust(w) for c, w in zip(line, widths)).rstrip() for line in [header, *rows]]


def _case_line(verdict: Verdict) -> str:
    case = verdict.case
    if case is None:
        return ""
    parts = [case.shapes_text()]
    structure = [f"{k}={v}" for k, v in case.dims.items()]
    if case.batch:
        structure.append(f"batch={tuple(case.batch)}")
    structure += [f"{k}={v!r}" for k, v in case.hyper.items()]
    if structure:
        parts.append(", ".join(structure))
    parts.append(f"case seed {case.seed}")
    return "   ".join(parts)


def format_failure(verdict: Verdict, math: str | None = None) -> str:
    """The full failure text of a verdict that did not pass."""
    what = f"{verdict.check} check" if verdict.check else "check"
    title = f"{verdict.status.upper()} {verdict.plugin}.{verdict.implementation} [{verdict.dtype}]: {what}"
    if verdict.argument:
        title += f", argument {verdict.argument!r}"
    lines = [title]

    def field(label: str, text: str) -> None:
        if text:
            lines.append(f"  {label:<9} {text}")

    if math is None:
        math = _math_of(verdict.op)
    field("op", f"{verdict.op}   {math}".rstrip())
    field("plugin", f"{verdict.plugin} ({verdict.convention} {verdict.source})".replace(" )", ")"))
    if verdict.source_function and verdict.source_file:   # the function the failing check points at
        field("where", f"{verdict.source_function} at {verdict.source_file}:{verdict.source_line or '?'}")
    field("case", _case_line(verdict))
    lines.append(f"  {verdict.message}")
    if verdict.error is not None and verdict.threshold is not None:
        error = figure(verdict.error, ".2e")
        threshold = as_float(verdict.threshold)
        field("error", f"{error} > threshold {figure(threshold, '.0e')} ({'absolute' if threshold == 0 else 'relative'})"
              if threshold is not None else error)
    lines += [f"    {row}" for row in worst_table(verdict)]
    shown = sum(e.over is not False for e in verdict.worst)
    if isinstance(verdict.bad, int) and verdict.worst and verdict.bad > shown:
        lines.append(f"    ... {verdict.bad - shown} more of {verdict.bad} wrong elements not shown")
    if verdict.values_right is True:
        field("values", "right: every value check passed on this case (only the finding above is wrong)")
    for other in verdict.also or ():
        if isinstance(other, dict):
            where = f", argument {other.get('argument')!r}" if other.get("argument") else ""
            field("also", f"{other.get('check')} check{where}: {first_line(other.get('message'))}")
    field("diagnosis", (verdict.diagnosis or {}).get("text") or "")
    for hint in verdict.hints:
        field("hint", hint)
    field("seed", str(verdict.seed) if verdict.seed is not None else "")
    field("reproduce", verdict.reproduce)
    return "\n".join(lines)


def first_line(text: object) -> str:
    lines = str(text or "").strip().splitlines()
    return lines[0] if lines else ""


def _math_of(op: str) -> str:
    try:
        from oracle.specs import CATALOGUE

        spec = CATALOGUE.get(op)
    except Exception:  # the catalogue needs JAX; a message must render without it
        return ""
    return spec.math if spec is not None else ""
