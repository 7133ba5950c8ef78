"""The pytest plugin, seen from a user's repository: a small package of gradient code checked
with assert_gradients in ordinary tests, with `pytest --oracle`, and under pytest-xdist.

Runs that must show the plugin activating from its installed entry point (no conftest, no -p)
use a subprocess; the rest run in process, where JAX is already loaded.
"""

from __future__ import annotations

import json
import re
import textwrap
import xml.etree.ElementTree as ET

import pytest

# The user's package: one plugin that is right, one with two classic bugs.
MYGRADS = """
    import numpy as np
    import oracle

    def relu(x):
        out = np.maximum(x, 0)
        return out, lambda g: (g * (x > 0),)

    def relu_forward(x):
        return np.maximum(x, 0), x

    def relu_backward(dout, x):
        return dout * (x > 0)

    relu_layer = (relu_forward, relu_backward)

    def relu_output(x):
        out = np.maximum(x, 0)
        return out, lambda g: (g * out,)          # the output where the mask belongs

    def matmul(a, b):
        return a @ b, lambda g: (g @ b.T, a.T @ g)

    def matmul_no_transpose(a, b):
        return a @ b, lambda g: (g @ b.T, a @ g)  # dB misses the transpose of a

    good = oracle.Plugin("good")
    good.pullback("relu", relu)
    good.pullback("matmul", matmul)

    bad = oracle.Plugin("bad")
    bad.pullback("relu", relu_output)
    bad.pullback("matmul", matmul_no_transpose)
"""

# The user's tests: every calling convention, the marker, the fixture.
TEST_GRADS = """
    import pytest
    from oracle.testing import assert_gradients

    import mygrads

    def test_correct_relu():
        assert_gradients(mygrads.relu, "relu", examples=6, dtypes=["float64"])

    def test_correct_relu_layer():
        assert_gradients(mygrads.relu_layer, "relu", examples=6, dtypes=["float64"])

    @pytest.mark.oracle(examples=6, dtypes=["float64"])
    def test_good_plugin_by_op_names():
        assert_gradients(mygrads.good, ops=["relu", "matmul"])

    def test_relu_with_the_output_as_mask():
        assert_gradients(mygrads.relu_output, "relu", examples=6, dtypes=["float64"])

    @pytest.mark.oracle(examples=6, dtypes=["float64"])
    def test_matmul_missing_a_transpose(oracle_settings):
        oracle_settings.assert_gradients(mygrads.matmul_no_transpose, "matmul")
"""

TESTS_PASSING = ["test_correct_relu", "test_correct_relu_layer", "test_good_plugin_by_op_names"]
TESTS_FAILING = ["test_relu_with_the_output_as_mask", "test_matmul_missing_a_transpose"]
ITEMS_PASSING = ["good::relu[float64]", "good::matmul[float64]"]
ITEMS_FAILING = ["bad::relu[float64]", "bad::matmul[float64]"]
ITEM_OPTIONS = ("--oracle", "mygrads.py", "--oracle-dtype", "float64", "--oracle-examples", "6")


def header_seed(output: str) -> int:
    match = re.search(r"^oracle: seed (\d+) \(repeat with --oracle-seed (\d+)\)$", output, re.M)
    assert match, "the seed line is missing from the report header"
    assert match.group(1) == match.group(2)
    return int(match.group(1))


def outcomes(junit_path) -> dict[str, str]:
    """nodeid-like 'classname::name' -> passed/failed/error/skipped, from pytest's JUnit XML."""
    found = {}
    for case in ET.parse(junit_path).iter("testcase"):
        status = next((child.tag for child in case if child.tag in ("failure", "error", "skipped")), "passed")
        found[f"{case.get('classname')}::{case.get('name')}"] = status
    return found


def verdicts_by_id(report_dir) -> dict[str, dict]:
    run = json.loads((report_dir / "run.json").read_text())
    return {f"{v['plugin']}/{v['implementation']}/{v['dtype']}": v for v in run["verdicts"]}


@pytest.fixture
def user_repo(pytester, engine_loaded):
    pytester.makepyfile(mygrads=textwrap.dedent(MYGRADS))
    return pytester


