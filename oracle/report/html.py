"""The HTML report: one folder that opens from disk, rendered from a Run alone.

    DIR/index.html          the plugins x ops matrix and every verdict, filterable
    DIR/verdicts/*.html     a page for every verdict that did not pass
    DIR/style.css, DIR/report.js, DIR/run.json   (run.json renders the report again)

Templates are Jinja2 with autoescape on: every string from a plugin, a spec or an exception is
escaped, cut to a length a browser opens quickly (run.json keeps it whole) and rid of lone
surrogates, which UTF-8 cannot encode.

Writing: every page is rendered in memory first, so a page that cannot be rendered leaves the
folder as it was; then, under a lock on the folder, pages, run.json and the index (last) are
written, each whole or not at all, and pages of an earlier run are removed. Two runs writing
one folder therefore take turns, and a folder never holds an index of one run beside pages or a
run.json of another.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import re
from datetime import datetime
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
from jinja2 import Environment, PackageLoader, StrictUndefined

from ..result import Run, Verdict, write_atomic
from ..sanitize import encodable, shorten
from . import error_text, first_line, number, op_text, status_of

__all__ = ["write_html", "render_index", "render_verdict", "page_name"]

ASSETS = ("style.css", "report.js")
HEAT_LEVELS = 8            # colour steps of the difference heatmap (CSS classes h0..h8)
MAX_CELLS = 400            # larger arrays are summarised, not drawn
MAX_SLICES = 16            # channels of a 3-D or 4-D difference drawn, worst first
ORDER = {"failed": 0, "errored": 1, "known": 2, "skipped": 3, "passed": 4}   # failures first


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


def _largest(magnitude: np.ndarray) -> float:
    finite = magnitude[np.isfinite(magnitude)]
    return float(finite.max()) if finite.size else 0.0


def _heat(difference: np.ndarray, largest: float, marked: set, prefix: tuple = ()) -> ArrayView:
    """One 1-D or 2-D difference as heatmap cells; `prefix` is the index of its slice in a larger array."""
    grid, rows = np.atleast_2d(difference), []
    for i in range(grid.shape[0]):
        row = []
        for j in range(grid.shape[1]):
            d = float(grid[i, j])
            index = prefix + ((j,) if difference.ndim == 1 else (i, j))
            if not np.isfinite(d):
                level = HEAT_LEVELS
            else:
                level = round(HEAT_LEVELS * abs(d) / largest) if largest > 0 else 0
            row.append(Cell(number(d), level, index in marked, f"index {list(index)}: got - expected = {number(d)}"))
        rows.append(row)
    return ArrayView(difference.shape, rows=rows)


def _difference(got: Any, expected: Any) -> np.ndarray | None:
    a, b = _to_array(got), _to_array(expected)
    if a is None or b is None or a.shape != b.shape:
        return None
    with np.errstate(invalid="ignore"):
        return a - b


def difference_view(got: Any, expected: Any, worst: list) -> ArrayView | None:
    """got - expected as a heatmap for 1-D and 2-D arrays of the same shape, worst elements outlined."""
    difference = _difference(got, expected)
    if difference is None or difference.ndim not in (1, 2) or difference.size > MAX_CELLS:
        return None
    marked = {tuple(e.index) for e in worst if isinstance(e.index, list)}
    return _heat(difference, _largest(np.abs(difference)), marked)


@dataclass
class Slice:
    label: str          # 'channel 2' or 'n=0, channel 2'
    worst: float        # its largest |got - expected|
    view: ArrayView


def difference_slices(got: Any, expected: Any, worst: list) -> tuple[list[Slice], int]:
    """A 3-D (C, H, W) or 4-D (N, C, H, W) difference as one heatmap per channel, the worst first.

    One colour scale for every slice, so that slices compare by eye; returns the slices drawn
    and how many there were in all.
    """
    difference = _difference(got, expected)
    if difference is None or difference.ndim not in (3, 4) or difference[(0,) * (difference.ndim - 2)].size > MAX_CELLS:
        return [], 0
    magnitude = np.abs(difference)
    largest = _largest(magnitude)
    marked = {tuple(e.index) for e in worst if isinstance(e.index, list)}
    slices = []
    for lead in np.ndindex(*difference.shape[:-2]):
        part = magnitude[lead]
        score = float(np.nanmax(np.where(np.isfinite(part), part, np.inf))) if part.size else 0.0
        label = f"channel {lead[0]}" if len(lead) == 1 else f"n={lead[0]}, channel {lead[1]}"
        slices.append((score, lead, label))
    slices.sort(key=lambda item: -item[0])     # stable: equal slices keep their order
    drawn = [Slice(label, score, _heat(difference[lead], largest, marked, lead))
             for score, lead, label in slices[:MAX_SLICES]]
    return drawn, len(slices)


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


def ordered(verdicts: list[Verdict]) -> list[Verdict]:
    """Failures first, then errors, known failures, skipped and passed; run order within each."""
    return sorted(verdicts, key=lambda v: ORDER[status_of(v)])


def _failures(run: Run) -> list[Verdict]:
    """The verdicts a reviewer steps through with previous/next: every failure, in the index's order."""
    return [v for v in ordered(run.verdicts) if v.status in ("failed", "errored")]


