"""Failing cases kept between runs: replayed before the search, as hypothesis replays its database.

A case is reproducible from its structure and seed alone (dims, batch dims, hyper-parameters and
the case seed: the arrays are drawn from it), so that is all a saved case holds.

    .oracle/examples/<key>.json   the local database: the last failing case of each verdict,
                                  written by `oracle check`, forgotten once the verdict passes
    oracle-pinned.json            pinned regression cases (`oracle pin RUN.json LABEL`), replayed
                                  by `examples_from` ([tool.oracle], assert_gradients, --examples-from)

Both are files of the `pinned` schema, keyed by 'plugin::implementation::dtype'. judge() takes
the pinned files and the database folder as settings (examples_from=, examples_db=), so they
reach a worker process like any other setting.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any, Sequence

from .result import Run, Verdict, write_atomic

__all__ = ["DEFAULT_DB", "DEFAULT_PINNED", "key", "replay", "remember", "pin", "read", "PinError"]

DEFAULT_DB = ".oracle/examples"
DEFAULT_PINNED = "oracle-pinned.json"
FORMAT_VERSION = 1
KEPT_PER_KEY = 20            # pinned cases per verdict; more is a sign of pinning in a loop


class PinError(ValueError):
    """A pin that cannot be made as asked: a user's mistake."""


def key(plugin: str, implementation: str, dtype: str) -> str:
    return f"{plugin}::{implementation}::{dtype}"


def _db_file(db: str, entry: str) -> Path:
    digest = hashlib.sha1(entry.encode("utf-8", "surrogatepass")).hexdigest()[:20]
    return Path(db) / f"{digest}.json"


def read(path: str | os.PathLike) -> dict[str, list[dict]]:
    """The examples of one file by key; {} for a file that does not exist. SchemaError when malformed."""
    from .schemas import load_json

    try:
        return dict(load_json(path, "pinned")["examples"])
    except FileNotFoundError:
        return {}


def _write(path: Path, examples: dict[str, list[dict]]) -> None:
    entries = ",\n".join(f" {json.dumps(k)}: {json.dumps(examples[k])}" for k in sorted(examples))
    body = "{\n" + entries + "\n}" if entries else "{}"
    write_atomic(path, f'{{"version": {FORMAT_VERSION}, "examples": {body}}}\n')


def _case_of(verdict: Verdict) -> dict[str, Any] | None:
    case = verdict.case
    if case is None:
        return None
    return {"dims": dict(case.dims), "batch": list(case.batch), "hyper": dict(case.hyper), "seed": case.seed}


def replay(impl: Any, dtype: str, pinned: Sequence[str | os.PathLike] = (), db: str | os.PathLike | None = None) -> list:
    """The cases to try first for (implementation, dtype): pinned ones, then the last failure. Never raises."""
    from .cases import build_case

    entry = key(impl.plugin, impl.label, dtype)
    sources = [str(p) for p in pinned or ()]
    if db:
        sources.append(str(_db_file(str(db), entry)))
    found, seen = [], set()
    for source in sources:
        try:
            saved = read(source).get(entry, [])
        except Exception:  # noqa: BLE001 - a damaged database is ignored, as hypothesis ignores one
            continue
        for record in saved:
            identity = json.dumps(record, sort_keys=True)
            if identity in seen:
                continue
            seen.add(identity)
            try:
                case = build_case(impl.spec, dtype, record["dims"], record["batch"], record["hyper"], record["seed"])
            except Exception:  # noqa: BLE001 - a case of an older spec may no longer fit it
                continue
            if case is not None:
                found.append(case)
    return found


def remember(verdict: Verdict, db: str | os.PathLike | None) -> None:
    """Keep the shrunk case of a failing verdict in the database folder `db`; forget it once the verdict passes."""
    if not db or verdict.status == "skipped":
        return
    entry = key(verdict.plugin, verdict.implementation, verdict.dtype)
    path = _db_file(str(db), entry)
    case = _case_of(verdict) if verdict.status in ("failed", "errored") else None
    try:
        if case is not None:
            _write(path, {entry: [case]})
        elif verdict.status == "passed" and path.exists():
            path.unlink()
    except OSError:
        pass   # the database is a help; a read-only checkout must still run


def _find(run: Run, label: str) -> Verdict:
    """The failing verdict a LABEL names: its id (plugin/implementation/dtype), fingerprint or implementation."""
    failing = [v for v in run.verdicts if v.status in ("failed", "errored") and v.case is not None]
    for matches in ([v for v in failing if label in (v.id, v.fingerprint)],
                    [v for v in failing if v.implementation == label],
                    [v for v in failing if v.implementation.lower() == label.lower() or v.op == label]):
        if len(matches) == 1:
            return matches[0]
        if len(matches) > 1:
            raise PinError(f"{label!r} names {len(matches)} failing verdicts ({', '.join(v.id for v in matches)}); "
                           "name one by its id")
    known = ", ".join(v.id for v in failing) or "none"
    raise PinError(f"no failing verdict with a case is named {label!r} (failing: {known})")


def pin(run: Run, label: str, path: str | os.PathLike) -> tuple[Verdict, bool]:
    """Add the shrunk case of the verdict named `label` to the pinned file; (verdict, whether it was new)."""
    from .schemas import SchemaError

    verdict = _find(run, label)
    path = Path(path)
    try:
        examples = read(path)
    except SchemaError as error:
        raise PinError(f"{path}: {error}") from None
    entry = key(verdict.plugin, verdict.implementation, verdict.dtype)
    cases = list(examples.get(entry, []))
    case = _case_of(verdict)
    new = case not in cases
    if new:
        cases = (cases + [case])[-KEPT_PER_KEY:]
    examples[entry] = cases
    _write(path, examples)
    return verdict, new
