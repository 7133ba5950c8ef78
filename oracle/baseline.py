"""Known failures: a file of fingerprints that the gate forgives, and the bookkeeping around it.

A fingerprint names what failed (plugin, implementation, dtype, check), not how it happened to
show, so it stays the same across seeds and shrunk cases. The file is JSON, sorted, one
entry per line, so that it reads well in a diff:

    {"version": 1, "known": {
     "mypkg::matmul::float64::reference": "dA is a 3x2 array; the reference is 2x3"
    }}
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from .report import first_line
from .result import Run, Verdict, write_atomic

__all__ = ["Baseline", "BaselineError", "Comparison", "load", "from_run", "update", "FORMAT_VERSION"]

FORMAT_VERSION = 1
FAILING = ("failed", "errored")


class BaselineError(ValueError):
    """A baseline file that is missing or not one the oracle wrote: a user's mistake."""


@dataclass
class Baseline:
    """Fingerprint -> the first line of the failure's message, for the person reading the file."""

    known: dict[str, str] = field(default_factory=dict)
    missing: bool = False     # read from a path where no file is yet

    def __contains__(self, fingerprint: str) -> bool:
        return fingerprint in self.known

    def __len__(self) -> int:
        return len(self.known)

    def to_json(self) -> str:
        entries = ",\n".join(f" {json.dumps(k)}: {json.dumps(self.known[k])}" for k in sorted(self.known))
        body = "{\n" + entries + "\n}" if entries else "{}"
        return f'{{"version": {FORMAT_VERSION}, "known": {body}}}\n'

    def save(self, path: str | Path) -> None:
        write_atomic(Path(path), self.to_json())

    def apply(self, run: Run) -> "Comparison":
        """Mark the run's failures that this baseline knows, and find entries that no longer fail."""
        comparison = Comparison()
        by_id = {v.id: v for v in run.verdicts}
        for verdict in run.verdicts:
            verdict.known = verdict.status in FAILING and verdict.fingerprint in self.known
            if verdict.known:
                comparison.known.append(verdict)
        for fingerprint in sorted(self.known):
            verdict = by_id.get(_verdict_id(fingerprint))
            # Only what this run judged can be called fixed: a filtered-out or skipped op says nothing.
            if verdict is None or verdict.status == "skipped":
                continue
            if not (verdict.status in FAILING and verdict.fingerprint == fingerprint):
                comparison.fixed.append(fingerprint)
        return comparison


@dataclass
class Comparison:
    """What a run and a baseline say together."""

    known: list[Verdict] = field(default_factory=list)    # failures the baseline lists
    fixed: list[str] = field(default_factory=list)        # listed failures that this run did not see


def _verdict_id(fingerprint: str) -> str:
    """'plugin::impl::dtype::check' -> 'plugin/impl/dtype', the Verdict.id it belongs to."""
    plugin, implementation, dtype, _check = _split(fingerprint)
    return f"{plugin}/{implementation}/{dtype}"


def _split(fingerprint: str) -> tuple[str, str, str, str]:
    # Plugin and implementation names may hold anything, so split from both ends.
    plugin, rest = fingerprint.split("::", 1)
    implementation, dtype, check = rest.rsplit("::", 2)
    return plugin, implementation, dtype, check


def from_run(run: Run) -> Baseline:
    """A baseline that knows every failure of `run`."""
    return update(Baseline(), run)


def update(baseline: Baseline, run: Run) -> Baseline:
    """The baseline with each verdict `run` judged brought up to date, and every other entry kept.

    A run filtered to some ops (or cut short) says nothing about the rest, so their known
    failures stay; a skipped verdict was not judged either.
    """
    judged = {v.id: v for v in run.verdicts if v.status != "skipped"}
    known = {fp: text for fp, text in baseline.known.items() if _verdict_id(fp) not in judged}
    for verdict in judged.values():
        if verdict.status in FAILING:
            known[verdict.fingerprint] = first_line(verdict.message)[:200]
    return Baseline(known)


def load(path: str | Path, missing_ok: bool = False) -> Baseline:
    """Read a baseline; BaselineError saying what is wrong with the file otherwise.

    With missing_ok, a file that does not exist yet is an empty baseline whose `missing` is set:
    the first run of a project that configures one has no known failures.
    """
    from .schemas import SchemaError, validate

    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        if missing_ok:
            return Baseline(missing=True)
        raise BaselineError(f"baseline {path} does not exist; write one with `oracle baseline --output {path}`") from None
    except IsADirectoryError:
        raise BaselineError(f"baseline {path} is a directory, not a file") from None
    except (OSError, UnicodeDecodeError) as error:
        raise BaselineError(f"cannot read baseline {path}: {error}") from None
    again = "write it again with `oracle baseline`"
    try:
        data = json.loads(text)
    except json.JSONDecodeError as error:
        raise BaselineError(f"baseline {path} is not JSON ({error}); {again}") from None
    except RecursionError:
        raise BaselineError(f"baseline {path} is nested too deeply to read; {again}") from None
    if not isinstance(data, dict) or not isinstance(data.get("known"), dict):
        raise BaselineError(f"baseline {path} has no 'known' table; {again}")
    if data.get("version") != FORMAT_VERSION:
        raise BaselineError(f"baseline {path} has format version {data.get('version')!r}; this oracle reads {FORMAT_VERSION}")
    for fingerprint in data["known"]:
        if fingerprint.count("::") < 3:
            raise BaselineError(f"baseline {path}: {fingerprint!r} is not a fingerprint 'plugin::implementation::dtype::check'")
    try:
        validate("baseline", data)
    except SchemaError as error:
        raise BaselineError(f"baseline {path}: {error}; {again}") from None
    return Baseline(dict(data["known"]))
