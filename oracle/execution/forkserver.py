"""Worker processes forked from a fork server that has the engine and JAX already imported.

A spawned worker imports NumPy, JAX, hypothesis and the engine before its first job: about a
second of CPU, paid again by every worker a run starts and by each replacement of a worker that
was killed (a case past its time limit, a crash). The standard library's fork server imports
them once (PRELOAD, execution.preload) and forks each worker from that state. Forking is safe
there because the fork server has imported JAX but never used it: JAX's backends, and their
threads, start in each worker at its first job.

What a fork server's workers would otherwise get wrong, and how it is avoided:
- the environment is the fork server's, from when it started: workers take the supervisor's
  current one (worker.initialize); and JAX reads its own variables (JAX_*, XLA_*) when imported,
  so a pool whose supervisor has since changed them gets spawned workers (usable() is False);
- a fork server outlives its supervisor while workers hold its pipe: execution.lifeline ends it,
  by a request to Linux; on other systems workers are spawned as before.
"""

from __future__ import annotations

import multiprocessing
import multiprocessing.forkserver
import os
import sys
import threading

__all__ = ["PRELOAD", "jax_environment", "usable"]

# The lifeline first; then what every job needs (execution.preload: the catalogue, the engine, JAX).
# Never user code: a plugin is imported by the worker that judges it.
PRELOAD = ["oracle.execution.lifeline", "oracle.execution.preload"]
_JAX_PREFIXES = ("JAX_", "XLA_")
_CACHE_ENV = "JAX_COMPILATION_CACHE_DIR"   # read by the oracle at each judge(), not by JAX at import

_lock = threading.Lock()
_started_with: dict[str, str] | None = None    # the JAX variables of the fork server this process started


def jax_environment() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k.startswith(_JAX_PREFIXES) and k != _CACHE_ENV}


def usable() -> bool:
    """Whether this pool's workers can be forked from the fork server; started here (preloaded) if needed.

    Started from the calling thread: the fork server ends with the thread that started it (its
    lifeline), and pools are made by long-lived threads (the CLI's, pytest's)."""
    global _started_with
    # Linux only: elsewhere nothing ends the fork server with a killed supervisor (no PR_SET_PDEATHSIG).
    if not sys.platform.startswith("linux") or "forkserver" not in multiprocessing.get_all_start_methods():
        return False
    with _lock:
        if _started_with is None:
            _started_with = jax_environment()
            multiprocessing.forkserver.set_forkserver_preload(PRELOAD)
        elif jax_environment() != _started_with:
            return False
        multiprocessing.forkserver.ensure_running()    # again after a fork server that ended
        return True
