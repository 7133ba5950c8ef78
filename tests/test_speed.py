"""Speed without losing anything: the persistent compilation cache, one compiled reference program
per structure, kinks moved off element by element at any size, and searches that still shrink and
still repeat themselves from the same seed."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import platformdirs
import pytest
from conftest import compiled_programs, jax_events
from oracle.specs import get

import oracle
from oracle import compile_cache
from oracle.cases import KINK_MARGIN, build_case, kink_distance
from oracle.config import Config, parse_table, resolve
from oracle.plugin import discover
from oracle.reference import reference
from oracle.run import check, judge
from oracle.spec import choice

DEMO = '''
import numpy as np
import oracle

plugin = oracle.Plugin("demo")


@plugin.pullback("tanh")
def tanh(x):
    y = np.tanh(x)
    return y, lambda g: (g * (1 - y * y),)


@plugin.pullback("relu", name="relu_wrong_above_1_5")
def relu(x):
    return np.maximum(x, 0), lambda g: (g * (x > 0) * np.where(x > 1.5, 1.01, 1.0),)
'''


def oracle_cli(*args: str, cwd: Path, cache: Path | None) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != compile_cache.ENV}
    if cache is not None:
        env[compile_cache.ENV] = str(cache)
    return subprocess.run([sys.executable, "-m", "oracle", *args], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=300, check=False)


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "demo.py").write_text(DEMO)
    return tmp_path


def settings_of(folder: Path) -> dict:
    return json.loads((folder / "run.json").read_text())["settings"]


# --------------------------------------------------------------------------- where the cache is

def test_the_cache_lives_in_the_users_cache_folder_unless_jax_compilation_cache_dir_is_set(monkeypatch, tmp_path):
    monkeypatch.delenv(compile_cache.ENV, raising=False)
    assert compile_cache.location() == platformdirs.user_cache_path("gradient-oracle") / "jax"
    monkeypatch.setenv(compile_cache.ENV, str(tmp_path / "mine"))
    assert compile_cache.location() == tmp_path / "mine"


def test_a_run_fills_the_cache_it_names_and_cache_info_and_clear_show_and_empty_it(project):
    cache = project / "cache"
    done = oracle_cli("check", "demo.py", "--op", "tanh", "--examples", "4", "--report", "out", cwd=project, cache=cache)
    assert done.returncode == 0, done.stderr
    assert settings_of(project / "out")["cache"] == str(cache)
    programs = compile_cache.info(cache).entries
    assert programs >= 1

    shown = oracle_cli("cache", "info", cwd=project, cache=cache)
    assert shown.returncode == 0 and f"{cache}: {programs} compiled program" in shown.stdout

    cleared = oracle_cli("cache", "clear", cwd=project, cache=cache)
    assert cleared.returncode == 0 and f"removed {programs} compiled program" in cleared.stdout
    assert compile_cache.info(cache).entries == 0


def test_no_cache_and_cache_false_in_the_configuration_run_without_it(project):
    cache = project / "cache"
    done = oracle_cli("check", "demo.py", "--op", "tanh", "--examples", "3", "--report", "out", "--no-cache",
                      cwd=project, cache=cache)
    assert done.returncode == 0, done.stderr
    assert settings_of(project / "out")["cache"] == "off"
    assert compile_cache.info(cache).entries == 0

    (project / "pyproject.toml").write_text("[tool.oracle]\ncache = false\n")
    done = oracle_cli("check", "demo.py", "--op", "tanh", "--examples", "3", "--report", "out2", cwd=project, cache=cache)
    assert done.returncode == 0, done.stderr
    assert settings_of(project / "out2")["cache"] == "off"
    assert compile_cache.info(cache).entries == 0


def test_cache_in_the_configuration_must_be_true_or_false(tmp_path):
    assert resolve({}, Config(parse_table({"cache": False}, tmp_path / "pyproject.toml")))["cache"] is False
    assert resolve({}, Config({}))["cache"] is True
    with pytest.raises(oracle.config.ConfigError, match="cache must be true or false"):
        parse_table({"cache": "no"}, tmp_path / "pyproject.toml")


def test_entries_appear_whole_and_a_full_cache_drops_the_least_recently_used(tmp_path):
    store = compile_cache._AtomicFiles(tmp_path)
    for i, key in enumerate(["old", "middle", "new"]):
        store.put(key, bytes([i]) * 1000)
        os.utime(tmp_path / f"{key}-cache", (1000 + i, 1000 + i))
    assert store.get("middle") == bytes([1]) * 1000        # reading it makes it the most recently used
    assert not list(tmp_path.glob(".*.tmp"))               # written beside, then renamed into place

    removed = compile_cache.prune(tmp_path, limit=2500)
    assert removed == 2
    assert store.get("old") is None and store.get("new") is None and store.get("middle") is not None


def test_an_entry_is_kept_unless_replaced_and_a_bypassed_thread_neither_reads_nor_writes(tmp_path):
    store = compile_cache._AtomicFiles(tmp_path)
    store.put("program", b"first")
    store.put("program", b"second")                        # another process wrote the same program first
    assert store.get("program") == b"first"
    store.put("program", b"fixed", replace=True)           # an entry found not to run
    assert store.get("program") == b"fixed"
    with compile_cache.bypassed():
        assert store.get("program") is None
        store.put("other", b"from JAX")
    assert store.get("program") == b"fixed" and store.get("other") is None


def test_a_process_prunes_the_cache_at_start_only_when_none_did_in_the_last_interval(tmp_path):
    import time

    assert compile_cache._prune_due(tmp_path)
    assert not compile_cache._prune_due(tmp_path)          # the next worker of the run skips the listing
    long_ago = time.time() - compile_cache.PRUNE_INTERVAL - 1
    os.utime(tmp_path / ".pruned", (long_ago, long_ago))
    assert compile_cache._prune_due(tmp_path)


# --------------------------------------------------------------------------- fewer programs

def gatecore(label: str):
    return next(i for p in discover("gatecore") for i in p.implementations if i.label == label)


def test_every_seed_of_dropout_is_judged_by_one_compiled_program(store):
    # One shape, one p: the seed is traced, so eight cases with eight seeds need one program.
    spec = dataclasses.replace(get("dropout"), name="dropout_one_shape", dims={"n": (3, 3), "d": (4, 4)},
                               hyper={**get("dropout").hyper, "p": choice(0.25)})
    impl = dataclasses.replace(gatecore("dropout"), spec=spec)
    verdicts = []
    assert compiled_programs(lambda: verdicts.append(judge(impl, "float64", examples=8, seed=3))) == 1
    assert verdicts[0].status == "passed" and verdicts[0].examples == 8


def test_both_dtypes_of_an_op_are_searched_on_the_same_shapes(store):
    impl = dataclasses.replace(gatecore("tanh"), spec=dataclasses.replace(get("tanh"), name="tanh_both_dtypes"))
    first = compiled_programs(lambda: judge(impl, "float64", examples=10, seed=5))
    assert first >= 1
    assert compiled_programs(lambda: judge(impl, "float32", examples=10, seed=5)) == 0


# --------------------------------------------------------------------------- compiled programs under the oracle's own key

def references_traced(run) -> int:
    """How many times a reference program is traced (for its shapes or its VJP) while run() runs."""
    return jax_events(run, "/jax/core/compile/jaxpr_trace_duration", ("forward", "value_and_vjp"))


def as_in_a_new_process() -> None:
    import jax

    from oracle import reference, symbolic_shapes

    reference._LOADED.clear()
    reference._output_shapes.cache_clear()
    symbolic_shapes._TRACED.clear()
    symbolic_shapes._CONCRETE.clear()
    jax.clear_caches()


@pytest.mark.parametrize("op", ["tanh", "matmul"])     # laid out flat; padded (its output shapes are stored too)
def test_a_later_process_judges_from_stored_programs_without_tracing_or_compiling(store, op):
    impl = dataclasses.replace(gatecore(op), spec=dataclasses.replace(get(op), name=f"{op}_stored"))
    first = []
    assert references_traced(lambda: first.append(judge(impl, "float64", examples=6, seed=4))) > 0
    as_in_a_new_process()
    again, compiled = [], []
    assert references_traced(lambda: compiled.append(
        compiled_programs(lambda: again.append(judge(impl, "float64", examples=6, seed=4))))) == 0
    assert compiled == [0]
    assert again[0].status == first[0].status == "passed"
    assert again[0].examples == first[0].examples


def test_an_unreadable_stored_program_is_compiled_again(store):
    impl = dataclasses.replace(gatecore("tanh"), spec=dataclasses.replace(get("tanh"), name="tanh_spoiled"))
    judge(impl, "float64", examples=4, seed=8)
    stored = list(store.glob("oracle-reference-*"))
    assert stored
    for entry in stored:
        entry.write_bytes(b"not a program")
    as_in_a_new_process()
    assert compiled_programs(lambda: judge(impl, "float64", examples=4, seed=8)) > 0


class _FailsWhenRead:
    """An output of a program that cannot run: JAX reports it when the value is read, not at the call."""

    def __array__(self, dtype=None, copy=None):
        raise RuntimeError("NOT_FOUND: Function copy_bitcast_fusion.1 not found")


def test_a_stored_program_that_fails_when_its_outputs_are_read_is_compiled_again(store, monkeypatch):
    from oracle import executables

    impl = dataclasses.replace(gatecore("tanh"), spec=dataclasses.replace(get("tanh"), name="tanh_kernelless"))
    expected = judge(impl, "float64", examples=4, seed=8)
    as_in_a_new_process()
    real_load = executables.load

    def load_without_kernels(key):
        found = real_load(key)
        if found is None:
            return None
        broken = lambda *args: tuple(tuple(_FailsWhenRead() for _ in group) for group in found[0](*args))
        return broken, found[1]

    monkeypatch.setattr(executables, "load", load_without_kernels)
    again = []
    assert compiled_programs(lambda: again.append(judge(impl, "float64", examples=4, seed=8))) > 0
    assert expected.status == "passed"
    assert (again[0].status, again[0].examples) == (expected.status, expected.examples)


def test_a_program_is_compiled_afresh_for_the_store_even_when_jax_has_cached_it(store, monkeypatch):
    # A program JAX reads back from its own cache serializes without its kernels: stored, it would fail
    # in every later process and be compiled again in each. The store's key changes whenever the
    # catalogue's source does, while the program, and so JAX's own key, stays the same.
    from oracle import executables

    import jax

    spec = dataclasses.replace(get("sum"), name="sum_edited")
    case = build_case(spec, "float64", {"n": 3, "m": 4}, (), {"axis": 0}, seed=1)
    jax.jit(lambda x: x + 1).lower(np.ones(2)).compile()   # a process's first compile is seldom a reference's
    expected = reference(case, case.cotangent)
    monkeypatch.setattr(executables, "_fingerprint", lambda: "the catalogue, edited")
    as_in_a_new_process()
    assert compiled_programs(lambda: reference(case, case.cotangent)) == 1        # under the new key
    as_in_a_new_process()
    again = []
    assert compiled_programs(lambda: again.append(reference(case, case.cotangent))) == 0
    for a, b in zip(expected[0] + expected[2], again[0][0] + again[0][2]):
        np.testing.assert_array_equal(a, b)


def test_an_upstream_gradient_shaped_unlike_the_outputs_is_the_callers_error_and_the_op_stays_compiled():
    # A diagnosis may try a cotangent shaped like the input; for max_pool2d the output is smaller.
    from oracle import reference as module

    spec = dataclasses.replace(get("max_pool2d"), name="max_pool2d_misused")
    case = build_case(spec, "float64", {"n": 1, "c": 1, "h": 2, "w": 4}, (), {"size": 2, "stride": 2}, seed=1)
    with pytest.raises(ValueError, match="upstream gradients of shapes"):
        reference(case, lambda shapes: (np.ones(case.inputs["x"].shape),))
    assert spec.name not in module._UNTRACEABLE
    assert compiled_programs(lambda: reference(case, case.cotangent)) == 0    # the program compiled before serves


def test_only_references_whose_whole_source_the_key_sees_are_stored():
    from oracle.executables import program_key

    x = (np.zeros(3),)
    key = program_key(get("tanh"), (), (x, ()), "float64")
    assert key is not None
    assert key != program_key(get("tanh"), (), (x, ()), "float32")
    assert key != program_key(get("tanh"), (), ((np.zeros(4),), ()), "float64")
    assert key != program_key(get("tanh"), (), (x, ()), "float64", program="modes")
    # A reference from the user's own module may call helpers the key cannot see: JAX's cache alone serves it.
    own = dataclasses.replace(get("tanh"), reference=lambda x: x * 2.0)
    assert program_key(own, (), (x, ()), "float64") is None


# --------------------------------------------------------------------------- kinks at any size

def test_elements_near_a_kink_are_moved_off_it_one_by_one_even_among_a_million():
    spec = dataclasses.replace(get("relu"), inputs={"x": "n"}, dims={"n": (10**6, 10**6)})
    raw = spec.inputs["x"].domain.sample(np.random.default_rng([9, 0, 0]), (10**6,), {})
    near = np.abs(raw) < KINK_MARGIN
    assert near.sum() > 100                                   # a whole redraw would land on other kinks

    case = build_case(spec, "float64", {"n": 10**6}, (), {}, seed=9)
    assert case is not None and kink_distance(spec, case.inputs, case.hyper) >= KINK_MARGIN
    moved = case.inputs["x"] != raw
    assert np.array_equal(moved, near)                        # only the offending elements changed


def test_relu_at_a_million_elements_is_judged_and_passes():
    spec = dataclasses.replace(get("relu"), inputs={"x": "n"}, dims={"n": (10**6, 10**6)})
    run = oracle.assert_gradients(gatecore("relu").code, spec, convention="gate", examples=2, workers=0)
    assert [v.status for v in run.verdicts] == ["passed", "passed"]


# --------------------------------------------------------------------------- the search is still the search

def test_a_value_dependent_bug_still_shrinks_to_the_smallest_shape(project):
    run = check(str(project / "demo.py"), ops=["relu*"], dtypes=["float64"], examples=30, seed=2, workers=0)
    (verdict,) = run.verdicts
    assert verdict.status == "failed"
    assert verdict.case.shapes["x"] == [1] and verdict.case.batch == []
    assert np.asarray(verdict.case.inputs["x"]).max() > 1.5


def test_two_processes_with_the_same_seed_give_the_same_verdicts_and_cases(project):
    def verdicts(folder: str) -> list:
        done = oracle_cli("check", "demo.py", "--examples", "10", "--seed", "77", "--report", folder,
                          cwd=project, cache=project / "cache")
        assert done.returncode == 1, done.stderr            # the relu variant is wrong
        run = json.loads((project / folder / "run.json").read_text())
        return [(v["implementation"], v["dtype"], v["status"], v.get("check"), v["case"] and v["case"]["seed"],
                 v["case"] and v["case"]["shapes"]) for v in run["verdicts"]]

    assert verdicts("first") == verdicts("second")


def test_the_same_seed_draws_the_same_cases_whatever_modules_the_process_has_loaded(tmp_path, monkeypatch):
    # Hypothesis mixes constants from the source of loaded modules into its draws; the oracle's
    # searches must not depend on what else a process happens to have imported.
    impl = gatecore("matmul")

    def drawn() -> list:
        seen: list = []
        judge(impl, "float64", examples=100, seed=8, on_case=lambda case: seen.append((case.dims, case.seed)))
        return seen

    before = drawn()
    (tmp_path / "full_of_constants.py").write_text("SIZES = (2, 3, 4, 5, 77, 1234, 99991, 31337, 271828, 4000000007)\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    import full_of_constants  # noqa: F401

    assert drawn() == before
