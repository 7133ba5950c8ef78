"""The failure message: one text, used by the terminal, pytest and the HTML report alike.

    FAILED demo.matmul [float64]: reference check, argument 'b'
      op        matmul(a: n k, b: k m)   C = A·B;  dA = dC·Bᵀ,  dB = Aᵀ·dC
      plugin    demo (pullback demo:mm)
      case      a: (2, 3), b: (3, 1)   n=2, k=3, m=1   case seed 812
      gradient for 'b' differs from jax.vjp of the reference: 3 of 3 elements exceed the tolerance
      error     2.1e-01 > threshold 1e-09 (relative)
        index   got        reference   finite diff  rel. error
        (0, 0)  0.4213     0.412       0.412        2.1e-01
      diagnosis looks like the transpose of the reference
      reproduce oracle check demo.py --op matmul --dtype float64 --seed 3 --examples 50
"""

from __future__ import annotations

from typing import Any

from .result import Verdict

__all__ = ["format_failure", "format_number", "worst_table"]


def format_number(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, str):  # "nan", "inf" as stored in JSON
        return value
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)


def _index(index: list[int]) -> str:
    return "(" + ", ".join(map(str, index)) + ("," if len(index) == 1 else "") + ")" if index else "()"


def worst_table(verdict: Verdict) -> list[str]:
    """The worst elements as aligned text rows, header first; empty when there are none."""
    if not verdict.worst:
        return []
    header = ["index", "got", "reference" if verdict.check != "finite_differences" else "finite diff", "finite diff", "rel. error"]
    rows = []
    for e in verdict.worst:
        fd = format_number(e.finite_difference) if verdict.check != "finite_differences" else ""
        rows.append([_index(e.index), format_number(e.got), format_number(e.expected), fd,
                     f"{e.error:.2e}" if isinstance(e.error, float) else format_number(e.error)])
    if all(not r[3] or r[3] == "—" for r in rows):
        header.pop(3)
        rows = [r[:3] + r[4:] for r in rows]
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
        error = f"{verdict.error:.2e}" if isinstance(verdict.error, float) else str(verdict.error)
        field("error", f"{error} > threshold {verdict.threshold:.0e} ({'absolute' if verdict.threshold == 0 else 'relative'})"
              if isinstance(verdict.threshold, float) else f"{error}")
    lines += [f"    {row}" for row in worst_table(verdict)]
    if verdict.bad is not None and verdict.total is not None and verdict.worst and verdict.bad > len(verdict.worst):
        lines.append(f"    ... {verdict.bad - len(verdict.worst)} more of {verdict.bad} wrong elements not shown")
    field("diagnosis", (verdict.diagnosis or {}).get("text") or "")
    for hint in verdict.hints:
        field("hint", hint)
    field("seed", str(verdict.seed) if verdict.seed is not None else "")
    field("reproduce", verdict.reproduce)
    return "\n".join(lines)


def _math_of(op: str) -> str:
    try:
        from oracle.specs import CATALOGUE

        spec = CATALOGUE.get(op)
    except Exception:  # the catalogue needs JAX; a message must render without it
        return ""
    return spec.math if spec is not None else ""
