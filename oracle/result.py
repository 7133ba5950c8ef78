"""Verdicts and runs: what a run found, as plain data that serialises to versioned JSON.

Everything here holds JSON-ready values only (lists, not arrays; non-finite floats as the
strings "nan", "inf", "-inf"), so a run loaded back from JSON equals the run that wrote it,
and every report can be rendered from the JSON alone.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["Element", "Finding", "CaseRecord", "Verdict", "Run", "STATUSES", "jsonable", "write_atomic", "RunFormatError"]

FORMAT_VERSION = 1
STATUSES = ("passed", "failed", "errored", "skipped")


class RunFormatError(ValueError):
    """A file that is not a run this version of the oracle can read."""


def jsonable(value: Any) -> Any:
    """numpy values and containers -> JSON-ready Python values; NaN and Inf as strings."""
    if isinstance(value, np.ndarray):
        return jsonable(value.tolist())
    if isinstance(value, (np.floating, float)):
        v = float(value)
        if math.isnan(v):
            return "nan"
        if math.isinf(v):
            return "inf" if v > 0 else "-inf"
        return v
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (np.bool_,)):
        return bool(value)
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    return value


@dataclass
class Element:
    """One element of a gradient: where it is, what came back, what was expected."""

    index: list[int]
    got: Any
    expected: Any
    error: Any
    finite_difference: Any = None
    error_element: Any = None           # |got - expected| / |expected|: relative to this element
    error_scale: Any = None             # |got - expected| / rms(expected): relative to the gradient's scale
    over: Any = None                    # exceeds the threshold (False: shown for context)

    def __post_init__(self) -> None:
        for f in fields(self):
            setattr(self, f.name, jsonable(getattr(self, f.name)))


@dataclass
class Finding:
    """Evidence that one check failed on one case. Checks return this or None."""

    check: str
    message: str
    argument: str | None = None
    status: str = "failed"              # "errored" when the implementation raised or hung
    error: Any = None                   # the measured error, in the unit of `threshold`
    threshold: Any = None
    worst: list[Element] = field(default_factory=list)
    bad: int | None = None              # how many elements exceed the threshold
    total: int | None = None
    got: Any = None                     # the failing array, when small enough to show
    expected: Any = None
    hints: list[str] = field(default_factory=list)
    facts: dict = field(default_factory=dict)   # check-specific evidence for diagnosis
    also: list[dict] = field(default_factory=list)   # the case's other findings: {check, argument, message, status}
    values_right: bool | None = None    # for a dtype or shape finding: did every value check run and pass?

    def __post_init__(self) -> None:
        self.error, self.threshold = jsonable(self.error), jsonable(self.threshold)
        self.got, self.expected = jsonable(self.got), jsonable(self.expected)
        self.facts = jsonable(self.facts)


@dataclass
class CaseRecord:
    """A concrete case, as shown to the user and stored in the JSON."""

    dims: dict[str, int]
    batch: list[int]
    hyper: dict[str, Any]
    dtype: str
    seed: int
    shapes: dict[str, list[int]]
    inputs: dict[str, Any] = field(default_factory=dict)   # small inputs only
    cotangent: Any = None

    def __post_init__(self) -> None:
        self.hyper, self.inputs, self.cotangent = jsonable(self.hyper), jsonable(self.inputs), jsonable(self.cotangent)
        self.shapes = {k: list(v) for k, v in self.shapes.items()}
        self.batch = list(self.batch)

    def shapes_text(self) -> str:
        return ", ".join(f"{n}: ({', '.join(map(str, s))}{',' if len(s) == 1 else ''})" for n, s in self.shapes.items())


@dataclass
class Verdict:
    """The outcome for one (plugin, implementation, dtype)."""

    plugin: str
    op: str
    dtype: str
    status: str
    implementation: str = ""           # the label within the plugin; the op name unless a variant
    convention: str = ""
    check: str | None = None
    argument: str | None = None
    message: str = ""
    case: CaseRecord | None = None
    worst: list[Element] = field(default_factory=list)
    bad: int | None = None
    total: int | None = None
    error: Any = None
    threshold: Any = None
    got: Any = None
    expected: Any = None
    hints: list[str] = field(default_factory=list)
    facts: dict = field(default_factory=dict)
    diagnosis: dict | None = None      # {"kind", "text", "evidence"} (oracle.diagnose), or None
    also: list[dict] = field(default_factory=list)   # the shrunk case's other findings, in check order
    values_right: bool | None = None   # a dtype or shape finding: True when every value check ran and passed
    inconclusive: int = 0              # cases where rounding in this dtype was as large as the gradient
    reproduce: str = ""
    seed: int | None = None
    examples: int = 0                  # cases evaluated
    checks: list[str] = field(default_factory=list)   # checks applied to every case
    duration: float = 0.0
    source: str = ""
    source_function: str | None = None   # the user's function where the wrong value was computed (oracle.blame)
    source_file: str | None = None
    source_line: int | None = None
    source_text: str = ""                # that function's source, for the HTML report
    target: str | None = None
    known: bool = False                # a failure the baseline lists

    def __post_init__(self) -> None:
        if self.status not in STATUSES:
            raise ValueError(f"status must be one of {STATUSES}, got {self.status!r}")
        self.implementation = self.implementation or self.op
        self.error, self.threshold = jsonable(self.error), jsonable(self.threshold)
        self.got, self.expected, self.facts = jsonable(self.got), jsonable(self.expected), jsonable(self.facts)
        if isinstance(self.diagnosis, str):  # a run written before diagnoses were data: text, kind unknown
            self.diagnosis = {"kind": None, "text": self.diagnosis, "evidence": {}}

    @property
    def id(self) -> str:
        return f"{self.plugin}/{self.implementation}/{self.dtype}"

    @property
    def fingerprint(self) -> str:
        """Stable across runs and seeds: what failed, not how it happened to show."""
        return f"{self.plugin}::{self.implementation}::{self.dtype}::{self.check or ''}"

    @classmethod
    def from_dict(cls, data: dict) -> "Verdict":
        data = dict(data)
        if data.get("case") is not None:
            data["case"] = CaseRecord(**data["case"])
        data["worst"] = [Element(**e) for e in data.get("worst", [])]
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})


@dataclass
class Run:
    """All verdicts of one run, with what is needed to repeat it."""

    seed: int
    verdicts: list[Verdict] = field(default_factory=list)
    targets: list[str] = field(default_factory=list)
    settings: dict = field(default_factory=dict)      # examples, dtypes, ops
    versions: dict = field(default_factory=dict)
    started: str = ""
    duration: float = 0.0
    incomplete: bool = False
    stopped_because: str | None = None                # "interrupted", "terminated", "time budget"
    missing: list[str] = field(default_factory=list)  # ids of planned verdicts the run did not judge
    version: int = FORMAT_VERSION

    def counts(self) -> dict[str, int]:
        return {s: sum(v.status == s for v in self.verdicts) for s in STATUSES}

    @property
    def ok(self) -> bool:
        """The gate: every planned verdict exists and passed (or is a failure the baseline knows)."""
        return not self.missing and all(v.status in ("passed", "skipped") or v.known for v in self.verdicts)

    def summary_line(self) -> str:
        c = self.counts()
        parts = [f"{c['passed']} passed", f"{c['failed']} failed"]
        parts += [f"{c[s]} {s}" for s in ("errored", "skipped") if c[s]]
        inconclusive = sum(v.inconclusive for v in self.verdicts if isinstance(v.inconclusive, int))
        if inconclusive:   # cases the dtype could not judge: never failures, but not passes of that precision
            parts.append(f"{inconclusive} inconclusive case{'s' if inconclusive != 1 else ''}")
        return ", ".join(parts)

    def to_dict(self) -> dict:
        data = asdict(self)
        data = {"version": data.pop("version"), **data}
        return data

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=1, allow_nan=False)

    @classmethod
    def from_dict(cls, data: dict) -> "Run":
        if not isinstance(data, dict) or "verdicts" not in data:
            raise RunFormatError("not an oracle run: no 'verdicts'")
        if data.get("version") != FORMAT_VERSION:
            raise RunFormatError(f"run format version {data.get('version')!r}; this oracle reads version {FORMAT_VERSION}")
        data = dict(data)
        data["verdicts"] = [Verdict.from_dict(v) for v in data["verdicts"]]
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})

    @classmethod
    def from_json(cls, text: str) -> "Run":
        try:
            return cls.from_dict(json.loads(text))
        except json.JSONDecodeError as error:
            raise RunFormatError(f"not JSON: {error}") from None
        except TypeError as error:
            raise RunFormatError(f"not an oracle run: {error}") from None

    def save(self, path: str | os.PathLike) -> None:
        write_atomic(Path(path), self.to_json())

    @classmethod
    def load(cls, path: str | os.PathLike) -> "Run":
        return cls.from_json(Path(path).read_text(encoding="utf-8"))


def _umask() -> int:
    """The process's umask, read where the system shows it: setting it to read it leaves, for a moment,
    the files other threads create (the journal, a report being written beside) open to everyone."""
    try:
        with open("/proc/self/status", encoding="ascii", errors="replace") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0)       # no /proc (macOS, or Linux before 4.7): the only portable way
    os.umask(mask)
    return mask


def write_atomic(path: Path, text: str) -> None:
    """Write a file whole or not at all: a temporary file beside it, then an atomic rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.chmod(tmp, 0o666 & ~_umask())   # mkstemp makes 0600; a report is as readable as any file the user writes
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
