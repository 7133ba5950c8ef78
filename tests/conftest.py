"""Shared helpers: judge one implementation quickly, with a fixed seed; count the reference programs
JAX compiles; a compilation cache of a test's own."""

from pathlib import Path

import pytest
from jax import monitoring

from oracle import compile_cache
from oracle.run import check
from oracle.testing import as_plugin


def verdicts_of(implementation, op, convention=None, dtypes=("float64",), examples=15, seed=1234, **options):
    """The verdicts for one implementation of `op`, one per dtype."""
    run = check([as_plugin(implementation, op, convention)], dtypes=list(dtypes), examples=examples, seed=seed, **options)
    return run.verdicts


def verdict_of(implementation, op, convention=None, dtype="float64", **options):
    (verdict,) = verdicts_of(implementation, op, convention, dtypes=(dtype,), **options)
    return verdict


def pytest_collection_modifyitems(items):
    # Tests marked slow run first: under pytest-xdist (`--dist worksteal`) the other worker takes the
    # short tests queued behind them, so no worker is left running a long test alone at the end.
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)


@pytest.fixture(scope="module")
def engine_loaded():
    """JAX and its compiler, loaded once in this process before any in-process pytest run: pytester takes
    away the modules such a run imported, and jaxlib aborts when it is imported a second time."""
    from oracle.testing import assert_gradients

    assert_gradients(lambda x: (-x, lambda g: (-g,)), "neg", examples=2, dtypes=["float64"], seed=0)


@pytest.fixture
def judge():
    return verdict_of


def jax_events(run, event: str, functions: tuple[str, ...]) -> int:
    """How many `event`s JAX records for reference programs (functions of these names) while run() runs."""
    seen: list[str] = []

    def listener(name: str, seconds: float, **kwargs) -> None:
        if name == event and str(kwargs.get("fun_name")).removeprefix("jit(").removesuffix(")") in functions:
            seen.append(name)

    monitoring.register_event_duration_secs_listener(listener)
    try:
        run()
    finally:
        monitoring.unregister_event_duration_listener(listener)
    return len(seen)


def compiled_programs(run) -> int:
    """How many reference programs JAX compiles (or loads from its cache) while run() runs."""
    return jax_events(run, "/jax/core/compile/backend_compile_duration", ("value_and_vjp",))


@pytest.fixture
def store(tmp_path: Path, monkeypatch):
    """A compilation cache of this test's own, as a fresh process would find it."""
    monkeypatch.setenv(compile_cache.ENV, str(tmp_path / "cache"))
    compile_cache.configure(True)
    yield tmp_path / "cache"
    monkeypatch.delenv(compile_cache.ENV)
    compile_cache.configure(True)
