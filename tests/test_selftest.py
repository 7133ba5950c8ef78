"""`oracle selftest`: every mutant caught, no false alarm on gatecore, the diagnosis share printed,
and an exit code that fails the build when the oracle misses a bug or cries wolf."""

import io
import re

import pytest
from click.testing import CliRunner
from rich.console import Console

import oracle.selftest
from oracle.cli import cli
from oracle.result import Run, Verdict
from oracle.selftest import MutantResult, SelftestResult, main


@pytest.mark.slow
def test_oracle_selftest_catches_every_mutant_with_no_false_alarm_at_its_defaults():
    result = CliRunner().invoke(cli, ["selftest"], catch_exceptions=False)
    out = " ".join(result.output.split())
    from oracle.plugins.mutants import BUGS

    assert f"mutation score: {len(BUGS)} of {len(BUGS)} caught (100%)" in out, result.output
    assert "false alarms on gatecore: 0" in out, result.output
    assert "survived" not in out
    shared = re.search(r"diagnosis: (\d+) of (\d+) mutants diagnosed as their label says", out)
    assert shared, result.output
    assert int(shared.group(2)) == sum(bool(bug.expect) for bug in BUGS.values())
    assert result.exit_code == 0
    for kind in {bug.kind for bug in BUGS.values()}:
        assert kind in out  # the score is broken down by every bug kind


# --------------------------------------------------------------------------- the exit code, on made-up results

def verdict(plugin, label, status, dtype="float64", message="", diagnosis=None):
    return Verdict(plugin=plugin, op=label, dtype=dtype, status=status, implementation=label, message=message,
                   check=None if status == "passed" else "reference", diagnosis=diagnosis)


def printed_and_code(monkeypatch, mutants, false_alarms=()):
    result = SelftestResult(Run(seed=0), mutants=mutants, false_alarms=list(false_alarms), gatecore_verdicts=4)
    monkeypatch.setattr(oracle.selftest, "selftest", lambda examples, seed, listener=None, workers=None: result)
    console = Console(file=io.StringIO(), width=200)
    code = main(3, 5, console)
    return " ".join(console.file.getvalue().split()), code


TWICE = {"kind": "scale", "text": "equals 2 × the reference", "evidence": {"factor": 2.0}}


def mutant(label, *statuses, expect=("scale",), diagnosis=TWICE):
    return MutantResult(label, "mul", "pullback", "factor of two", expect,
                        [verdict("mutants", label, s, d, diagnosis=diagnosis if s == "failed" else None)
                         for s, d in zip(statuses, ("float64", "float32"))])


def test_all_caught_and_no_false_alarm_exits_zero(monkeypatch):
    out, code = printed_and_code(monkeypatch, [mutant("a", "failed", "passed"), mutant("b", "failed", "failed")])
    assert code == 0
    assert "mutation score: 2 of 2 caught (100%)" in out
    assert "diagnosis: 2 of 2 mutants diagnosed as their label says" in out


def test_a_surviving_mutant_is_listed_and_fails_the_selftest(monkeypatch):
    out, code = printed_and_code(monkeypatch, [mutant("caught_one", "failed", "failed"),
                                               mutant("missed_one", "passed", "passed")])
    assert code == 1
    assert "mutation score: 1 of 2 caught (50%)" in out
    assert "survived missed_one (mul, pullback): factor of two" in out


def test_a_false_alarm_on_gatecore_is_listed_and_fails_the_selftest(monkeypatch):
    alarm = verdict("gatecore", "matmul", "failed", message="gradient for 'a' differs [3 of 4 elements]")
    out, code = printed_and_code(monkeypatch, [mutant("a", "failed", "failed")], [alarm])
    assert code == 1
    assert "false alarms on gatecore: 1" in out
    assert "gatecore/matmul/float64: gradient for 'a' differs [3 of 4 elements]" in out


def test_a_wrong_diagnosis_is_counted_and_shown_and_below_nine_in_ten_fails_the_selftest(monkeypatch):
    out, code = printed_and_code(monkeypatch, [mutant("a", "failed", "failed", expect=("transpose",))])
    assert code == 1
    assert "diagnosis: 0 of 1 mutants diagnosed as their label says" in out
    assert "a: expected transpose; said: equals 2 × the reference" in out
    assert "diagnosis share: 0% (at least 90% required)" in out


def test_nine_in_ten_right_diagnoses_pass_and_the_share_is_printed_by_kind(monkeypatch):
    right = [mutant(f"m{i}", "failed", "passed") for i in range(9)]
    wrong = [mutant("t", "failed", "passed", expect=("transpose",))]
    out, code = printed_and_code(monkeypatch, right + wrong)
    assert code == 0
    assert re.search(r"scale\W+9 of 9", out) and re.search(r"transpose\W+0 of 1", out)
    assert "diagnosis share: 90%" in out


def test_false_alarms_are_counted_per_correct_corpus(monkeypatch):
    result = SelftestResult(Run(seed=0), mutants=[mutant("a", "failed", "passed")], gatecore_verdicts=4,
                            correct_plugins=["gatecore", "textbook"],
                            false_alarms=[verdict("textbook", "softmax_loss_naive", "failed", "float32", "noise")])
    monkeypatch.setattr(oracle.selftest, "selftest", lambda examples, seed, listener=None, workers=None: result)
    console = Console(file=io.StringIO(), width=200)
    assert main(3, 5, console) == 1
    out = " ".join(console.file.getvalue().split())
    assert "false alarms on gatecore: 0" in out and "false alarms on textbook: 1" in out


def test_a_mutant_is_diagnosed_rightly_only_if_every_failing_verdict_is():
    right = mutant("a", "failed", "failed")
    half = MutantResult("b", "mul", "pullback", "k", ("scale",),
                        [verdict("mutants", "b", "failed", diagnosis=TWICE),
                         verdict("mutants", "b", "failed", "float32", diagnosis=None)])
    assert right.diagnosed is True and half.diagnosed is False
    assert mutant("c", "failed", expect=()).diagnosed is None
