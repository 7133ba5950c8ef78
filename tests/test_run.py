"""A run: every (implementation, dtype) judged, shrunk failures, reproducible, serialisable, interruptible."""

import numpy as np
import pytest

import oracle
from oracle.result import Run
from oracle.run import check


def make_plugin():
    plugin = oracle.Plugin("demo")

    @plugin.pullback("matmul")
    def matmul(a, b):
        return a @ b, lambda g: (g @ b.T, a.T @ g)

    @plugin.pullback("sum", name="sum_wrong_when_batch_over_one")
    def sum_(x, axis):
        def pullback(g):
            grad = np.expand_dims(g, axis) * np.ones_like(x)
            return (grad * 1.5 if x.shape[0] > 1 else grad,)
        return x.sum(axis), pullback

    @plugin.pullback("relu", name="relu_wrong_when_a_dim_is_one")
    def relu(x):
        return np.maximum(x, 0), lambda g: (g * (x > 0) * (2.0 if 1 in x.shape else 1.0),)

    return plugin


def statuses(run):
    return {(v.implementation, v.dtype): (v.status, v.check) for v in run.verdicts}


def test_every_implementation_is_judged_in_every_dtype():
    run = check([make_plugin()], examples=10, seed=7)
    assert len(run.verdicts) == 6
    assert statuses(run)[("matmul", "float64")] == ("passed", None)
    assert run.summary_line() == "2 passed, 4 failed"


def test_failures_shrink_to_the_smallest_case_that_still_fails():
    run = check([make_plugin()], ops=["sum*", "relu*"], dtypes=["float64"], examples=40, seed=7)
    by_label = {v.implementation: v for v in run.verdicts}
    sum_case = by_label["sum_wrong_when_batch_over_one"].case
    assert sum_case.shapes["x"] == [2, 1]
    relu_case = by_label["relu_wrong_when_a_dim_is_one"].case
    assert relu_case.shapes["x"] == [1]


def test_the_same_seed_gives_the_same_verdicts_and_cases():
    first = check([make_plugin()], examples=15, seed=11)
    again = check([make_plugin()], examples=15, seed=11)
    strip = lambda run: [(v.id, v.status, v.check, v.case and v.case.shapes, v.case and v.case.seed) for v in run.verdicts]
    assert strip(first) == strip(again)


def test_each_judge_of_the_same_code_and_dtype_reuses_one_search_and_finds_the_same_failure(monkeypatch):
    import oracle.run

    defined = []
    given = oracle.run.given
    monkeypatch.setattr(oracle.run, "given", lambda *a, **k: defined.append(a) or given(*a, **k))
    oracle.run._kept_search.cache_clear()
    (relu,) = [i for i in make_plugin().implementations if i.op == "relu"]
    verdicts = [oracle.run.judge(relu, "float64", examples=10, seed=7) for _ in range(3)]
    assert len(defined) == 1
    assert {(v.status, v.case.dims["n"], v.examples) for v in verdicts} == {(verdicts[0].status, 1, verdicts[0].examples)}
    oracle.run.judge(relu, "float32", examples=10, seed=7)
    assert len(defined) == 2


def test_a_verdict_says_how_to_reproduce_it():
    run = check([make_plugin()], ops=["sum*"], dtypes=["float64"], examples=12, seed=5)
    reproduce = run.verdicts[0].reproduce
    # a plugin built inside a function cannot be found again by path: the Python call reproduces it
    assert "ops=['sum_wrong_when_batch_over_one']" in reproduce
    assert "dtypes=['float64']" in reproduce and "seed=5" in reproduce and "examples=12" in reproduce


def test_a_run_saves_to_json_and_loads_back_unchanged(tmp_path):
    run = check([make_plugin()], examples=8, seed=3)
    path = tmp_path / "run.json"
    run.save(path)
    loaded = Run.load(path)
    assert loaded == run
    data = loaded.to_dict()
    assert data["version"] == 1 and data["seed"] == 3
    assert {"plugin", "op", "dtype", "status", "check", "message"} <= set(data["verdicts"][0])


def test_op_globs_select_implementations_and_an_unmatched_glob_is_a_usage_error():
    run = check([make_plugin()], ops=["mat*"], dtypes=["float32"], examples=5, seed=1)
    assert [v.implementation for v in run.verdicts] == ["matmul"]
    with pytest.raises(oracle.UsageError, match="'conv\\*' matches no implementation"):
        check([make_plugin()], ops=["conv*"], examples=5)


def test_an_unknown_dtype_is_a_usage_error_that_names_the_choices():
    with pytest.raises(oracle.UsageError, match="float8.*float64, float32, float16, bfloat16"):
        check([make_plugin()], dtypes=["float8"])


def test_ctrl_c_keeps_the_verdicts_found_so_far():
    class InterruptAfterTwo:
        def __init__(self):
            self.seen = 0

        def finished(self, verdict):
            self.seen += 1
            if self.seen == 2:
                raise KeyboardInterrupt

    run = check([make_plugin()], examples=5, seed=1, listener=InterruptAfterTwo())
    assert run.incomplete and run.stopped_because == "interrupted"
    assert len(run.verdicts) == 2


def test_a_spent_time_budget_starts_no_more_work_and_marks_the_run_incomplete():
    run = check([make_plugin()], examples=5, seed=1, time_budget=0.0)
    assert run.incomplete and run.stopped_because == "time budget"
    assert run.verdicts == []


def test_an_implementation_declared_for_one_dtype_is_skipped_in_the_other():
    plugin = oracle.Plugin("f64only")
    plugin.pullback("relu", lambda x: (np.maximum(x, 0), lambda g: (g * (x > 0),)), dtypes=["float64"])
    run = check([plugin], examples=5, seed=1)
    assert statuses(run) == {("relu", "float64"): ("passed", None), ("relu", "float32"): ("skipped", None)}


def test_plugins_are_found_by_file_path_and_module_name(tmp_path, monkeypatch):
    source = tmp_path / "my_grads.py"
    source.write_text(
        "import numpy as np, oracle\n"
        "plugin = oracle.Plugin('mine')\n"
        "plugin.pullback('relu', lambda x: (np.maximum(x, 0), lambda g: (g * (x > 0),)))\n"
    )
    by_path = check([str(source)], examples=5, seed=1, dtypes=["float64"])
    assert by_path.verdicts[0].plugin == "mine" and by_path.verdicts[0].status == "passed"
    assert by_path.verdicts[0].reproduce.startswith(f"oracle check {source}")
    monkeypatch.syspath_prepend(str(tmp_path))
    by_module = check(["my_grads"], examples=5, seed=1, dtypes=["float64"])
    assert by_module.verdicts[0].status == "passed"


@pytest.mark.parametrize("target, words", [
    ("no_such_plugin_anywhere", "not an installed plugin, an importable module or a .py file"),
    ("missing/file.py", "no such file"),
    ("json", "defines no oracle.Plugin"),
])
def test_a_bad_target_is_a_target_error_that_says_what_was_wrong(target, words):
    with pytest.raises(oracle.TargetError, match=words):
        check([target])
