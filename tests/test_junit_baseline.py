"""JUnit XML for CI, and the baseline of known failures that the gate forgives."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET

import pytest

from oracle.baseline import Baseline, BaselineError, from_run, load
from oracle.message import format_failure
from oracle.report.junit import junit_xml, write_junit
from oracle.result import CaseRecord, Element, Run, Verdict


def failed(plugin="demo", impl="matmul", dtype="float64", check="reference", message="gradient for 'b' is wrong\nmore"):
    return Verdict(plugin=plugin, op="matmul", implementation=impl, dtype=dtype, status="failed", check=check,
                   argument="b", message=message, error=0.5, threshold=1e-9, bad=2, total=6,
                   worst=[Element([0, 1], 1.5, 1.0, 0.5, 1.0)], reproduce=f"oracle check demo.py --op {impl}",
                   case=CaseRecord({"n": 2}, [], {}, dtype, 4, {"a": [2, 3], "b": [3, 1]}), duration=0.25)


def make_run():
    return Run(seed=42, targets=["demo.py"], versions={"python": "3.11"}, started="2025-01-02T03:04:05+00:00", duration=3.5,
               verdicts=[
                   Verdict(plugin="demo", op="add", dtype="float64", status="passed", examples=20, duration=0.5),
                   failed(),
                   Verdict(plugin="demo", op="relu", dtype="float64", status="errored", check="call",
                           message="the implementation raised ValueError: bad\x1b[31m <&>"),
                   Verdict(plugin="demo", op="relu", dtype="float32", status="skipped", message="declared for float64 only"),
               ])


def parse(run):
    return ET.fromstring(junit_xml(run).encode("utf-8"))


# --------------------------------------------------------------------------- JUnit XML

def test_junit_has_one_testcase_per_plugin_implementation_and_dtype():
    suite = parse(make_run()).find("testsuite")
    names = [(c.get("classname"), c.get("name")) for c in suite.iter("testcase")]
    assert names == [("oracle.demo", "add[float64]"), ("oracle.demo", "matmul[float64]"),
                     ("oracle.demo", "relu[float64]"), ("oracle.demo", "relu[float32]")]
    assert (suite.get("tests"), suite.get("failures"), suite.get("errors"), suite.get("skipped")) == ("4", "1", "1", "1")
    assert suite.get("time") == "3.500"


def test_a_junit_failure_carries_the_failure_message_and_its_first_line():
    run = make_run()
    case = parse(run).find("testsuite").findall("testcase")[1]
    failure = case.find("failure")
    assert failure.get("message") == "gradient for 'b' is wrong"
    assert failure.get("type") == "reference"
    assert failure.text == format_failure(run.verdicts[1])


def test_junit_errors_and_skips_are_marked_as_such():
    cases = parse(make_run()).find("testsuite").findall("testcase")
    assert cases[0].find("failure") is None and cases[0].find("error") is None
    assert cases[2].find("error").get("type") == "call"
    assert cases[3].find("skipped").get("message") == "declared for float64 only"


def test_junit_replaces_characters_xml_cannot_hold_and_escapes_the_rest():
    text = junit_xml(make_run())
    assert "\x1b" not in text
    error = parse(make_run()).find("testsuite").findall("testcase")[2].find("error")
    assert error.get("message") == "the implementation raised ValueError: bad#x1B[31m <&>"


def test_junit_suite_properties_hold_the_seed_and_whether_the_run_is_complete():
    run = make_run()
    run.incomplete, run.stopped_because = True, "time budget"
    properties = {p.get("name"): p.get("value") for p in parse(run).iter("property")}
    assert properties["seed"] == "42"
    assert properties["incomplete"] == "true"
    assert properties["stopped_because"] == "time budget"
    assert properties["version.python"] == "3.11"


def test_a_known_failure_is_a_junit_skip_of_type_known_not_a_failure():
    run = make_run()
    Baseline({run.verdicts[1].fingerprint: ""}).apply(run)
    suite = parse(run).find("testsuite")
    case = suite.findall("testcase")[1]
    assert case.find("failure") is None
    assert case.find("skipped").get("type") == "known"
    assert suite.get("failures") == "0" and suite.get("skipped") == "2"


def test_junit_is_written_whole_to_the_path(tmp_path):
    path = tmp_path / "ci" / "oracle.xml"
    write_junit(make_run(), path)
    assert ET.parse(path).getroot().tag == "testsuites"
    assert [p.name for p in path.parent.iterdir()] == ["oracle.xml"]


# --------------------------------------------------------------------------- baseline

def test_a_baseline_from_a_run_lists_its_failures_and_errors_only():
    baseline = from_run(make_run())
    assert baseline.known == {"demo::matmul::float64::reference": "gradient for 'b' is wrong",
                              "demo::relu::float64::call": "the implementation raised ValueError: bad\x1b[31m <&>"}


def test_a_baseline_survives_saving_and_loading_and_reads_well_in_a_diff(tmp_path):
    path = tmp_path / "baseline.json"
    from_run(make_run()).save(path)
    text = path.read_text()
    assert text.splitlines()[1].startswith(' "demo::matmul::float64::reference"')
    assert json.loads(text)["version"] == 1
    assert load(path) == from_run(make_run())


def test_applying_a_baseline_marks_known_failures_and_the_run_passes_the_gate():
    run = make_run()
    assert not run.ok
    comparison = from_run(run).apply(run)
    assert [v.id for v in comparison.known] == ["demo/matmul/float64", "demo/relu/float64"]
    assert [v.known for v in run.verdicts] == [False, True, True, False]
    assert run.ok and comparison.fixed == []


def test_a_failure_not_in_the_baseline_still_fails_the_gate():
    run = make_run()
    Baseline({"demo::matmul::float64::reference": ""}).apply(run)
    assert not run.ok
    assert not run.verdicts[2].known


def test_the_fingerprint_ignores_seed_and_case_so_a_new_shrunk_case_is_still_known():
    first, later = make_run(), make_run()
    later.verdicts[1] = failed(message="another case, another message")
    later.verdicts[1].case.seed, later.verdicts[1].seed = 999, 7
    from_run(first).apply(later)
    assert later.verdicts[1].known


def test_a_failure_of_another_check_on_a_known_verdict_is_new():
    run = make_run()
    run.verdicts[1] = failed(check="shape")
    comparison = Baseline({"demo::matmul::float64::reference": ""}).apply(run)
    assert not run.verdicts[1].known
    assert comparison.fixed == ["demo::matmul::float64::reference"]


def test_baseline_entries_that_now_pass_are_reported_as_fixed_but_not_ones_this_run_did_not_judge():
    run = make_run()
    comparison = Baseline({
        "demo::add::float64::reference": "",        # ran and passed: fixed
        "demo::relu::float32::call": "",            # skipped this time: says nothing
        "demo::conv2d::float64::reference": "",     # not in this run (filtered out): says nothing
    }).apply(run)
    assert comparison.fixed == ["demo::add::float64::reference"]


def test_names_holding_the_separator_still_match():
    run = Run(seed=1, verdicts=[failed(plugin="a::b", impl="x::y")])
    comparison = from_run(run).apply(run)
    assert run.verdicts[0].known and comparison.fixed == []


@pytest.mark.parametrize("content, says", [
    (None, "does not exist; write one with `oracle baseline --output"),
    ("not json", "is not JSON"),
    ('{"version": 1}', "has no 'known' table"),
    ('{"version": 9, "known": {}}', "format version 9"),
    ('{"version": 1, "known": {"matmul": ""}}', "is not a fingerprint"),
])
def test_an_unreadable_baseline_is_an_error_that_says_what_is_wrong(tmp_path, content, says):
    path = tmp_path / "baseline.json"
    if content is not None:
        path.write_text(content)
    with pytest.raises(BaselineError, match=says):
        load(path)
