"""The supervisor: plans the work, hands jobs to workers, and turns every way a job can end into a verdict.

    targets --discover (in a worker)--> descriptors --plan--> jobs --workers--> verdicts --> journal, Run

It never imports or calls user code: targets are imported by a worker, which sends back plain
descriptors, and plugin objects travel to the workers by value. While a job runs it watches
the job's heartbeat file: a case that runs past the hard limit, or a worker that grows past
the memory limit, has its future cancelled, which kills the worker (pebble starts another).
A worker that dies on its own (sys.exit in a C extension, os._exit, a segfault) surfaces as
an error on its future. Each of these becomes an errored verdict of that implementation with
the evidence: the exit status or signal, the case being judged, the tail of what it printed.
"""

from __future__ import annotations

import atexit
import json
import os
import shutil
import signal
import sys
import tempfile
import time
from collections.abc import Sequence
from concurrent.futures import FIRST_COMPLETED, Future, wait
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Self

from ..errors import TargetError, UsageError
from ..result import CaseRecord, Run, Verdict
from . import pool as pools
from .journal import Journal, order
from .worker import (
    ImplInfo,
    ImplRef,
    Job,
    PluginInfo,
    describe,
    discover_job,
    judge_job,
    pickle_plugin,
)

__all__ = ["DEFAULT_MEMORY_MB", "Limits", "Terminated", "execute", "parse_shard", "resolve_workers"]

POLL = 0.1                      # seconds between looks at the running jobs
DEFAULT_MEMORY_MB = 4096
LOAD_SECONDS = 120.0            # importing a target (and JAX) may take this long
OUTPUT_LINES = 6                # lines of what an implementation printed kept as evidence
OUTPUT_WIDTH = 160
EXIT_ZERO_GRACE = 1.0           # seconds a dead worker's job waits for pebble to report a non-zero status


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised in the supervisor's main thread: the run ends as on Ctrl-C, as 'terminated'."""


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


def resolve_workers(requested: int | str | None, verdicts: int) -> int:
    """How many workers: as asked, or (None, 'auto') the cores available, never more than the verdicts."""
    if requested in (None, "auto"):
        return max(1, min(pools.available_cores(), verdicts))
    return min(int(requested), max(1, verdicts)) if requested else 0


def parse_shard(text: str | None) -> tuple[int, int] | None:
    if text is None:
        return None
    try:
        k, n = (int(part) for part in str(text).split("/"))
    except ValueError:
        raise UsageError(f"--shard takes K/N (the K-th of N parts, from 1), got {text!r}") from None
    if not 1 <= k <= n:
        raise UsageError(f"--shard {text}: K must be from 1 to N")
    return k, n


# --------------------------------------------------------------------------- pools kept for the process

_kept: list[pools.WorkerPool] = []


def _pools_for(workers: int, keep: bool) -> list[pools.WorkerPool]:
    """Worker pools with `workers` processes in all: the process's kept pools first, then new ones."""
    chosen, capacity = [], 0
    if keep:
        for kept in _kept:
            if capacity < workers:
                chosen.append(kept)
                capacity += kept.workers
    if capacity < workers:
        fresh = pools.WorkerPool(workers - capacity)
        chosen.append(fresh)
        if keep:
            _kept.append(fresh)
    return chosen


def shutdown_kept() -> None:
    while _kept:
        _kept.pop().shutdown(wait=False, cancel_futures=True)


atexit.register(shutdown_kept)


# --------------------------------------------------------------------------- one run

@dataclass
class _Running:
    job: Job
    executor: Any
    why: dict | None = None     # set when the supervisor cancelled it: timeout, memory, or exit status 0
    dead_since: float | None = None


@dataclass
class _Slots:
    """Executors and how many jobs each may run at once."""

    executors: list[Any]
    busy: dict[int, int] = field(default_factory=dict)

    def free(self) -> Any | None:
        for executor in self.executors:
            if self.busy.get(id(executor), 0) < max(1, executor.workers):
                return executor
        return None

    def take(self, executor: Any) -> None:
        self.busy[id(executor)] = self.busy.get(id(executor), 0) + 1

    def give(self, executor: Any) -> None:
        self.busy[id(executor)] -= 1


