"""Watching a job from outside its worker, and the verdict of a job that did not end by itself.

A job's worker writes the case it is judging, its pid and its phase to the job's heartbeat
file before each case; `overrun` reads it every POLL seconds and says why the job must be
stopped: a case past the hard limit, the worker's memory past the limit, or a worker gone
(pebble reports a worker that died with a non-zero status itself, not one that ended with 0).
`outcome` turns however the job's future ended into its verdict, with the evidence: exit status
or signal, the case from the heartbeat, the escaped tail of what the implementation printed.
"""

from __future__ import annotations

import json
import os
import signal
import time
import zlib
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..result import CaseRecord, Verdict
from . import pool as pools
from .worker import Job

__all__ = [
    "DEFAULT_MEMORY_MB",
    "LOAD_SECONDS",
    "Limits",
    "Running",
    "heartbeat_age",
    "how",
    "outcome",
    "overrun",
    "printed_suffix",
    "read_heartbeat",
    "tail",
]

DEFAULT_MEMORY_MB = 4096
LOAD_SECONDS = 120.0            # importing a target (and JAX) may take this long
OUTPUT_LINES = 6                # lines of what an implementation printed kept as evidence
OUTPUT_WIDTH = 160
EXIT_ZERO_GRACE = 1.0           # seconds a dead worker's job waits for pebble to report a non-zero status


@dataclass(frozen=True)
class Limits:
    """Hard limits the supervisor enforces from outside the worker."""

    case_seconds: float         # one case (every call it makes) may take this long
    memory_mb: int | None       # resident memory of one worker
    load_seconds: float = LOAD_SECONDS

    @classmethod
    def for_timeout(cls, timeout: float, memory_mb: int | None) -> Limits:
        # A case calls the implementation several times, each under the soft per-call limit.
        return cls(case_seconds=3 * timeout + 1, memory_mb=memory_mb, load_seconds=max(LOAD_SECONDS, 3 * timeout))


@dataclass
class Running:
    job: Job
    executor: Any
    why: dict | None = None     # set when the supervisor cancelled it: timeout, memory, or exit status 0
    dead_since: float | None = None


def heartbeat_age(path: str) -> float | None:
    try:
        return time.time() - os.stat(path).st_mtime
    except OSError:
        return None


def read_heartbeat(path: str | None, attempts: int = 3) -> dict:
    """The record a worker last wrote over the heartbeat file ("crc32 length json", padded), or {}.

    The worker rewrites the file in place, so a read can meet a record half written: its checksum
    then fails and the file is read again a moment later.
    """
    if not path:
        return {}
    for attempt in range(attempts):
        if attempt:
            time.sleep(0.001)
        try:
            data = Path(path).read_bytes()
            crc, length, rest = data.split(b" ", 2)
            text = rest[:int(length)]
            if len(text) == int(length) and zlib.crc32(text) == int(crc, 16):
                return json.loads(text)
        except (OSError, ValueError):
            pass
    return {}


def overrun(state: Running, limits: Limits) -> dict | None:
    """Why a running job must be stopped now (a case past the hard limit, memory past the limit, its worker
    gone), or None."""
    job = state.job
    age = heartbeat_age(job.heartbeat)
    if age is None:
        return None               # not started: the worker is still coming up
    beat = read_heartbeat(job.heartbeat)
    if beat.get("pid") and not _alive(beat["pid"]):
        # pebble reports a worker that died with a non-zero status on its future; one that ended
        # with status 0 (os._exit(0)) it only replaces, so the supervisor reports it.
        state.dead_since = state.dead_since or time.monotonic()
        if time.monotonic() - state.dead_since > EXIT_ZERO_GRACE:
            return {"fault": "exit", "exit_status": 0, **beat}
        return None
    limit = limits.load_seconds if beat.get("phase") == "loading" else limits.case_seconds
    if age > limit:
        return {"fault": "timeout", "limit": limit, **beat}
    if limits.memory_mb and beat.get("pid"):
        rss = _resident_mb(beat["pid"])
        if rss is not None and rss > limits.memory_mb:
            return {"fault": "memory", "limit": limits.memory_mb, "used": round(rss), **beat}
    return None