# --------------------------------------------------------------------------- assert_gradients

def test_assert_gradients_in_plain_tests_passes_right_code_and_fails_wrong_code_with_the_oracle_message(user_repo):
    user_repo.makepyfile(test_grads=textwrap.dedent(TEST_GRADS))
    result = user_repo.runpytest_subprocess("-p", "no:cacheprovider", "-rA")   # no conftest, no -p: the entry point
    result.assert_outcomes(passed=3, failed=2)
    out = result.stdout.str()
    seed = header_seed(out)
    result.stdout.fnmatch_lines([f"PASSED test_grads.py::{name}" for name in TESTS_PASSING]
                                + [f"FAILED test_grads.py::{name} - AssertionError: *" for name in TESTS_FAILING],
                                consecutive=False)

    # The wrong ReLU: op, check, argument, shrunk shapes, worst elements, error against threshold, seed, reproduce.
    relu = out[out.index("FAILED test_relu_with_the_output_as_mask.relu [float64]"):]
    assert re.match(r"FAILED test_relu_with_the_output_as_mask\.relu \[float64\]: \w+ check, argument 'x'", relu)
    assert re.search(r"^E\s+op\s+relu\s", relu, re.M)
    assert re.search(r"^E\s+case\s+x: \(\d+(, \d+)*,?\)", relu, re.M)
    assert re.search(r"^E\s+index\s+got\s+reference", relu, re.M)
    assert re.search(r"^E\s+\(\d+(, \d+)*,?\)\s+-?\d", relu, re.M), "no row of worst elements"
    assert re.search(r"^E\s+error\s+\S+ > threshold \S+", relu, re.M)
    assert re.search(rf"^E\s+seed\s+{seed}$", relu, re.M)
    assert re.search(rf"^E\s+reproduce\s+pytest test_grads.py::test_relu_with_the_output_as_mask --oracle-seed {seed}$",
                     relu, re.M)

    # An implementation that raises is a failure too, with what it raised.
    matmul = out[out.index("ERRORED test_matmul_missing_a_transpose.matmul [float64]"):]
    assert re.search(r"^E\s+.*raised ValueError", matmul, re.M)
    assert "mygrads.py" in matmul.split("\n\n")[0]
    # The engine's frames are hidden: the traceback ends at the user's call.
    assert "oracle/testing.py" not in out and "oracle/run.py" not in out


def test_the_marker_sets_examples_dtypes_and_seed_of_one_test_over_the_command_line(pytester):
    pytester.makepyfile(test_settings="""
        import pytest

        def test_command_line(oracle_settings):
            assert (oracle_settings.examples, oracle_settings.dtypes) == (7, ("float32",))
            assert oracle_settings.seed == 99

        @pytest.mark.oracle(examples=3, dtypes=["float64", "float32"], seed=5)
        def test_marker(oracle_settings):
            assert (oracle_settings.examples, oracle_settings.dtypes, oracle_settings.seed) == (3, ("float64", "float32"), 5)

        @pytest.mark.oracle(dtypes=["float64"])
        class TestClassMarker:
            def test_inherits(self, oracle_settings):
                assert (oracle_settings.examples, oracle_settings.dtypes) == (7, ("float64",))
    """)
    pytester.runpytest("-p", "no:cacheprovider", "--oracle-examples", "7", "--oracle-dtype", "float32",
                       "--oracle-seed", "99").assert_outcomes(passed=3)


def test_without_marker_or_options_a_test_gets_the_engine_defaults(pytester):
    pytester.makepyfile(test_defaults="""
        from oracle.run import DEFAULT_EXAMPLES, DTYPES

        def test_defaults(oracle_settings, pytestconfig):
            assert (oracle_settings.examples, oracle_settings.dtypes) == (DEFAULT_EXAMPLES, DTYPES)
            assert oracle_settings.seed == pytestconfig.stash[__import__("oracle.pytest_plugin").pytest_plugin.SESSION].seed
    """)
    pytester.runpytest("-p", "no:cacheprovider").assert_outcomes(passed=1)