def _describe_objects(plugin: Any, inline: bool) -> PluginInfo:
    if inline:
        return describe(plugin)
    try:
        data, key = pickle_plugin(plugin)
    except Exception as error:  # noqa: BLE001 - whatever pickling raised, the user's object is the cause
        raise UsageError(f"plugin {plugin.name!r} cannot be sent to a worker process ({type(error).__name__}: "
                         f"{error}); define its code at module level, or judge in this process with workers=0") from None
    return describe(plugin, lambda impl: ImplRef(impl.plugin, impl.label, None, data, key))


def execute(targets: Sequence[Any], ops: Sequence[str] | None, dtypes: Sequence[str], settings: dict[str, Any], *,
            seed: int, workers: int | str | None = None, shard: str | None = None, journal: str | None = None,
            time_budget: float | None = None, listener: Any = None, memory_limit: int | None = None,
            executor: str | None = None, scheduler: str | None = None, keep_pool: bool = True,
            run_settings: dict[str, Any] | None = None) -> Run:
    """Discover, plan and judge every (implementation, dtype); the Run, complete or marked incomplete."""
    from ..run import plan, versions

    shard_of = parse_shard(shard)
    inline = workers == 0 and executor in (None, "processes")
    limits = Limits.for_timeout(settings.get("timeout") or 10.0, memory_limit or DEFAULT_MEMORY_MB)
    scratch = Path(tempfile.mkdtemp(prefix="oracle-run-"))
    loader: list[pools.WorkerPool] = []
    local: dict[tuple[str, str], Any] = {}
    chosen: list[Any] = []
    try:
        if executor == "dask":
            if not scheduler:
                raise UsageError("--executor dask needs --scheduler ADDRESS (e.g. tcp://127.0.0.1:8786)")
            chosen = [pools.dask_executor(scheduler)]
        # Before discovery the number of verdicts is unknown: start as many workers as could be used, so
        # they import JAX while the first of them imports the targets.
        size = resolve_workers(workers, 1 << 30) if not inline else 0
        infos, loader = _discover(targets, inline, executor, chosen, local, scratch, limits, keep_pool, size)
        work = plan(infos, ops, dtypes)
        if shard_of is not None:
            k, n = shard_of
            work = work[k - 1::n]
        planned = [f"{info.plugin}/{info.label}/{dtype}" for info, dtype in work]
        run = Run(seed=seed, targets=[p.target or p.name for p in infos], versions=versions(),
                  settings=dict(run_settings or {}, **({"shard": f"{shard_of[0]}/{shard_of[1]}"} if shard_of else {})),
                  started=datetime.now(UTC).isoformat(timespec="seconds"))
        book = Journal(journal, run, planned) if journal else None
        if inline:
            chosen = [pools.InlineExecutor()]
        elif executor == "dask":
            pass                  # made before discovery: the cluster imports the targets too
        else:
            count = resolve_workers(workers, len(work))
            if keep_pool:
                chosen = _pools_for(count, True)
            else:   # the worker that imported the targets judges too
                extra = count - sum(p.workers for p in loader)
                chosen = loader + ([pools.WorkerPool(extra)] if extra > 0 else [])
        _notify(listener, "started", len(work))
        clock = time.perf_counter()
        verdicts = _judge(work, settings, chosen, local, scratch, limits, listener, book, time_budget, clock, run)
        run.verdicts = order(verdicts, planned)
        judged = {v.id for v in verdicts}
        run.missing = [vid for vid in planned if vid not in judged]
        run.duration = time.perf_counter() - clock
        if book is not None:
            book.end(run)
        return run
    finally:
        if not keep_pool:
            for executor_ in {id(e): e for e in chosen + loader}.values():
                executor_.shutdown(wait=True, cancel_futures=True)   # reaped: their CPU time is counted
        elif executor == "dask":
            for executor_ in chosen:
                executor_.shutdown(wait=True)
        shutil.rmtree(scratch, ignore_errors=True)


