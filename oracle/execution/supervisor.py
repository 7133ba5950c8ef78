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
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Sequence
from concurrent.futures import FIRST_COMPLETED, Future, wait
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ..conventions import assignment_table
from ..errors import TargetError, UsageError
from ..result import Run, Verdict
from . import pool as pools
from .journal import Journal, order
from .naming import distinct, local_implementations
from .scheduling import Slots, next_job
from .signals import Terminated, ignore_interrupts, restore_interrupts
from .watch import (
    DEFAULT_MEMORY_MB,
    Limits,
    Running,
    heartbeat_age,
    how,
    outcome,
    overrun,
    printed_suffix,
    tail,
)
from .worker import (
    ImplInfo,
    ImplRef,
    Job,
    PluginInfo,
    describe,
    describe_all,
    discover_job,
    judge_job,
    pickle_plugin,
)

__all__ = ["DEFAULT_MEMORY_MB", "Limits", "Terminated", "execute", "parse_shard", "resolve_workers"]

POLL = 0.1                      # seconds between looks at the running jobs


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
    _kept[:] = [kept for kept in _kept if kept.usable]
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
    objects: list[Any] = []       # the Plugin each descriptor was made from here, None when made in a worker
    loader: list[pools.WorkerPool] = []
    for target in targets:
        if isinstance(target, Plugin):
            infos.append(_describe_objects(target, inline))
            objects.append(target)
        elif not isinstance(target, str):
            raise UsageError(f"a target is a Plugin or a name, module or .py path; got {type(target).__name__}")
        elif inline:
            from ..plugin import discover

            found = discover(target)
            infos.extend(describe_all(found))
            objects.extend(found)
        elif executor == "dask":
            infos.extend(remote[0].submit(discover_job, target, None, None, os.getcwd(), tuple(sys.path),
                                          assignment_table.in_force()).result())
        else:
            loader = loader or _pools_for(max(1, size), keep_pool)
            infos.extend(_discover_in_worker(target, loader[0], scratch, limits))
        objects.extend([None] * (len(infos) - len(objects)))
    infos = distinct(infos)     # two targets' plugins of one name (two assignments' cs231n.layers) are told apart
    local.update(local_implementations(infos, objects))
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
    future = pool.submit(discover_job, target, beat, out, os.getcwd(), tuple(sys.path), assignment_table.in_force())
    while True:
        done, _ = wait([future], timeout=POLL)
        if done:
            break
        age = heartbeat_age(beat)
        if age is not None and age > limits.load_seconds:
            future.cancel()
            raise TargetError(f"loading {target!r} did not finish within {limits.load_seconds:g} s")
    error = future.exception()
    if error is None:
        return future.result()
    code = pools.exit_code(error)
    if code is not None:
        raise TargetError(f"loading {target!r} ended the worker process ({how(code)})"
                          + printed_suffix(tail(out))) from None
    raise error


def _judge(work, settings, executors, local, scratch, limits, listener, book, time_budget, clock, run) -> list[Verdict]:
    here, path = os.getcwd(), tuple(sys.path)
    pending = [Job(i, info, dtype, dict(settings), cwd=here, path=path, conventions=assignment_table.in_force())
               for i, (info, dtype) in enumerate(work)]
    pending.reverse()
    slots = Slots(executors)
    running: dict[Future, Running] = {}
    verdicts: list[Verdict] = []

    def over_budget() -> bool:
        return time_budget is not None and time.perf_counter() - clock > time_budget

    def give_free_processes_a_job(inline_too: bool) -> None:
        executor = slots.free() if pending and not over_budget() else None
        while executor is not None and pending:
            inline = isinstance(executor, pools.InlineExecutor)
            if inline and not inline_too:
                return
            job = next_job(pending, slots.take(executor), {r.job.info.op for r in running.values()})
            if getattr(executor, "kills_on_cancel", False):
                job = replace(job, heartbeat=str(scratch / f"job{job.index}.beat"),
                              output=str(scratch / f"job{job.index}.out"))
            _notify(listener, "starting", job.info, job.dtype)
            future = executor.submit(_judge_inline, job, local) if inline else executor.submit(judge_job, job)
            running[future] = Running(job, executor)
            executor = slots.free()

    finished: list[tuple[Future, Running]] = []     # ended, verdict not yet kept

    def keep(future: Future, state: Running) -> None:
        verdict = outcome(future, state, limits)
        if verdict is None:       # the time budget ran out inside it
            run.incomplete, run.stopped_because = True, "time budget"
            return
        verdicts.append(verdict)
        if book is not None:
            book.verdict(verdict)
        _notify(listener, "finished", verdict)

    try:
        while pending or running:
            if over_budget():
                run.incomplete, run.stopped_because = True, "time budget"
                break
            give_free_processes_a_job(inline_too=True)
            done, _ = wait(list(running), timeout=POLL, return_when=FIRST_COMPLETED)
            finished[:] = [(future, running.pop(future)) for future in done]
            for future, state in finished:
                ended_itself = not future.cancelled() and future.exception() is None
                slots.give(state.executor, state.job.info.op if ended_itself else None)
            # The idle processes start their next job before the verdicts are journaled (an fsync each).
            # Not the inline executor: it would judge the next job before the last verdict is kept.
            give_free_processes_a_job(inline_too=False)
            while finished:
                keep(*finished.pop(0))
            for future, state in running.items():
                if state.why is None and getattr(state.executor, "kills_on_cancel", False):
                    state.why = overrun(state, limits)
                    if state.why is not None:
                        future.cancel()
    except KeyboardInterrupt as stop:
        previous = ignore_interrupts()
        try:
            run.incomplete = True
            run.stopped_because = "terminated" if isinstance(stop, Terminated) else "interrupted"
            for future in running:
                future.cancel()
            for future, state in finished:    # ended before the interrupt: kept all the same
                keep(future, state)
        finally:
            restore_interrupts(previous)
        return verdicts
    for future in running:        # stopped by the time budget: what is still running is not judged
        future.cancel()
    return verdicts


def _judge_inline(job: Job, local: dict) -> Verdict | None:
    from ..run import OutOfTime, judge

    try:
        return judge(local[(job.info.plugin, job.info.label)], job.dtype, **job.settings)
    except OutOfTime:
        return None