def test_tool_oracle_in_pyproject_sets_the_session_settings_and_a_broken_table_is_a_usage_error(pytester):
    pytester.makepyprojecttoml("[tool.oracle]\nexamples = 4\ndtypes = [\"float32\"]\nseed = 17\n")
    pytester.makepyfile(test_project="""
        def test_project(oracle_settings):
            assert (oracle_settings.examples, oracle_settings.dtypes, oracle_settings.seed) == (4, ("float32",), 17)
    """)
    result = pytester.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)
    assert header_seed(result.stdout.str()) == 17

    pytester.makepyprojecttoml("[tool.oracle]\nexamples = 0\n")
    broken = pytester.runpytest("-p", "no:cacheprovider", "--oracle", "anything.py")
    assert broken.ret == pytest.ExitCode.USAGE_ERROR
    broken.stderr.fnmatch_lines(["*oracle: *pyproject.toml: [[]tool.oracle[]] examples must be a whole number from 1 to 100000, got 0"])


@pytest.mark.parametrize("arguments, problem", [
    ("exampels=5", "unknown argument 'exampels'; did you mean 'examples'?"),
    ("examples='10'", "examples must be a whole number from 1 to 100000, got '10'"),
    ("examples=0", "examples must be a whole number from 1 to 100000, got 0"),
    ("dtypes=['float8']", "dtypes must be one of float64, float32, float16, bfloat16, got 'float8'"),
    ("dtypes=3", "dtypes must be a list of dtypes (float64, float32, float16, bfloat16), got 3"),
    ("seed=True", "seed must be a whole number >= 0, got True"),
    ("20", "takes keyword arguments only (examples, dtypes, seed), got positional 20"),
])
def test_a_marker_with_a_bad_argument_is_a_collection_error_naming_the_marker_and_the_problem(pytester, arguments, problem):
    pytester.makepyfile(test_marker=f"""
        import pytest

        @pytest.mark.oracle({arguments})
        def test_it():
            pass
    """)
    result = pytester.runpytest("-p", "no:cacheprovider")
    assert result.ret == pytest.ExitCode.INTERRUPTED
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines([f"@pytest.mark.oracle on test_it: {problem}"])


@pytest.mark.parametrize("option, value, complaint", [
    ("--oracle-examples", "0", "argument --oracle-examples: must be a whole number from 1 to 100000, got '0'"),
    ("--oracle-seed", "x", "argument --oracle-seed: must be a whole number >= 0, got 'x'"),
    ("--oracle-dtype", "float8", "argument --oracle-dtype: must be one of float64, float32, float16, bfloat16, got 'float8'"),
])
def test_oracle_options_are_checked_like_the_command_lines(pytester, option, value, complaint):
    result = pytester.runpytest("-p", "no:cacheprovider", option, value)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([f"*{complaint}*"])


def test_unasked_the_plugin_collects_nothing_and_writes_nothing(pytester):
    pytester.makepyfile(test_plain="def test_plain():\n    pass\n")
    before = sorted(p.name for p in pytester.path.iterdir())
    result = pytester.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)
    header_seed(result.stdout.str())
    assert sorted(p.name for p in pytester.path.iterdir()) == before
    assert "oracle: HTML report" not in result.stdout.str()


# --------------------------------------------------------------------------- pytest --oracle TARGET