def _discover(targets: Sequence[Any], inline: bool, executor: str | None, remote: list, local: dict, scratch: Path,
              limits: Limits, keep_pool: bool, size: int = 1) -> tuple[list[PluginInfo], list[pools.WorkerPool]]:
    """Descriptors of the targets' plugins, each target imported in a worker (here only for -n 0)."""
    from ..plugin import Plugin

    infos: list[PluginInfo] = []
    loader: list[pools.WorkerPool] = []
    for target in targets:
        if isinstance(target, Plugin):
            infos.append(_describe_objects(target, inline))
            local.update({(i.plugin, i.label): i for i in target.implementations})
        elif not isinstance(target, str):
            raise UsageError(f"a target is a Plugin or a name, module or .py path; got {type(target).__name__}")
        elif inline:
            from ..plugin import discover

            found = discover(target)
            local.update({(i.plugin, i.label): i for p in found for i in p.implementations})
            infos.extend(describe(p) for p in found)
        elif executor == "dask":
            infos.extend(remote[0].submit(discover_job, target, None, None, os.getcwd(), tuple(sys.path)).result())
        else:
            loader = loader or _pools_for(max(1, size), keep_pool)
            infos.extend(_discover_in_worker(target, loader[0], scratch, limits))
    return infos, loader


def discover_targets(targets: Sequence[Any], workers: int | str | None = None) -> list[PluginInfo]:
    """The plugins the targets define, as descriptors, imported in a kept worker (in this process for 0 workers).

    For the pytest plugin's collection: the items it makes hold descriptors, never user code.
    """
    inline = workers == 0
    scratch = Path(tempfile.mkdtemp(prefix="oracle-discover-"))
    try:
        return _discover(list(targets), inline, None, [], {}, scratch, Limits.for_timeout(10.0, None), True)[0]
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def judge_in_worker(info: ImplInfo, dtype: str, settings: dict[str, Any], memory_limit: int | None = None) -> Verdict:
    """One verdict, judged in a kept worker under the same watch as a run's: for one pytest item."""
    limits = Limits.for_timeout(settings.get("timeout") or 10.0, memory_limit or DEFAULT_MEMORY_MB)
    scratch = Path(tempfile.mkdtemp(prefix="oracle-item-"))
    run = Run(seed=settings.get("seed", 0))
    try:
        verdicts = _judge([(info, dtype)], settings, _pools_for(1, True), {}, scratch, limits, None, None, None,
                          time.perf_counter(), run)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    if not verdicts:
        raise KeyboardInterrupt   # the only way _judge returns nothing without a time budget
    return verdicts[0]


def _notify(listener: Any, event: str, *args: Any) -> None:
    method = getattr(listener, event, None)
    if method is not None:
        method(*args)


def _discover_in_worker(target: str, pool: pools.WorkerPool, scratch: Path, limits: Limits) -> list[PluginInfo]:
    """Import the target in a worker; a target that ends, hangs or crashes the worker is a one-line TargetError."""
    beat, out = str(scratch / "discover.beat"), str(scratch / "discover.out")
    future = pool.submit(discover_job, target, beat, out, os.getcwd(), tuple(sys.path))
    while True:
        done, _ = wait([future], timeout=POLL)
        if done:
            break
        age = _age(beat)
        if age is not None and age > limits.load_seconds:
            future.cancel()
            raise TargetError(f"loading {target!r} did not finish within {limits.load_seconds:g} s")
    error = future.exception()
    if error is None:
        return future.result()
    code = pools.exit_code(error)
    if code is not None:
        raise TargetError(f"loading {target!r} ended the worker process ({_how(code)})"
                          + _printed_suffix(_tail(out))) from None
    raise error


def _age(path: str) -> float | None:
    try:
        return time.time() - os.stat(path).st_mtime
    except OSError:
        return None


def _beat(path: str | None) -> dict:
    if not path:
        return {}
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


