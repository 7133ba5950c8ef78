"""Evidence a reader can check, and evidence that can never crash the oracle.

Whatever an implementation returns (inf, NaN, a string, an object array, a huge number that
overflows float32), every check's message, the explanation, the diagnosis and the failure
text are produced without an exception. Numbers get the digits that make got and expected
visibly differ, and each shown element carries its error relative to itself and to the scale.
"""

import json

import numpy as np
import pytest

from oracle.cases import build_case
from oracle.checks import compare, run_checks
from oracle.explain import explain
from oracle.figures import distinct, figure
from oracle.message import format_failure
from oracle.result import Element, Verdict
from oracle.testing import as_plugin

HOSTILE = [float("inf"), float("-inf"), float("nan"), "inf", "nan", "a string", None, {"a": 1},
           np.array([1, "x"], dtype=object), np.float32(3.5), 10**400, object()]


@pytest.mark.parametrize("value", HOSTILE, ids=lambda v: type(v).__name__ if type(v) is object else repr(v))
def test_any_value_is_formatted_without_raising(value):
    assert isinstance(figure(value, ".2e"), str)
    assert isinstance(figure(value, "not a format spec"), str)


@pytest.mark.parametrize("value", HOSTILE, ids=lambda v: type(v).__name__ if type(v) is object else repr(v))
def test_a_verdict_holding_any_value_in_every_field_is_shown_without_raising(value):
    element = Element(index=[0], got=value, expected=value, error=value, finite_difference=value,
                      error_element=value, error_scale=value, over=False)
    verdict = Verdict(plugin="p", op="exp", dtype="float32", status="failed", check="reference", argument="x",
                      message="m", worst=[element, Element(index=value, got=1.0, expected=2.0, error=value)],
                      bad=value, total=value, error=value, threshold=value)
    assert "FAILED p.exp [float32]" in format_failure(verdict)


def hostile_gradient(value):
    def exp(x):
        y = np.exp(x)

        def pullback(g):
            dx = (g * y).astype(object) if value == "object" else g * y
            if value != "object":
                dx.reshape(-1)[0] = value
            return (dx,)

        return y, pullback

    return exp


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("value", [np.inf, np.nan, 1e300, -1e39, 1e-300, "object"], ids=repr)
def test_every_check_explains_a_hostile_gradient_without_crashing(value, dtype):
    (impl,) = as_plugin(hostile_gradient(value), "exp").implementations
    case = build_case(impl.spec, dtype, {"n": 3}, (), {}, seed=1)
    with np.errstate(all="ignore"):
        finding, ev = run_checks(impl, case)
    if value == 1e-300:  # a wrong first element is still just a wrong element
        assert finding.check == "reference"
    assert finding is not None and finding.status == "failed", finding
    verdict = explain(finding, ev, case, dict(plugin="p", op="exp", dtype=dtype), reproduce="")
    text = format_failure(verdict)
    assert finding.check in text
    json.dumps(verdict.diagnosis, allow_nan=False)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_an_inf_error_reads_inf_in_the_message(dtype):
    got = np.array([1.0, np.float32(3e38) * 10 if dtype == "float32" else np.inf])
    finding = compare("reference", "x", got, np.array([1.0, 2.0]), 1e-6, "gradient for 'x' differs")
    assert "worst relative error inf > threshold 1e-06" in finding.message
    assert "inf" in format_failure(Verdict(plugin="p", op="exp", dtype=dtype, status="failed", check="reference",
                                           message=finding.message, worst=finding.worst, error=finding.error,
                                           threshold=finding.threshold))


def test_values_equal_to_the_last_bit_pass_even_where_they_are_infinite():
    got = np.array([1.5, np.inf, -np.inf, 0.0])
    assert compare("reference", "x", got, got.copy(), 4e-13, "gradient") is None


def test_one_element_just_over_the_threshold_fails_among_a_hundred_thousand_equal_ones():
    expected = np.random.default_rng(0).standard_normal(10**5)
    got = expected.copy()
    got[777] += 1e-11 * np.sqrt(np.mean(expected**2))
    finding = compare("reference", "x", got, expected, 4e-13, "gradient")
    assert finding is not None and finding.bad == 1 and finding.worst[0].index == [777]


def test_got_and_expected_get_the_digits_that_tell_them_apart():
    got, expected = 0.3618940123, 0.3618940123 * (1 + 1e-7)
    shown_got, shown_expected = distinct(got, expected)
    assert shown_got != shown_expected
    assert f"{got:.6g}" == f"{expected:.6g}"   # what six digits would have shown


def test_the_failure_table_lists_the_wrong_elements_and_one_or_two_right_ones_with_both_relative_errors():
    expected = np.array([0.361894, 2.0, 3.0, -1.5, 0.001])
    got = expected.copy()
    got[0] *= 1 + 1e-7
    finding = compare("reference", "x", got, expected, 1e-9, "gradient for 'x' differs")
    assert finding.bad == 1
    assert [e.over for e in finding.worst] == [True, False, False]   # the wrong one, then two for context
    worst = finding.worst[0]
    assert worst.error_element == pytest.approx(1e-7, rel=1e-6)
    assert worst.error_scale == pytest.approx(abs(got[0] - expected[0]) / np.sqrt(np.mean(expected**2)))
    verdict = Verdict(plugin="p", op="exp", dtype="float64", status="failed", check="reference", argument="x",
                      message=finding.message, worst=finding.worst, bad=1, total=5, error=finding.error,
                      threshold=finding.threshold)
    text = format_failure(verdict)
    row = next(line for line in text.splitlines() if line.strip().startswith("(0,)"))
    shown_got, shown_expected = row.split()[1:3]
    assert shown_got != shown_expected
    assert "error/|elem|" in text and "error/scale" in text
    assert text.count(" ok") == 2 and "more of" not in text
