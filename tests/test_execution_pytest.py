"""The pytest faces judge in workers too: a plugin that ends its process fails its own item, never the session."""

from __future__ import annotations

import textwrap

import pytest

from oracle.result import Run

PLUGIN = '''
import os
import numpy as np
import oracle

plugin = oracle.Plugin("ends")


def relu(x):
    return np.maximum(x, 0), lambda g: (g * (x > 0),)


def relu_exits(x):
    def pullback(g):
        os._exit(0)
    return np.maximum(x, 0), pullback


plugin.pullback("relu", relu, name="before")
plugin.pullback("relu", relu_exits, name="exits")
plugin.pullback("relu", relu, name="after")
'''

TESTS = '''
import os
import numpy as np
from oracle.testing import assert_gradients


def relu(x):
    return np.maximum(x, 0), lambda g: (g * (x > 0),)


def relu_exits(x):
    def pullback(g):
        os._exit(0)
    return np.maximum(x, 0), pullback


def test_before():
    assert_gradients(relu, "relu", examples=3, dtypes=["float64"])


def test_exits():
    assert_gradients(relu_exits, "relu", examples=3, dtypes=["float64"])


def test_after():
    assert_gradients(relu, "relu", examples=3, dtypes=["float64"])
'''


def test_an_oracle_item_whose_implementation_ends_its_process_fails_alone(pytester):
    pytester.makepyfile(ends=PLUGIN)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "--oracle", "ends.py", "--oracle-dtype", "float64",
                                           "--oracle-examples", "3")
    assert result.ret == 1
    result.assert_outcomes(passed=2, failed=1)
    result.stdout.fnmatch_lines(["*ended the worker process (exit status 0)*", "*FAILED ends::exits[[]float64[]]*"])


def test_assert_gradients_on_code_that_calls_os_exit_fails_that_test_and_serial_pytest_exits_1(pytester):
    pytester.makepyfile(test_ends=TESTS)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    assert result.ret == 1
    result.assert_outcomes(passed=2, failed=1)
    result.stdout.fnmatch_lines(["*FAILED test_ends.py::test_exits*"])


CRASHES = '''
import os


def test_fine():
    pass


def test_crashes_its_worker():
    os._exit(3)
'''


def test_under_xdist_a_crashed_item_is_errored_in_the_report(pytester):
    pytest.importorskip("xdist")
    pytester.makepyfile(test_crash=CRASHES, ends=PLUGIN)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-n", "2", "--oracle", "ends.py",
                                           "--oracle-dtype", "float64", "--oracle-examples", "3",
                                           "--oracle-report", "report")
    assert result.ret == 1
    run = Run.load(pytester.path / "report" / "run.json")
    by_id = {v.implementation: v for v in run.verdicts}
    crashed = by_id["test_crash.py::test_crashes_its_worker"]
    assert crashed.status == "errored" and crashed.facts["fault"] == "worker crashed"
    assert by_id["exits"].status == "errored" and by_id["before"].status == by_id["after"].status == "passed"
    assert not run.incomplete and run.missing == []


def test_the_report_is_incomplete_when_an_item_never_reported(pytester):
    pytester.makepyfile(test_stop=textwrap.dedent('''
        def test_first():
            assert False

        def test_second():
            pass
    '''), ends=PLUGIN)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-x", "--oracle", "ends.py",
                                           "--oracle-dtype", "float64", "--oracle-examples", "3",
                                           "--oracle-report", "report")
    assert result.ret == 1
    run = Run.load(pytester.path / "report" / "run.json")
    assert run.incomplete and run.missing and not run.ok