def _judge(work, settings, executors, local, scratch, limits, listener, book, time_budget, clock, run) -> list[Verdict]:
    here, path = os.getcwd(), tuple(sys.path)
    pending = [Job(i, info, dtype, dict(settings), cwd=here, path=path) for i, (info, dtype) in enumerate(work)]
    pending.reverse()
    slots = _Slots(executors)
    running: dict[Future, _Running] = {}
    verdicts: list[Verdict] = []
    try:
        while pending or running:
            if time_budget is not None and time.perf_counter() - clock > time_budget:
                run.incomplete, run.stopped_because = True, "time budget"
                break
            executor = slots.free() if pending else None
            while executor is not None and pending:
                job = pending.pop()
                watched = getattr(executor, "kills_on_cancel", False)
                if watched:
                    job = replace(job, heartbeat=str(scratch / f"job{job.index}.beat"),
                                  output=str(scratch / f"job{job.index}.out"))
                _notify(listener, "starting", job.info, job.dtype)
                if isinstance(executor, pools.InlineExecutor):
                    future = executor.submit(_judge_inline, job, local)
                else:
                    future = executor.submit(judge_job, job)
                running[future] = _Running(job, executor)
                slots.take(executor)
                executor = slots.free()
            done, _ = wait(list(running), timeout=POLL, return_when=FIRST_COMPLETED)
            for future in done:
                state = running.pop(future)
                slots.give(state.executor)
                verdict = _outcome(future, state, limits)
                if verdict is None:       # the time budget ran out inside it
                    run.incomplete, run.stopped_because = True, "time budget"
                    continue
                verdicts.append(verdict)
                if book is not None:
                    book.verdict(verdict)
                _notify(listener, "finished", verdict)
            for future, state in running.items():
                if state.why is None and getattr(state.executor, "kills_on_cancel", False):
                    state.why = _overrun(state, limits)
                    if state.why is not None:
                        future.cancel()
    except KeyboardInterrupt as stop:
        previous = _ignore_interrupts()
        try:
            run.incomplete = True
            run.stopped_because = "terminated" if isinstance(stop, Terminated) else "interrupted"
            for future in running:
                future.cancel()
        finally:
            _restore_interrupts(previous)
        return verdicts
    for future in running:        # stopped by the time budget: what is still running is not judged
        future.cancel()
    return verdicts


def _ignore_interrupts() -> Any:
    try:
        return signal.signal(signal.SIGINT, signal.SIG_IGN)
    except ValueError:            # not the main thread
        return None


def _restore_interrupts(previous: Any) -> None:
    if previous is not None:
        signal.signal(signal.SIGINT, previous)


def _judge_inline(job: Job, local: dict) -> Verdict | None:
    from ..run import OutOfTime, judge

    try:
        return judge(local[(job.info.plugin, job.info.label)], job.dtype, **job.settings)
    except OutOfTime:
        return None


def _overrun(state: _Running, limits: Limits) -> dict | None:
    """Why a running job must be stopped now (a case past the hard limit, memory past the limit, its worker
    gone), or None."""
    job = state.job
    age = _age(job.heartbeat)
    if age is None:
        return None               # not started: the worker is still coming up
    beat = _beat(job.heartbeat)
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

def _outcome(future: Future, state: _Running, limits: Limits) -> Verdict | None:
    job = state.job
    if future.cancelled():
        why = state.why or _beat(job.heartbeat)
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
    beat = _beat(job.heartbeat)
    if code is not None:
        fault = "signal" if code < 0 else "exit"
        return _fault_verdict(job, f"ended the worker process ({_how(code)})",
                              {**beat, "fault": fault, "exit_status": code if code >= 0 else None,
                               "signal": _signal_name(-code) if code < 0 else None})
    return _fault_verdict(job, f"could not be judged: {type(error).__name__}: {error}", {**beat, "fault": "oracle"},
                          check="oracle")


def _how(code: int) -> str:
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
    printed = _tail(job.output)
    facts = {k: evidence[k] for k in ("fault", "exit_status", "signal", "limit", "used", "phase") if k in evidence}
    facts["output"] = printed
    return Verdict(plugin=info.plugin, op=info.op, dtype=job.dtype, status="errored", implementation=info.label,
                   convention=info.convention, check=check, message=f"the implementation {what}{when}"
                   + _printed_suffix(printed), case=case, seed=settings.get("seed"), source=info.source,
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


def _tail(path: str | None) -> list[str]:
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


def _printed_suffix(lines: list[str]) -> str:
    return ("\nit printed (last lines):\n" + "\n".join(f"  | {line}" for line in lines)) if lines else ""


# --------------------------------------------------------------------------- signals of the command line

class stop_on_signals:
    """`oracle check`: SIGTERM ends the run as Ctrl-C does; after the first, both are ignored until exit.

    So reports are still written, and a second Ctrl-C while they are cannot print a traceback.
    """

    def __enter__(self) -> Self:
        self.previous = {number: signal.signal(number, self._stop) for number in (signal.SIGINT, signal.SIGTERM)}
        return self

    @staticmethod
    def _stop(number: int, frame: Any) -> None:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        raise Terminated() if number == signal.SIGTERM else KeyboardInterrupt()

    def __exit__(self, *exc: object) -> None:
        pass    # the command ends soon; what was ignored stays ignored
