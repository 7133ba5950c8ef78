"""Report pieces without a browser: per-channel heatmaps of 4-D gradients, the failures-first
order, GitHub annotations escaped as the runner's workflow commands ask."""

from __future__ import annotations

import numpy as np

from oracle.report.github import annotation, annotations
from oracle.report.html import MAX_SLICES, difference_slices, ordered, presentable
from oracle.result import Element, Run, Verdict


def test_a_4d_gradient_is_one_heatmap_per_sample_and_channel_worst_first_on_one_scale():
    expected = np.zeros((2, 3, 2, 2))
    got = expected.copy()
    got[1, 2, 0, 0] = 4.0
    got[0, 1, 1, 1] = -2.0
    slices, total = difference_slices(got.tolist(), expected.tolist(), [Element([1, 2, 0, 0], 4.0, 0.0, 4.0)])
    assert total == 6
    assert [s.label for s in slices[:2]] == ["n=1, channel 2", "n=0, channel 1"]
    assert [s.worst for s in slices[:2]] == [4.0, 2.0]
    worst, second = slices[0].view.rows, slices[1].view.rows
    assert worst[0][0].level == 8 and worst[0][0].marked and worst[0][0].title == "index [1, 2, 0, 0]: got - expected = 4"
    assert second[1][1].level == 4          # half the largest error, on the same scale
    assert difference_slices([1.0, 2.0], [1.0, 2.0], []) == ([], 0)       # 1-D has its own heatmap


def test_no_more_than_a_screenful_of_channels_is_drawn():
    slices, total = difference_slices(np.ones((40, 2, 2)).tolist(), np.zeros((40, 2, 2)).tolist(), [])
    assert total == 40 and len(slices) == MAX_SLICES


def test_failures_come_first_and_a_known_failure_after_the_errors():
    statuses = ["passed", "failed", "skipped", "errored", "failed"]
    verdicts = [Verdict(plugin="p", op=f"op{i}", dtype="float64", status=s) for i, s in enumerate(statuses)]
    verdicts[4].known = True
    assert [v.op for v in ordered(verdicts)] == ["op1", "op3", "op4", "op2", "op0"]
    shown = presentable(Run(seed=1, verdicts=verdicts))
    assert [v.known for v in shown.verdicts] == [v.known for v in verdicts]


def test_an_annotation_escapes_percent_newlines_and_property_separators_and_strips_controls():
    verdict = Verdict(plugin="p", op="relu", dtype="float64", status="failed", check="reference",
                      message="100% wrong\x1b[31m\nsecond line", source_file="a,b:c.py", source_line=7,
                      source_function="relu.<locals>.<lambda>", reproduce="oracle check a.py --op relu")
    line = annotation(verdict)
    assert line.startswith("::error file=a%2Cb%3Ac.py,line=7,title=oracle%3A p relu float64 (reference check)::")
    assert line.endswith("::100%25 wrong%0Ain relu.<locals>.<lambda>%0Areproduce: oracle check a.py --op relu")
    assert "\x1b" not in line and "\n" not in line


def test_only_failures_that_fail_the_gate_are_annotated():
    known = Verdict(plugin="p", op="a", dtype="float64", status="failed", known=True)
    passed = Verdict(plugin="p", op="b", dtype="float64", status="passed")
    errored = Verdict(plugin="p", op="c", dtype="float64", status="errored", message="boom")
    assert annotations(Run(seed=1, verdicts=[known, passed, errored])) == ["::error title=oracle%3A p c float64::boom"]
