"""The journal: one JSON line per verdict, on disk as soon as the verdict is known.

    {"journal": 1, "run": {seed, targets, settings, versions, started}, "planned": [ids]}
    {"verdict": {...}}
    {"verdict": {...}}
    {"end": {"duration": ..., "incomplete": ..., "stopped_because": ..., "missing": [...]}}

Each line is written whole, flushed and fsynced before the next verdict is judged, so a
supervisor killed with SIGKILL (or a machine that loses power) keeps every finished verdict.
A journal without its "end" line is a run that was killed; `read` turns it into a Run marked
incomplete, listing the planned verdicts that never arrived.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict
from pathlib import Path
from typing import Any

from ..result import Run, RunFormatError, Verdict
from ..schemas import SchemaError, validate

__all__ = ["JOURNAL_NAME", "KILLED", "Journal", "read"]

JOURNAL_NAME = "journal.jsonl"
FORMAT = 1
KILLED = "the run was killed before it finished"


class Journal:
    """Appends a run's verdicts to a JSON Lines file, each durable before the call returns."""

    def __init__(self, path: str | os.PathLike, run: Run, planned: list[str]) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._file = open(self.path, "w", encoding="utf-8")  # noqa: SIM115 - open for the whole run; end() closes it
        header = {key: value for key, value in run.to_dict().items() if key in ("version", "seed", "targets", "settings",
                                                                              "versions", "started")}
        self._write({"journal": FORMAT, "run": header, "planned": planned})

    def _write(self, record: dict[str, Any]) -> None:
        self._file.write(json.dumps(record, allow_nan=False) + "\n")
        self._file.flush()
        os.fsync(self._file.fileno())

    def verdict(self, verdict: Verdict) -> None:
        self._write({"verdict": asdict(verdict)})

    def end(self, run: Run) -> None:
        self._write({"end": {"duration": run.duration, "incomplete": run.incomplete,
                             "stopped_because": run.stopped_because, "missing": run.missing}})
        self.close()

    def close(self) -> None:
        if not self._file.closed:
            self._file.close()


def read(path: str | os.PathLike) -> Run:
    """The Run a journal records; marked incomplete, with what is missing, when the run never finished."""
    header, verdicts, end = None, [], None
    with open(path, encoding="utf-8") as handle:
        for number, line in enumerate(handle, 1):
            if not line.endswith("\n"):
                break                  # the last line was being written when the run was killed
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                raise RunFormatError(f"line {number} is not JSON") from None
            except RecursionError:
                raise RunFormatError(f"line {number} is nested too deeply to read; not an oracle journal") from None
            if number == 1 and (not isinstance(record, dict) or record.get("journal") != FORMAT):
                raise RunFormatError("not an oracle journal (its first line names no journal format 1)")
            try:          # checked against the schema before any field is read: a bad line is named, not a crash
                validate("journal", record)
            except SchemaError as error:
                raise RunFormatError(f"line {number}: {error}") from None
            if number == 1:
                header = record
            elif "verdict" in record:
                verdicts.append(Verdict.from_dict(record["verdict"]))
            elif "end" in record:
                end = record["end"]
    if header is None:
        raise RunFormatError("an empty journal")
    run = Run.from_dict({**header["run"], "verdicts": []})
    run.verdicts = order(verdicts, header["planned"])
    judged = {v.id for v in verdicts}
    if end is None:
        run.incomplete, run.stopped_because = True, KILLED
        run.missing = [i for i in header["planned"] if i not in judged]
        run.duration = sum(v.duration for v in verdicts)
    else:
        run.duration, run.incomplete = end["duration"], end["incomplete"]
        run.stopped_because, run.missing = end["stopped_because"], end["missing"]
    return run


def order(verdicts: list[Verdict], planned: list[str]) -> list[Verdict]:
    """Verdicts in plan order, whichever worker finished first: reports are the same for any -n."""
    rank = {vid: i for i, vid in enumerate(planned)}
    return sorted(verdicts, key=lambda v: rank.get(v.id, len(rank)))
