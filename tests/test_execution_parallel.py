"""Parallel and distributed judging gives the same verdicts: -n 0, 1, 2, shards merged, a dask cluster."""

from __future__ import annotations

import os
from dataclasses import asdict
from types import SimpleNamespace

import numpy as np
import pytest
from click.testing import CliRunner, Result

import oracle
from oracle.cli import cli
from oracle.execution import supervisor
from oracle.execution.scheduling import Slots, next_job
from oracle.execution.worker import ImplInfo, ImplRef, Job
from oracle.result import Run

OPS = ["matmul_transposed_grad", "relu_mask_from_upstream", "mean_missing_1_over_n", "sigmoid_upstream_ignored"]


IRRELEVANT = ("duration", "source_file")    # how long it took; a path relative to the folder the run started in


def comparable(run: Run) -> list[dict]:
    """Everything a verdict says, but how long it took and from where."""
    return [{k: v for k, v in asdict(verdict).items() if k not in IRRELEVANT} for verdict in run.verdicts]


def differences(run: Run, other: Run) -> list[tuple[str, str]]:
    """(verdict id, field) wherever two runs' verdicts differ."""
    if [v.id for v in run.verdicts] != [v.id for v in other.verdicts]:
        return [("order", ", ".join(v.id for v in run.verdicts))]
    return [(a["plugin"] + "/" + a["implementation"] + "/" + a["dtype"], key, str(a[key])[:200], str(b[key])[:200])
            for a, b in zip(comparable(run), comparable(other)) for key in a if a[key] != b[key]]


@pytest.fixture(scope="module")
def serial():
    return oracle.check(["mutants"], ops=OPS, examples=10, seed=11, workers=0)


@pytest.mark.parametrize("workers", [1, 2])
def test_verdicts_and_shrunk_cases_are_the_same_whatever_the_number_of_workers(serial, workers):
    run = oracle.check(["mutants"], ops=OPS, examples=10, seed=11, workers=workers)
    assert differences(run, serial) == []
    assert all(v.status == "failed" and v.case is not None for v in run.verdicts)


def job(index: int, op: str, dtype: str) -> Job:
    return Job(index, ImplInfo("p", op, op, "pullback", None, "", "p.py", ImplRef("p", op, "p.py")), dtype, {})


def test_an_idle_worker_takes_the_other_dtype_of_the_op_it_judged_else_an_op_no_other_worker_is_on():
    plan = [job(i, op, dtype) for i, (op, dtype) in enumerate(
        (op, dtype) for op in ("relu", "exp", "tanh") for dtype in ("float64", "float32"))]
    pending, pool = plan[::-1], SimpleNamespace(workers=2)
    slots = Slots([pool])

    def take(running: set[str]) -> tuple[str, str]:
        chosen = next_job(pending, slots.take(pool), running)
        return chosen.info.op, chosen.dtype

    assert take(set()) == ("relu", "float64")
    assert take({"relu"}) == ("exp", "float64")       # not relu/float32: its programs are in the first worker
    assert slots.free() is None
    slots.give(pool, "exp")                            # exp finished first: its worker is the idle one
    assert take({"relu"}) == ("exp", "float32")
    slots.give(pool, None)                             # relu's worker was killed: its replacement holds nothing
    assert take({"exp"}) == ("relu", "float32")
    slots.give(pool, "exp")
    slots.give(pool, "relu")
    assert [take(set()), take({"tanh"})] == [("tanh", "float64"), ("tanh", "float32")]


def test_the_default_uses_the_cores_available_once_there_is_more_than_one_verdict():
    cores = len(os.sched_getaffinity(0))
    assert supervisor.resolve_workers(None, 1) == 1
    assert supervisor.resolve_workers("auto", 50) == cores
    assert supervisor.resolve_workers(3, 2) == 2 and supervisor.resolve_workers(0, 9) == 0


def oracle_cli(*args: str) -> Result:
    """The command line, in this process: these tests are about what the options do, not about processes."""
    return CliRunner().invoke(cli, list(args))


