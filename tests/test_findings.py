"""Every finding of the shrunk case, the most important first.

A float64 gradient for a float32 input (np.zeros(shape) in a backward) fails the dtype check,
but the values behind it are still judged: the verdict says whether they are right. A wrong
value outranks a wrong dtype or shape, and the search shrinks toward it.
"""

import numpy as np

from oracle.cases import build_case
from oracle.checks import run_checks
from oracle.message import format_failure
from oracle.run import judge
from oracle.testing import as_plugin


def tanh_in_float64(x):
    y = np.tanh(x)

    def pullback(g):
        dx = np.zeros(x.shape)   # float64, whatever x is
        dx[...] = g * (1 - y**2)
        return (dx,)

    return y, pullback


def tanh_in_float64_wrong_from_three(x):
    y = np.tanh(x)

    def pullback(g):
        dx = np.zeros(x.shape)
        dx[...] = g * (1 - y**2) * (2 if x.shape[-1] >= 3 else 1)
        return (dx,)

    return y, pullback


def test_a_dtype_finding_no_longer_hides_the_values_and_says_they_are_right():
    (impl,) = as_plugin(tanh_in_float64, "tanh").implementations
    finding, _ = run_checks(impl, build_case(impl.spec, "float32", {"n": 4}, (), {}, 1))
    assert finding.check == "dtype" and finding.values_right is True and finding.also == []
    verdict = judge(impl, "float32", examples=5, seed=1)
    assert verdict.check == "dtype" and verdict.values_right is True
    assert "values    right" in format_failure(verdict)


def test_a_wrong_value_leads_and_the_dtype_finding_comes_with_it():
    (impl,) = as_plugin(tanh_in_float64_wrong_from_three, "tanh").implementations
    finding, _ = run_checks(impl, build_case(impl.spec, "float32", {"n": 4}, (), {}, 1))
    assert finding.check == "reference" and finding.values_right is False
    assert [f["check"] for f in finding.also] == ["dtype"]


def test_the_search_shrinks_toward_the_wrong_value_not_the_smaller_dtype_failure():
    (impl,) = as_plugin(tanh_in_float64_wrong_from_three, "tanh").implementations
    verdict = judge(impl, "float32", examples=40, seed=3)
    assert verdict.status == "failed" and verdict.check == "reference"
    assert verdict.case.dims["n"] == 3   # shrunk to the smallest case with the wrong value
    assert [f["check"] for f in verdict.also] == ["dtype"]
    text = format_failure(verdict)
    assert "also      dtype check" in text


def test_a_wrong_shape_for_one_argument_leaves_the_others_values_judged():
    def mul(x, y):
        return x * y, lambda g: ((g * y).sum(axis=0), g * x * 3)

    (impl,) = as_plugin(mul, "mul").implementations
    finding, _ = run_checks(impl, build_case(impl.spec, "float64", {"n": 3}, (2,), {}, 1))
    assert (finding.check, finding.argument) == ("reference", "y")
    assert [(f["check"], f["argument"]) for f in finding.also] == [("shape", "x")]


def test_the_html_page_shows_the_other_findings_and_whether_the_values_are_right(tmp_path):
    from oracle.report.html import write_html
    from oracle.result import Run

    (impl,) = as_plugin(tanh_in_float64, "tanh").implementations
    verdict = judge(impl, "float32", examples=5, seed=1)
    write_html(Run(seed=1, verdicts=[verdict]), tmp_path)
    pages = " ".join(page.read_text(encoding="utf-8") for page in tmp_path.rglob("*.html"))
    assert "the values are right: every value check passed on this case" in pages