def _alive(pid: int) -> bool:
    try:
        import psutil

        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except Exception:  # noqa: BLE001 - NoSuchProcess: gone and reaped
        return False


def _resident_mb(pid: int) -> float | None:
    try:
        import psutil

        return psutil.Process(pid).memory_info().rss / 2**20
    except Exception:  # noqa: BLE001 - the worker may be gone already
        return None


# --------------------------------------------------------------------------- verdicts for faults

def outcome(future: Future, state: Running, limits: Limits) -> Verdict | None:
    job = state.job
    if future.cancelled():
        why = state.why or read_heartbeat(job.heartbeat)
        if why.get("fault") == "exit":
            return _fault_verdict(job, "ended the worker process (exit status 0)", why)
        if why.get("fault") == "memory":
            what = f"used {why['used']} MB, more than the worker's limit of {why['limit']} MB (--memory-limit)"
        else:
            limit = why.get("limit", limits.case_seconds)
            what = f"did not finish one case within {limit:g} s; its worker was stopped"
            why.setdefault("fault", "timeout")
        return _fault_verdict(job, what, why)
    error = future.exception()
    if error is None:
        return future.result()
    code = pools.exit_code(error)
    beat = read_heartbeat(job.heartbeat)
    if code is not None:
        fault = "signal" if code < 0 else "exit"
        return _fault_verdict(job, f"ended the worker process ({how(code)})",
                              {**beat, "fault": fault, "exit_status": code if code >= 0 else None,
                               "signal": _signal_name(-code) if code < 0 else None})
    return _fault_verdict(job, f"could not be judged: {type(error).__name__}: {error}", {**beat, "fault": "oracle"},
                          check="oracle")


def how(code: int) -> str:
    return f"killed by signal {_signal_name(-code)}" if code < 0 else f"exit status {code}"


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return str(number)


def _fault_verdict(job: Job, what: str, evidence: dict, check: str = "call") -> Verdict:
    from ..run import reproduce_command

    info, settings = job.info, job.settings
    case = CaseRecord(**evidence["case"]) if evidence.get("case") else None
    when = (f" while judging the case {_case_text(case)}" if case is not None else
            " while the plugin was being loaded" if evidence.get("phase") == "loading" else "")
    printed = tail(job.output)
    facts = {k: evidence[k] for k in ("fault", "exit_status", "signal", "limit", "used", "phase") if k in evidence}
    facts["output"] = printed
    return Verdict(plugin=info.plugin, op=info.op, dtype=job.dtype, status="errored", implementation=info.label,
                   convention=info.convention, check=check, message=f"the implementation {what}{when}"
                   + printed_suffix(printed), case=case, seed=settings.get("seed"), source=info.source,
                   target=info.target, facts=facts,
                   reproduce=reproduce_command(info, job.dtype, settings.get("seed", 0), settings.get("examples", 0)))


def _case_text(case: CaseRecord) -> str:
    dims = ", ".join(f"{k}={v}" for k, v in case.dims.items())
    parts = [dims] if dims else []
    if case.batch:
        parts.append(f"batch={tuple(case.batch)}")
    parts += [f"{k}={v!r}" for k, v in case.hyper.items()]
    parts.append(f"dtype {case.dtype}, case seed {case.seed}")
    return "(" + "; ".join(parts) + ")"


def tail(path: str | None) -> list[str]:
    """The last lines the implementation printed, escaped (no control characters) and cut to a readable width."""
    if not path:
        return []
    try:
        with open(path, "rb") as handle:
            handle.seek(max(0, os.path.getsize(path) - 8192))
            data = handle.read()
    except OSError:
        return []
    lines = data.decode("utf-8", errors="backslashreplace").splitlines()[-OUTPUT_LINES:]
    out = []
    for line in lines:
        text = "".join(c if c.isprintable() or c == "\t" else c.encode("unicode_escape").decode("ascii") for c in line)
        out.append(text if len(text) <= OUTPUT_WIDTH else text[:OUTPUT_WIDTH - 1] + "…")
    return out


def printed_suffix(lines: list[str]) -> str:
    return ("\nit printed (last lines):\n" + "\n".join(f"  | {line}" for line in lines)) if lines else ""
