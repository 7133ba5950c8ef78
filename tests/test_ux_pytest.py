"""pytest the pytest way, and conventions that are not riddles: --oracle items re-run by node id,
a reproduce line that is a pytest command, the likely convention named, op names suggested."""

from __future__ import annotations

import re

import numpy as np
import pytest

import oracle
from oracle.errors import SpecError
from oracle.testing import assert_gradients

LAYERS = '''
import oracle

plugin = oracle.Plugin("mine")


@plugin.pullback("relu")
def relu(x):
    return x * (x > 0), lambda g: (g * (x > 0),)


@plugin.pullback("matmul")
def matmul(a, b):
    return a @ b, lambda g: (2 * g @ b.T, a.T @ g)     # dA twice too large: every case shows it
'''

OPTIONS = ("-p", "no:cacheprovider", "--oracle-examples", "4", "--oracle-seed", "5")


@pytest.fixture
def layers(pytester, engine_loaded):
    pytester.makepyfile(mylayers=LAYERS)
    return pytester


def test_an_oracle_item_is_run_again_by_its_node_id(layers):
    every = layers.runpytest(*OPTIONS, "--oracle", "mylayers.py", "--oracle-dtype", "float64")
    every.assert_outcomes(passed=1, failed=1)
    one = layers.runpytest(*OPTIONS, "--oracle", "mylayers.py", "mine::relu[float64]", "-v")
    one.assert_outcomes(passed=1)
    assert "mine::relu[float64] PASSED" in one.stdout.str()
    both_dtypes = layers.runpytest(*OPTIONS, "--oracle", "mylayers.py", "mine::relu")
    both_dtypes.assert_outcomes(passed=2)


def test_without_oracle_the_plugin_before_the_double_colon_is_the_target(pytester, engine_loaded):
    result = pytester.runpytest(*OPTIONS, "gatecore::relu[float64]", "-v")
    result.assert_outcomes(passed=1)


def test_a_node_id_that_names_no_item_is_one_line_listing_some_that_exist(layers):
    result = layers.runpytest(*OPTIONS, "--oracle", "mylayers.py", "mine::relu[float16]")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    lines = result.stderr.str().strip().splitlines()
    assert lines == [lines[0]] and lines[0].startswith(
        "ERROR: oracle: no --oracle item 'mine::relu[float16]' (there are: mine::relu[float64], ")


def test_the_reproduce_line_of_an_item_is_a_pytest_command_that_runs_it_again(layers):
    result = layers.runpytest(*OPTIONS, "--oracle", "mylayers.py", "--oracle-dtype", "float64")
    match = re.search(r"reproduce (pytest --oracle mylayers\.py 'mine::matmul\[float64\]' --oracle-seed 5 "
                      r"--oracle-examples 4)$", result.stdout.str(), re.M)
    assert match, result.stdout.str()
    again = layers.runpytest("-p", "no:cacheprovider", *match.group(1).replace("'", "").split()[1:])
    again.assert_outcomes(failed=1)


# --------------------------------------------------------------------------- conventions

def softmax_loss(x, y):
    shifted = x - x.max(axis=1, keepdims=True)
    p = np.exp(shifted) / np.exp(shifted).sum(axis=1, keepdims=True)
    n = x.shape[0]
    dx = p.copy()
    dx[np.arange(n), y] -= 1
    return -np.log(p[np.arange(n), y]).mean(), dx / n


def affine_forward(x, w, b):
    return x @ w + b, (x, w, b)


SETTINGS = dict(examples=3, dtypes=["float64"], seed=1, workers=0)


def test_a_loss_and_gradient_function_passed_as_a_pullback_is_told_to_use_value_and_grad():
    with pytest.raises(AssertionError) as failure:
        assert_gradients(softmax_loss, "softmax_cross_entropy", **SETTINGS)
    assert "got a tuple of 2; it looks like (loss, gradient): register it with plugin.value_and_grad(...), " \
           "or pass convention='value_and_grad'" in str(failure.value)
    assert_gradients(softmax_loss, "softmax_cross_entropy", convention="value_and_grad", **SETTINGS)


def test_a_layer_forward_passed_as_a_pullback_is_told_to_use_the_layer_convention():
    with pytest.raises(AssertionError, match=r"it looks like a layer's forward returning \(out, cache\)"):
        assert_gradients(affine_forward, "affine", **SETTINGS)


@pytest.mark.parametrize("name, says", [("ReLU", "did you mean relu? (op names are lower case)"),
                                        ("MatMul", "did you mean matmul?"),
                                        ("frobnicate", "`oracle list` shows the")])
def test_an_unknown_op_name_is_one_line_with_a_case_insensitive_suggestion(name, says):
    with pytest.raises(SpecError) as error:
        oracle.Plugin("p").pullback(name, lambda x: (x, lambda g: (g,)))
    assert says in str(error.value) and "\n" not in str(error.value) and "add, add_const" not in str(error.value)


def test_assert_gradients_replays_pinned_cases_first(tmp_path):
    import json

    def wrong(a, b):
        return a @ b, lambda g: (g @ b.T * 1.5, a.T @ g)

    # A pinned case is tried before the search and, being pinned, is not shrunk: the failure shows it.
    # Inside a test, the plugin around a bare implementation is named after the test.
    pinned = {"dims": {"n": 3, "k": 2, "m": 4}, "batch": [], "hyper": {}, "seed": 1234}
    path = tmp_path / "pinned.json"
    key = "test_assert_gradients_replays_pinned_cases_first::matmul::float64"
    path.write_text(json.dumps({"version": 1, "examples": {key: [pinned]}}))
    with pytest.raises(AssertionError) as replayed:
        assert_gradients(wrong, "matmul", **SETTINGS, examples_from=path)
    assert "n=3, k=2, m=4   case seed 1234" in str(replayed.value)
    with pytest.raises(AssertionError) as searched:
        assert_gradients(wrong, "matmul", **SETTINGS)
    assert "case seed 1234" not in str(searched.value)


def test_pinned_cases_of_tool_oracle_are_replayed_by_tests_and_by_oracle_items(layers):
    import json

    pinned = [{"dims": {"n": 3, "k": 2, "m": 4}, "batch": [], "hyper": {}, "seed": 1234}]
    layers.makefile(".json", pinned=json.dumps({"version": 1, "examples": {
        "mine::matmul::float64": pinned, "test_wrong_matmul::matmul::float64": pinned}}))
    layers.makefile(".toml", pyproject='[tool.oracle]\nexamples_from = ["pinned.json"]\n')
    layers.makepyfile(test_mine='''
        from oracle.testing import assert_gradients

        def test_wrong_matmul():
            assert_gradients(lambda a, b: (a @ b, lambda g: (2 * g @ b.T, a.T @ g)), "matmul",
                             dtypes=["float64"], examples=3, workers=0)
    ''')
    result = layers.runpytest(*OPTIONS, "--oracle", "mylayers.py", "--oracle-dtype", "float64")
    result.assert_outcomes(passed=1, failed=2)
    # each failure shows the pinned case, which is tried first and not shrunk
    failures = result.stdout.str().split("short test summary info")[0]
    assert failures.count("n=3, k=2, m=4   case seed 1234") == 2, result.stdout.str()
