"""The HTML report: one folder that opens from disk, rendered from a Run alone.

    DIR/index.html          the plugins x ops matrix and every verdict, filterable
    DIR/verdicts/*.html     a page for every verdict that did not pass
    DIR/style.css, DIR/report.js, DIR/run.json   (run.json renders the report again)

Templates are Jinja2 with autoescape on: every string from a plugin, a spec or an exception is
escaped. Each file is written whole or not at all, the index last, so an index never links to
a page that is not there.
"""

from __future__ import annotations

import hashlib
import re
from datetime import datetime
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
from jinja2 import Environment, PackageLoader, StrictUndefined

from ..result import Run, Verdict, write_atomic
from . import error_text, first_line, number, op_text, status_of

__all__ = ["write_html", "render_index", "render_verdict", "page_name"]

ASSETS = ("style.css", "report.js")
HEAT_LEVELS = 8            # colour steps of the difference heatmap (CSS classes h0..h8)
MAX_CELLS = 400            # larger arrays are summarised, not drawn


def _environment() -> Environment:
    env = Environment(loader=PackageLoader("oracle.report", "templates"), autoescape=True,
                      undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    env.filters["number"] = number
    env.filters["when"] = when
    env.globals.update(status_of=status_of, error_text=error_text, op_text=op_text, first_line=first_line)
    return env


def when(text: str) -> str:
    """'2025-03-01T12:00:05+00:00' -> '2025-03-01 12:00:05 UTC'; anything else as it is."""
    try:
        moment = datetime.fromisoformat(text)
    except (TypeError, ValueError):
        return text
    offset = moment.utcoffset()
    zone = "" if offset is None else (" UTC" if not offset else moment.strftime(" %z"))
    return moment.strftime("%Y-%m-%d %H:%M:%S") + zone


def page_name(verdict: Verdict) -> str:
    """A file name that is safe on every file system and unique per verdict, whatever its names hold."""
    readable = re.sub(r"[^A-Za-z0-9_.]+", "-", f"{verdict.plugin}-{verdict.implementation}-{verdict.dtype}").strip("-.")
    digest = hashlib.sha1(verdict.id.encode("utf-8", "surrogatepass")).hexdigest()[:8]
    return f"verdicts/{readable[:60]}-{digest}.html"


# --------------------------------------------------------------------------- arrays as tables

@dataclass
class Cell:
    text: str
    level: int | None = None     # heatmap colour step; None when not part of a heatmap
    marked: bool = False         # one of the worst elements
    title: str = ""


@dataclass
class ArrayView:
    """An array drawn as a table (0-D, 1-D and 2-D) or as text (anything else)."""

    shape: tuple[int, ...] | None
    rows: list[list[Cell]] = field(default_factory=list)
    text: str = ""

    @property
    def shape_text(self) -> str:
        if self.shape is None:
            return ""
        return "(" + ", ".join(map(str, self.shape)) + ("," if len(self.shape) == 1 else "") + ")"


def _to_array(value: Any) -> np.ndarray | None:
    """A float64 array from the JSON's nested lists ('nan'/'inf' strings included); None if it is not one."""
    if value is None:
        return None
    try:
        array = np.array(value, dtype=np.float64)
    except (TypeError, ValueError):
        return None
    return array


def array_view(value: Any) -> ArrayView | None:
    if value is None:
        return None
    array = _to_array(value)
    if array is None or array.ndim > 2 or array.size > MAX_CELLS:
        return ArrayView(None if array is None else array.shape, text=_text_of(value, array))
    grid = np.atleast_2d(array)
    raw = np.atleast_2d(np.array(value, dtype=object))
    return ArrayView(array.shape, rows=[[Cell(number(_plain(raw[i, j]))) for j in range(grid.shape[1])]
                                        for i in range(grid.shape[0])])


def _plain(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value


def _text_of(value: Any, array: np.ndarray | None) -> str:
    if array is not None and array.size:
        with np.printoptions(precision=4, threshold=MAX_CELLS, linewidth=100):
            return np.array2string(array, separator=", ")
    return str(value)


def difference_view(got: Any, expected: Any, worst: list) -> ArrayView | None:
    """got - expected as a heatmap for 1-D and 2-D arrays of the same shape, worst elements outlined."""
    a, b = _to_array(got), _to_array(expected)
    if a is None or b is None or a.shape != b.shape or a.ndim not in (1, 2) or a.size > MAX_CELLS:
        return None
    with np.errstate(invalid="ignore"):
        difference = a - b
    magnitude = np.abs(difference)
    finite = magnitude[np.isfinite(magnitude)]
    largest = float(finite.max()) if finite.size else 0.0
    marked = {tuple(e.index) for e in worst if isinstance(e.index, list)}
    grid, rows = np.atleast_2d(difference), []
    for i in range(grid.shape[0]):
        row = []
        for j in range(grid.shape[1]):
            d = float(grid[i, j])
            index = (j,) if difference.ndim == 1 else (i, j)
            if not np.isfinite(d):
                level = HEAT_LEVELS
            else:
                level = round(HEAT_LEVELS * abs(d) / largest) if largest > 0 else 0
            row.append(Cell(number(d), level, index in marked, f"index {list(index)}: got - expected = {number(d)}"))
        rows.append(row)
    return ArrayView(difference.shape, rows=rows)


# --------------------------------------------------------------------------- pages

def _matrix(run: Run) -> tuple[list[str], list[dict]]:
    """Plugins (columns) and ops (rows); each cell lists that plugin's implementations of the op."""
    plugins = list(dict.fromkeys(v.plugin for v in run.verdicts))
    rows: dict[str, dict[str, dict[str, list[Verdict]]]] = {}
    for verdict in run.verdicts:
        cell = rows.setdefault(verdict.op, {}).setdefault(verdict.plugin, {})
        cell.setdefault(verdict.implementation, []).append(verdict)
    return plugins, [{"op": op, "cells": cells} for op, cells in sorted(rows.items())]


def _links(run: Run) -> dict[str, str]:
    return {v.id: page_name(v) for v in run.verdicts if v.status != "passed"}


def render_index(run: Run, env: Environment | None = None) -> str:
    env = env or _environment()
    plugins, rows = _matrix(run)
    statuses = ["passed", "failed", "errored", "skipped", "known"]
    # As the filter sees them: a failure the baseline knows counts as known, not as failed.
    counts = {status: sum(status_of(v) == status for v in run.verdicts) for status in statuses}
    return env.get_template("index.html").render(
        run=run, plugins=plugins, rows=rows, links=_links(run), counts=counts, root="",
        statuses=statuses, title="gradient-oracle report",
    )


def render_verdict(run: Run, verdict: Verdict, env: Environment | None = None) -> str:
    from ..message import format_failure

    env = env or _environment()
    case = verdict.case
    return env.get_template("verdict.html").render(
        run=run, v=verdict, root="../", title=f"{verdict.plugin} · {op_text(verdict)} · {verdict.dtype}",
        failure=format_failure(verdict) if verdict.status in ("failed", "errored") else "",
        got=array_view(verdict.got), expected=array_view(verdict.expected),
        difference=difference_view(verdict.got, verdict.expected, verdict.worst),
        inputs={name: array_view(value) for name, value in (case.inputs if case else {}).items()},
        cotangent=array_view(case.cotangent) if case else None,
    )


def _asset(name: str) -> str:
    return resources.files("oracle.report").joinpath("templates", name).read_text(encoding="utf-8")


def write_html(run: Run, directory: str | Path) -> Path:
    """Write the report folder; returns the path of its index.html."""
    directory = Path(directory)
    env = _environment()
    for name in ASSETS:
        write_atomic(directory / name, _asset(name))
    write_atomic(directory / "run.json", run.to_json())
    pages = set()
    for verdict in run.verdicts:
        if verdict.status != "passed":
            name = page_name(verdict)
            write_atomic(directory / name, render_verdict(run, verdict, env))
            pages.add(Path(name).name)
    index = directory / "index.html"
    write_atomic(index, render_index(run, env))
    # Pages of an earlier run in this folder would otherwise linger beside the new index.
    for old in (directory / "verdicts").glob("*.html"):
        if old.name not in pages:
            old.unlink()
    return index