def test_shards_are_disjoint_parts_that_merge_into_the_unsharded_run(serial, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    common = ["mutants", *[f"--op={op}" for op in OPS], "--examples", "10", "--seed", "11", "-n", "1"]
    for k in (1, 2):
        done = oracle_cli("check", *common, "--shard", f"{k}/2", "--json", f"shard{k}.json", "--report", f"r{k}")
        assert done.exit_code == 1, done.output
    parts = [Run.load(tmp_path / f"shard{k}.json") for k in (1, 2)]
    assert {v.id for v in parts[0].verdicts}.isdisjoint(v.id for v in parts[1].verdicts)
    merged = oracle_cli("report", "--merge", "shard1.json", "shard2.json", "--html", "merged")
    assert merged.exit_code == 0, merged.output
    assert differences(Run.load(tmp_path / "merged" / "run.json"), serial) == []


def test_shards_of_different_seeds_are_refused_with_exit_code_2(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for k, seed in ((1, 1), (2, 2)):
        run = Run(seed=seed, settings={"examples": 5, "shard": f"{k}/2"})
        run.save(tmp_path / f"s{k}.json")
    done = oracle_cli("report", "--merge", "s1.json", "s2.json", "--html", "m")
    assert done.exit_code == 2
    assert done.stderr.strip() == "oracle: cannot merge s2.json (seed 2) with s1.json (seed 1): shards of one run share its seed"


def test_lambdas_closures_and_local_classes_travel_to_the_workers_by_value():
    scale = 1.0            # captured by the closure below

    class Exp:             # a class defined where no worker can import it
        def forward(self, x):
            self.y = np.exp(x)
            return self.y

        def backward(self, g):
            return scale * self.y * g

    plugin = oracle.Plugin("local")
    plugin.gate("exp", Exp)
    plugin.pullback("relu", lambda x: (np.maximum(x, 0), lambda g: (g * (x > 0),)))
    run = oracle.check([plugin], examples=5, seed=1, dtypes=["float64"], workers=1)
    assert [(v.op, v.status) for v in run.verdicts] == [("exp", "passed"), ("relu", "passed")]


def test_assert_gradients_reuses_the_sessions_workers():
    def relu(x):
        return np.maximum(x, 0), lambda g: (g * (x > 0),)

    oracle.assert_gradients(relu, "relu", examples=3, dtypes=["float64"], seed=1)
    before = {pid for pool in supervisor._kept for pid in pool._pool._pool_manager.worker_manager.workers}
    oracle.assert_gradients(relu, "relu", examples=3, dtypes=["float64"], seed=2)
    after = {pid for pool in supervisor._kept for pid in pool._pool._pool_manager.worker_manager.workers}
    assert before and before <= after


def test_a_dask_cluster_judges_the_same_verdicts(serial, tmp_path, monkeypatch):
    distributed = pytest.importorskip("distributed")
    monkeypatch.chdir(tmp_path)
    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
        run = oracle.check(["mutants"], ops=OPS, examples=10, seed=11, executor="dask", scheduler=cluster.scheduler_address)
        done = oracle_cli("check", "mutants", *[f"--op={op}" for op in OPS], "--examples", "10", "--seed", "11",
                          "--executor", "dask", "--scheduler", cluster.scheduler_address, "--json", "dask.json",
                          "--report", "r")
    assert differences(run, serial) == []
    assert done.exit_code == 1, done.output
    assert differences(Run.load(tmp_path / "dask.json"), serial) == []


@pytest.mark.parametrize(("given", "parsed"), [("auto", "auto"), ("0", 0), ("3", 3), (2, 2)])
def test_workers_take_a_count_or_auto_on_the_command_line_and_in_the_project(given, parsed):
    from oracle.config import OPTION

    assert OPTION["workers"].parse(given) == parsed


@pytest.mark.parametrize("given", ["-1", "many", 1.5, True])
def test_a_bad_worker_count_says_what_is_accepted(given):
    from oracle.config import OPTION

    with pytest.raises(ValueError, match="must be a whole number >= 0 or auto"):
        OPTION["workers"].parse(given)