def presentable(run: Run) -> Run:
    """A copy of the run whose every string fits on a page: cut to length and UTF-8 encodable.

    The JSON beside the report keeps the original, full text.
    """
    def clean(value: Any) -> Any:
        if isinstance(value, str):
            return encodable(shorten(value))
        if isinstance(value, dict):
            return {clean(k): clean(v) for k, v in value.items()}
        if isinstance(value, list):
            return [clean(v) for v in value]
        return value

    copy = Run.from_dict(clean(run.to_dict()))
    for mine, theirs in zip(copy.verdicts, run.verdicts):
        mine.known = theirs.known
    return copy


def render_index(run: Run, env: Environment | None = None) -> str:
    env = env or _environment()
    plugins, rows = _matrix(run)
    statuses = ["failed", "errored", "known", "skipped", "passed"]
    # As the filter sees them: a failure the baseline knows counts as known, not as failed.
    counts = {status: sum(status_of(v) == status for v in run.verdicts) for status in statuses}
    return env.get_template("index.html").render(
        run=run, plugins=plugins, rows=rows, links=_links(run), counts=counts, root="",
        statuses=statuses, title="gradient-oracle report", verdicts=ordered(run.verdicts),
    )


def render_verdict(run: Run, verdict: Verdict, env: Environment | None = None) -> str:
    from ..message import format_failure

    env = env or _environment()
    case = verdict.case
    failures = _failures(run)
    position = next((i for i, v in enumerate(failures) if v is verdict), None)
    previous = failures[position - 1] if position else None
    following = failures[position + 1] if position is not None and position + 1 < len(failures) else None
    slices, channels = difference_slices(verdict.got, verdict.expected, verdict.worst)
    return env.get_template("verdict.html").render(
        run=run, v=verdict, root="../", title=f"{verdict.plugin} · {op_text(verdict)} · {verdict.dtype}",
        failure=shorten(format_failure(verdict)) if verdict.status in ("failed", "errored") else "",
        got=array_view(verdict.got), expected=array_view(verdict.expected),
        difference=difference_view(verdict.got, verdict.expected, verdict.worst),
        slices=slices, channels=channels,
        inputs={name: array_view(value) for name, value in (case.inputs if case else {}).items()},
        cotangent=array_view(case.cotangent) if case else None,
        position=position, failures=len(failures),
        previous=page_name(previous).split("/", 1)[1] if previous else None,
        following=page_name(following).split("/", 1)[1] if following else None,
        source=source_view(verdict),
    )


@dataclass
class SourceView:
    """The blamed function's source with line numbers, and a link that opens its file."""

    function: str
    place: str            # 'layers.py:11'
    href: str
    lines: list[tuple[int, str]]


def source_view(verdict: Verdict) -> SourceView | None:
    if not verdict.source_function or not verdict.source_file:
        return None
    path = Path(verdict.source_file)
    try:
        href = (path if path.is_absolute() else Path.cwd() / path).resolve().as_uri()
    except (OSError, ValueError):
        href = ""
    first = verdict.source_line or 1
    lines = [(first + i, text) for i, text in enumerate((verdict.source_text or "").splitlines())]
    return SourceView(verdict.source_function, f"{verdict.source_file}:{verdict.source_line or '?'}", href, lines)


def _asset(name: str) -> str:
    return resources.files("oracle.report").joinpath("templates", name).read_text(encoding="utf-8")


@contextlib.contextmanager
def _locked(directory: Path):
    """Hold the folder's lock: another run writing the same report waits for this one to finish."""
    directory.mkdir(parents=True, exist_ok=True)
    handle = os.open(directory, os.O_RDONLY)    # the folder itself is the lock: no lock file left behind
    try:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield
    finally:
        os.close(handle)                         # closing releases the lock


def _page_text(html: str) -> str:
    return encodable(html)   # nothing a plugin wrote may stop the file from being written as UTF-8


def write_html(run: Run, directory: str | Path) -> Path:
    """Write the report folder; returns the path of its index.html."""
    directory = Path(directory)
    env = _environment()
    shown = presentable(run)
    # Everything is rendered before anything is written: a page that fails leaves the old report whole.
    pages = {page_name(v): _page_text(render_verdict(shown, v, env)) for v in shown.verdicts if v.status != "passed"}
    index_html = _page_text(render_index(shown, env))
    assets = {name: _asset(name) for name in ASSETS}
    with _locked(directory):
        for name, text in assets.items():
            write_atomic(directory / name, text)
        for name, text in pages.items():
            write_atomic(directory / name, text)
        write_atomic(directory / "run.json", run.to_json())
        index = directory / "index.html"
        write_atomic(index, index_html)
        # Pages of an earlier run in this folder would otherwise linger beside the new index.
        keep = {Path(name).name for name in pages}
        for old in (directory / "verdicts").glob("*.html"):
            if old.name not in keep:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(old)
    return index