def test_oracle_target_collects_an_item_per_plugin_implementation_and_dtype_for_junit_and_k(user_repo):
    result = user_repo.runpytest("-p", "no:cacheprovider", *ITEM_OPTIONS, "--oracle-seed", "11", "--junitxml=out.xml")
    result.assert_outcomes(passed=2, failed=2)
    result.stdout.fnmatch_lines(["*_ bad::relu[[]float64[]] _*", "FAILED bad.relu [[]float64[]]: * check, argument 'x'",
                                 "*seed      11", "*reproduce pytest --oracle mygrads.py 'bad::relu[[]float64[]]' --oracle-seed 11 --oracle-examples 6"],
                                consecutive=False)
    assert "Traceback" not in result.stdout.str() and "runtest" not in result.stdout.str()

    junit = outcomes(user_repo.path / "out.xml")
    assert junit == {**{i: "passed" for i in ITEMS_PASSING}, **{i: "failure" for i in ITEMS_FAILING}}
    failure = ET.parse(user_repo.path / "out.xml").find(".//testcase[@name='relu[float64]'][@classname='bad']/failure")
    assert failure.get("message").startswith("FAILED bad.relu [float64]:") and "reproduce" in failure.text

    selected = user_repo.runpytest("-p", "no:cacheprovider", *ITEM_OPTIONS, "-k", "relu and not bad", "--co", "-q")
    selected.stdout.fnmatch_lines(["good::relu[[]float64[]]", "1/4 tests collected (3 deselected)*"])


def test_an_oracle_target_that_cannot_be_loaded_is_a_collection_error_that_says_why(pytester):
    result = pytester.runpytest("-p", "no:cacheprovider", "--oracle", "missing.py")
    assert result.ret == pytest.ExitCode.INTERRUPTED
    result.stdout.fnmatch_lines(["*ERROR collecting --oracle missing.py*", "oracle: no such file: missing.py"])


# --------------------------------------------------------------------------- pytest-xdist and --oracle-report

def test_under_xdist_two_workers_share_the_seed_and_the_report_holds_every_verdict(user_repo):
    user_repo.makepyfile(test_grads=textwrap.dedent(TEST_GRADS))
    result = user_repo.runpytest_subprocess("-p", "no:cacheprovider", "-n", "2", *ITEM_OPTIONS,
                                            "--oracle-report", "report", "--junitxml=xdist.xml")
    result.assert_outcomes(passed=5, failed=4)
    assert "2 workers [9 items]" in result.stdout.str()
    seed = header_seed(result.stdout.str())
    result.stdout.fnmatch_lines(["oracle: HTML report report*index.html (10 verdicts)"])

    report = user_repo.path / "report"
    assert (report / "index.html").is_file()
    verdicts = verdicts_by_id(report)
    assert set(verdicts) == {
        "test_correct_relu/relu/float64", "test_correct_relu_layer/relu/float64",
        "good/relu/float64", "good/matmul/float64",              # the items
        "good/relu #2/float64", "good/matmul #2/float64",        # test_good_plugin_by_op_names checks them again
        "test_relu_with_the_output_as_mask/relu/float64", "test_matmul_missing_a_transpose/matmul/float64",
        "bad/relu/float64", "bad/matmul/float64",
    }
    assert {v["seed"] for v in verdicts.values()} == {seed}, "every worker used the session's seed"
    assert json.loads((report / "run.json").read_text())["seed"] == seed
    assert "oracle_verdicts" not in (user_repo.path / "xdist.xml").read_text(), "verdicts stay out of the JUnit XML"

    # The same seed without xdist: the same outcomes and the same shrunk cases.
    serial = user_repo.runpytest("-p", "no:cacheprovider", *ITEM_OPTIONS, "--oracle-seed", str(seed),
                                 "--oracle-report", "serial", "--junitxml=serial.xml")
    serial.assert_outcomes(passed=5, failed=4)
    assert outcomes(user_repo.path / "serial.xml") == outcomes(user_repo.path / "xdist.xml")
    again = verdicts_by_id(user_repo.path / "serial")
    assert set(again) == set(verdicts)
    for name, verdict in verdicts.items():
        same = ("status", "check", "argument", "case", "worst", "reproduce")
        assert {k: again[name][k] for k in same} == {k: verdict[k] for k in same}, name


def test_the_oracle_ci_hypothesis_profile_is_derandomised_without_database_or_deadline(pytester):
    pytester.makepyfile(test_profile="""
        from hypothesis import settings

        def test_profile():
            assert settings.get_current_profile_name() == "oracle-ci"
            assert settings.default.derandomize and settings.default.database is None
            assert settings.default.deadline is None
    """)
    pytester.runpytest("-p", "no:cacheprovider", "--hypothesis-profile", "oracle-ci").assert_outcomes(passed=1)
