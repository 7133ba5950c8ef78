"""Workers are forked from a fork server that has imported the engine and JAX, and behave as spawned ones would."""

from __future__ import annotations

import os
import sys

import pytest

from oracle.execution import forkserver
from oracle.execution.pool import WorkerPool

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"),
                                reason="workers are forked from the fork server on Linux only")


def where_and_what() -> tuple[int, bool, bool]:
    """In a worker, before any job imported anything: its parent, and whether JAX and JAX's backends are there."""
    jax_backends = sys.modules.get("jax._src.xla_bridge")
    return os.getppid(), "jax" in sys.modules, bool(jax_backends is not None and jax_backends._backends)


def run_in_a_new_pool(function, *args):
    pool = WorkerPool(1)
    try:
        return pool.submit(function, *args).result(timeout=120)
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def test_a_worker_starts_forked_with_jax_imported_but_not_started():
    parent, jax_imported, backends_started = run_in_a_new_pool(where_and_what)
    assert parent != os.getpid()             # the fork server's child, not this process's
    assert jax_imported and not backends_started


def test_a_worker_takes_the_supervisors_environment_of_now_not_the_fork_servers(monkeypatch):
    run_in_a_new_pool(os.getpid)             # the fork server is running
    monkeypatch.setenv("ORACLE_TEST_SETTING", "set after the fork server started")
    monkeypatch.delenv("HOME", raising=False)
    assert run_in_a_new_pool(os.getenv, "ORACLE_TEST_SETTING") == "set after the fork server started"
    assert run_in_a_new_pool(os.getenv, "HOME") is None


def parent_and_x64() -> tuple[int, bool]:
    import jax

    return os.getppid(), bool(jax.config.values["jax_enable_x64"])


def test_after_a_jax_variable_changed_the_workers_are_spawned_so_jax_reads_it(monkeypatch):
    run_in_a_new_pool(os.getpid)             # the fork server is running, its JAX imported without the variable
    monkeypatch.setenv("JAX_ENABLE_X64", "1")
    assert not forkserver.usable()
    parent, x64 = run_in_a_new_pool(parent_and_x64)
    assert parent == os.getpid() and x64
    monkeypatch.undo()
    assert forkserver.usable()


def test_the_fork_servers_preload_passes_over_a_module_that_fails_to_import(tmp_path, monkeypatch):
    from oracle.execution import preload

    (tmp_path / "engine_part_that_raises.py").write_text("raise RuntimeError('not an ImportError')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    assert preload.load(["engine_part_that_raises", "json"]) == ["json"]
