"""Executors that run jobs: worker processes (pebble), a dask cluster, or this very process.

All three sit behind `concurrent.futures.Executor` (submit, shutdown) and hand back ordinary
futures, so the supervisor does not care where a verdict is computed.

Why pebble: its ProcessPool kills the worker that runs a future when that future is cancelled
or times out, starts a replacement, and reports a worker that died on its own as
`ProcessExpired` (with the exit code or signal) on the future of the task it was running.
The standard library's ProcessPoolExecutor instead breaks the whole pool when one worker
dies and cannot stop a running task at all; loky restarts a broken pool but likewise cannot
cancel one running task. Workers are forked from a fork server that has imported the engine and
JAX without starting JAX (execution.forkserver), or spawned where that cannot be: JAX is not
fork-safe once it runs.

A spawned process (and one forked from the fork server) normally runs the parent's main module
again (as `__mp_main__`), so that objects defined there can be unpickled. The workers never need
it: plugins reach them by value (cloudpickle) or by an importable name. Running it again would run
a user's script without an `if __name__ == "__main__":` guard once more in every worker, and start
its `oracle.check` there; so workers start without it (_started).
"""

from __future__ import annotations

import multiprocessing
import multiprocessing.context
import multiprocessing.spawn
import os
import sys
import threading
from collections.abc import Callable
from concurrent.futures import Executor, Future
from typing import Any

from . import forkserver

__all__ = ["InlineExecutor", "WorkerPool", "available_cores", "dask_executor", "exit_code"]


def available_cores() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:
        return max(1, os.cpu_count() or 1)


def exit_code(error: BaseException | None) -> int | None:
    """The exit code of the worker that died running a job (negative: the signal), else None."""
    from pebble import ProcessExpired

    return error.exitcode if isinstance(error, ProcessExpired) else None


_launching = threading.local()     # set while this thread starts a worker process
_MAIN_KEYS = ("init_main_from_name", "init_main_from_path")


def _preparation_data(name: str, _original=multiprocessing.spawn.get_preparation_data) -> dict:
    data = _original(name)
    if getattr(_launching, "worker", False):
        for key in _MAIN_KEYS:
            data.pop(key, None)
    return data


def _started(start: Callable) -> Callable:
    """A process class's _Popen that starts it without the parent's main module (_preparation_data)."""
    def _Popen(process_obj):
        _launching.worker = True
        try:
            return start(process_obj)
        finally:
            _launching.worker = False
    return staticmethod(_Popen)


class _SpawnedWorker(multiprocessing.context.SpawnProcess):
    """A spawned process that does not run the parent's main module again."""

    _Popen = _started(multiprocessing.context.SpawnProcess._Popen)


class _ForkedWorker(multiprocessing.context.ForkServerProcess):
    """A process forked from the fork server that does not run the parent's main module again."""

    _Popen = _started(multiprocessing.context.ForkServerProcess._Popen)


class _SpawnContext(multiprocessing.context.SpawnContext):
    Process = _SpawnedWorker


class _ForkServerContext(multiprocessing.context.ForkServerContext):
    Process = _ForkedWorker


def _worker_context() -> multiprocessing.context.BaseContext:
    # The standard library reads get_preparation_data from its module when it starts a process;
    # the wrapper changes nothing for processes other than the oracle's workers.
    multiprocessing.spawn.get_preparation_data = _preparation_data
    return _ForkServerContext() if forkserver.usable() else _SpawnContext()


class WorkerPool(Executor):
    """N worker processes; cancelling a running future kills its worker, which is replaced."""

    kills_on_cancel = True

    def __init__(self, workers: int) -> None:
        from pebble import ProcessPool

        from .worker import initialize

        self.workers = workers
        self._pool = ProcessPool(max_workers=workers, initializer=initialize,
                                 initargs=(list(sys.path), os.getcwd(), dict(os.environ)), context=_worker_context())

    def submit(self, fn: Callable, /, *args: Any, **kwargs: Any) -> Future:
        return self._pool.schedule(fn, args=args, kwargs=kwargs)   # its cancel() kills a running worker

    @property
    def usable(self) -> bool:
        """False once pebble gave the pool up (a worker died while no task was running: "All workers expired")."""
        return self._pool.active

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        if cancel_futures:
            self._pool.stop()
        else:
            self._pool.close()
        if wait:
            self._pool.join()


class InlineExecutor(Executor):
    """`-n 0`: each job runs here, in the supervisor's own process, when submitted; for a debugger."""

    kills_on_cancel = False
    workers = 0

    def submit(self, fn: Callable, /, *args: Any, **kwargs: Any) -> Future:
        future: Future = Future()
        future.set_running_or_notify_cancel()
        try:
            future.set_result(fn(*args, **kwargs))
        except KeyboardInterrupt:
            raise
        except Exception as error:  # noqa: BLE001 - the caller reads it from the future
            future.set_exception(error)
        return future


class _DaskExecutor(Executor):
    """distributed's ClientExecutor, with the client it came from closed on shutdown."""

    kills_on_cancel = False

    def __init__(self, client: Any) -> None:
        self.client, self.inner = client, client.get_executor(pure=False)
        self.workers = max(1, sum(w.get("nthreads", 1) for w in client.scheduler_info()["workers"].values()))

    def submit(self, fn: Callable, /, *args: Any, **kwargs: Any) -> Future:
        return self.inner.submit(fn, *args, **kwargs)

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        self.inner.shutdown(wait=wait)
        self.client.close()


def dask_executor(scheduler: str) -> Executor:
    """An Executor on a dask.distributed scheduler; a one-line usage error when the extra is missing or unreachable."""
    from ..errors import UsageError

    try:
        from distributed import Client
    except ImportError:
        raise UsageError("--executor dask needs the dask extra: pip install 'gradient-oracle[dask]'") from None
    try:
        client = Client(scheduler, timeout="10s")
    except (OSError, TimeoutError) as error:
        raise UsageError(f"cannot reach the dask scheduler at {scheduler}: {error}") from None
    return _DaskExecutor(client)
