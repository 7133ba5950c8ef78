"""JSON Schemas of the files the oracle writes and reads back, and the checks made on load.

    run       run.json, or the file of --json: a whole run
    verdict   one verdict: an entry of a run's verdicts
    journal   one line of journal.jsonl: its header, a verdict, or its end
    baseline  known failures, written by `oracle baseline`
    pinned    cases replayed before the search (`oracle pin`, the local example database)

Every file is checked against its schema before any code reads it, so a file that is not what
it claims to be is one line naming the file and the place in it ("verdicts/0/status: 'maybe' is
not one of ..."), never a traceback from deep inside a report.
"""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

__all__ = ["SchemaError", "validate", "schema", "load_json", "KINDS", "MAX_DEPTH"]

KINDS = ("run", "verdict", "journal", "baseline", "pinned")
MAX_DEPTH = 64            # nesting deeper than any file the oracle writes; deeper is refused before it is walked


class SchemaError(ValueError):
    """Data that is not what its schema says: a user's file, so a user's mistake."""


def schema(kind: str) -> dict:
    """The JSON Schema of one kind of file, as shipped in this package."""
    if kind not in KINDS:
        raise ValueError(f"unknown schema {kind!r}; there are {', '.join(KINDS)}")
    return json.loads(resources.files(__name__).joinpath(f"{kind}.schema.json").read_text(encoding="utf-8"))


@cache
def _validator(kind: str):
    from jsonschema import Draft202012Validator

    document = schema(kind)
    # The verdict schema inlined where it is referred to: resolving the $ref per verdict costs a third of the time.
    verdict = {k: v for k, v in schema("verdict").items() if k not in ("$id", "$schema")}
    if kind == "run":
        document["properties"]["verdicts"]["items"] = verdict
    elif kind == "journal":
        document["oneOf"][1]["properties"]["verdict"] = verdict
    return Draft202012Validator(document)


def depth(data: Any) -> int:
    """How deeply lists and objects nest in `data`, walked without recursion."""
    deepest, stack = 0, [(data, 1)]
    while stack:
        value, level = stack.pop()
        if isinstance(value, (dict, list)):
            deepest = max(deepest, level)
            if level > MAX_DEPTH:
                return level
            stack.extend((v, level + 1) for v in (value.values() if isinstance(value, dict) else value))
    return deepest


def validate(kind: str, data: Any) -> Any:
    """`data` if it is a valid `kind`; SchemaError with the first problem, where it is, in one line otherwise."""
    if depth(data) > MAX_DEPTH:
        raise SchemaError(f"nested more than {MAX_DEPTH} levels deep; not an oracle {kind} file")
    from jsonschema.exceptions import best_match

    error = best_match(_validator(kind).iter_errors(data))   # inside a oneOf, the branch that came closest
    if error is None:
        return data
    error = _furthest_branch(error)
    where = "/".join(map(str, error.absolute_path))
    message = error.message if len(error.message) <= 200 else error.message[:200] + "…"
    raise SchemaError(f"{where + ': ' if where else ''}{message} (not an oracle {kind} file of this version)")


def _furthest_branch(error):
    """Inside a oneOf, the error of the one branch that got furthest into the data, when one did.

    best_match stops at the oneOf when its branches' errors tie ("'end' misses 'incomplete'" against
    "'verdict' is required"); a journal line holding "end" is judged as an end line.
    """
    from jsonschema.exceptions import best_match

    while error.validator in ("oneOf", "anyOf") and error.context:
        deepest = max(len(e.absolute_path) for e in error.context)
        furthest = [e for e in error.context if len(e.absolute_path) == deepest]
        if deepest == len(error.absolute_path) or len({e.schema_path[0] for e in furthest}) != 1:
            break
        error = best_match(furthest)
    return error


def load_json(path: str | Path, kind: str) -> Any:
    """Read, parse and validate one file; SchemaError for malformed content, OSError for the file itself."""
    text = Path(path).read_text(encoding="utf-8")
    try:
        data = json.loads(text)
    except json.JSONDecodeError as error:
        raise SchemaError(f"not JSON: {error}") from None
    except RecursionError:
        raise SchemaError(f"nested too deeply to read; not an oracle {kind} file") from None
    return validate(kind, data)
