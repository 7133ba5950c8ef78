"""Reports rendered from a Run alone: terminal, JSON, JUnit XML and HTML.

A report never re-runs a check, so `oracle report RUN.json` renders exactly what `oracle check`
rendered. The helpers here are the few words every report shares.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from ..result import Run, Verdict

__all__ = ["write_reports", "status_of", "number", "error_text", "op_text", "first_line"]


def status_of(verdict: Verdict) -> str:
    """The status a reader sees: a failure the baseline lists is 'known'."""
    return "known" if verdict.known else verdict.status


def number(value: Any, digits: int = 4) -> str:
    """A float in at most `digits` significant digits; the JSON's 'nan'/'inf' strings as they are."""
    if isinstance(value, bool) or value is None:
        return "" if value is None else str(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value) or math.isinf(value):
            return str(value)
        return f"{value:.{digits}g}"
    return str(value)


def _as_float(value: Any) -> float | None:
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def error_text(verdict: Verdict, le: str = "<=") -> str:
    """'3.2e-01 > 1e-09': the worst error measured against its threshold, when the verdict has one."""
    if verdict.error is None:
        return ""
    if verdict.threshold is None:
        return number(verdict.error)
    error, threshold = _as_float(verdict.error), _as_float(verdict.threshold)
    within = error is not None and threshold is not None and error <= threshold
    digits = 4
    while digits < 17 and error != threshold and number(verdict.error, digits) == number(verdict.threshold, digits):
        digits += 2   # '0.001 > 0.001' says nothing; show the digits where they differ
    return f"{number(verdict.error, digits)} {le if within else '>'} {number(verdict.threshold, digits)}"


def first_line(text: str | None, fallback: str = "") -> str:
    """The first non-empty line of a message: what fits in a table cell or an XML attribute."""
    lines = (text or "").strip().splitlines()
    return lines[0].strip() if lines else fallback


def op_text(verdict: Verdict) -> str:
    """The implementation's label, with its op when the label differs ('matmul_v2 (matmul)')."""
    return verdict.implementation if verdict.implementation == verdict.op else f"{verdict.implementation} ({verdict.op})"


def write_reports(run: Run, html: str | Path | None = None, json: str | Path | None = None,
                  junit_xml: str | Path | None = None) -> dict[str, Path]:
    """Write the files asked for, each whole or not at all; returns what was written, by kind."""
    written: dict[str, Path] = {}
    if json:
        run.save(json)
        written["json"] = Path(json)
    if junit_xml:
        from .junit import write_junit

        write_junit(run, junit_xml)
        written["junit_xml"] = Path(junit_xml)
    if html:
        from .html import write_html

        written["html"] = write_html(run, html)
    return written
