"""The HTML report: one folder that opens from disk, rendered from the Run alone, with every
string from a plugin or an exception escaped."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path

import pytest

from oracle.message import format_failure
from oracle.report import error_text
from oracle.report.html import page_name, write_html
from oracle.result import CaseRecord, Element, Run, Verdict

HOSTILE_OP = "<img src=x onerror=alert(1)>"
HOSTILE_MESSAGE = "the implementation raised RuntimeError: <script>alert(1)</script> & \"quotes\""


def make_run() -> Run:
    matmul = Verdict(
        plugin="demo", op="matmul", implementation="matmul", dtype="float64", status="failed", convention="pullback",
        check="reference", argument="b", message="gradient for 'b' differs from jax.vjp of the reference",
        case=CaseRecord(dims={"n": 1, "k": 2, "m": 3}, batch=[], hyper={}, dtype="float64", seed=17,
                        shapes={"a": [1, 2], "b": [2, 3]},
                        inputs={"a": [[0.5, -1.25]], "b": [[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]},
                        cotangent=[[0.1, 0.2, 0.3]]),
        got=[[0.05, 0.1, 0.15], [-0.125, -0.25, 0.9]], expected=[[0.05, 0.1, 0.15], [-0.125, -0.25, -0.375]],
        worst=[Element([1, 2], 0.9, -0.375, -0.375, 3.4)], bad=1, total=6, error=3.4, threshold=1e-9,
        diagnosis="one element is wrong: an off-by-one in an index", hints=["compare with float64"],
        reproduce="oracle check demo.py --op matmul --dtype float64 --seed 5 --examples 10",
        seed=5, examples=7, checks=["forward", "reference"], source="demo:matmul", target="demo.py",
    )
    hostile = Verdict(
        plugin="demo", op=HOSTILE_OP, dtype="float32", status="errored", check="call", convention="pullback",
        message=HOSTILE_MESSAGE, diagnosis="<b>bold</b> claim", hints=["<i>hint</i>"],
        case=CaseRecord(dims={"n": 1}, batch=[], hyper={"p<": "<x>"}, dtype="float32", seed=1, shapes={"x": [1]}),
        reproduce=f"oracle check demo.py --op '{HOSTILE_OP}'", seed=5, source="demo:<lambda>",
    )
    vector = Verdict(
        plugin="<plug>", op="relu", dtype="float64", status="failed", check="relu_sparse", argument="x",
        message="gradient is not zero where x < 0", got=[1.0, "nan", 0.0], expected=[1.0, 0.0, 0.0],
        worst=[Element([1], "nan", 0.0, 0.0, "inf")], error="inf", threshold=1e-9, seed=5, examples=3,
    )
    cube = Verdict(plugin="demo", op="conv2d", dtype="float64", status="failed", check="reference", argument="w",
                   message="wrong", got=[[[1.0, 2.0]]], expected=[[[1.0, 3.0]]], seed=5)
    shape = Verdict(plugin="demo", op="transpose", dtype="float64", status="failed", check="shape", argument="x",
                    message="gradient has shape (2, 1)", got=[[1.0], [2.0]], expected=[[1.0, 2.0]], seed=5)
    passed = Verdict(plugin="demo", op="add", dtype="float64", status="passed", examples=25,
                     checks=["forward", "reference", "finite_differences", "linearity"], message="25 cases")
    skipped = Verdict(plugin="demo", op="add", dtype="float32", status="skipped", message="declared for float64 only")
    return Run(seed=5, targets=["demo.py", "<target>"], settings={"examples": 10, "dtypes": ["float64"]},
               versions={"python": "3.11.7", "jax": "<0.4>"}, started="2025-03-01T12:00:05+00:00", duration=12.25,
               verdicts=[passed, skipped, matmul, hostile, vector, cube, shape])


@pytest.fixture
def report(tmp_path) -> tuple[Run, Path]:
    run = make_run()
    return run, write_html(run, tmp_path / "report")


class Page(HTMLParser):
    """The tags, attributes and text of a page, as a browser would see them."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict]] = []
        self.text: list[str] = []
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data):
        self.text.append(data)

    def all_text(self) -> str:
        return " ".join(" ".join(self.text).split())

    def find(self, tag, **attrs) -> list[dict]:
        return [a for t, a in self.tags if t == tag and all(a.get(k) == v for k, v in attrs.items())]


def read(path: Path) -> Page:
    return Page(path.read_text(encoding="utf-8"))


def test_the_folder_holds_an_index_a_page_per_verdict_that_did_not_pass_its_assets_and_the_run(report):
    run, index = report
    folder = index.parent
    assert index == folder / "index.html"
    assert {p.name for p in folder.iterdir()} == {"index.html", "style.css", "report.js", "run.json", "verdicts"}
    pages = sorted(p.relative_to(folder).as_posix() for p in (folder / "verdicts").iterdir())
    assert pages == sorted(page_name(v) for v in run.verdicts if v.status != "passed")
    assert Run.load(folder / "run.json") == run


def test_the_index_shows_the_plugins_by_ops_matrix_coloured_by_status_with_links_to_the_pages(report):
    run, index = report
    page = read(index)
    matrix_headers = re.findall(r"<thead><tr><th>op</th>(.*?)</tr></thead>", index.read_text())[0]
    assert re.findall(r"<th>(.*?)</th>", matrix_headers) == ["demo", "&lt;plug&gt;"]
    chips = page.find("a", **{"data-status": "failed"}) + page.find("span", **{"data-status": "passed"})
    assert {c["class"] for c in chips} == {"chip s-failed", "chip s-passed"}
    linked = {a["href"] for a in page.find("a") if a.get("href", "").startswith("verdicts/")}
    assert linked == {page_name(v) for v in run.verdicts if v.status != "passed"}
    assert not [a for a in page.find("a") if a.get("href") == page_name(run.verdicts[0])]   # no page for a pass


def test_the_index_states_the_runs_seed_versions_time_and_counts(report):
    _, index = report
    text = read(index).all_text()
    assert "seed 5" in text and "2025-03-01 12:00:05 UTC" in text and "12.2 s" in text
    assert "python 3.11.7" in text and "jax <0.4>" in text
    assert "1 passed, 4 failed, 1 errored, 1 skipped" in text


def test_passing_ops_show_what_was_checked_and_how_many_cases(report):
    text = read(report[1]).all_text()
    assert "25 cases: forward, reference, finite_differences, linearity" in text


def test_the_index_can_be_filtered_by_text_and_status_with_local_script_only(report):
    _, index = report
    page = read(index)
    assert page.find("form", id="filter")
    boxes = {a["value"] for a in page.find("input", type="checkbox")}
    assert boxes == {"passed", "failed", "errored", "skipped"}
    assert page.find("script", src="report.js")
    assert "data-search" in (index.parent / "report.js").read_text()


def test_a_failure_page_holds_the_check_case_inputs_gradients_heatmap_worst_elements_diagnosis_and_reproduce(report):
    run, index = report
    verdict = run.verdicts[2]
    path = index.parent / page_name(verdict)
    html, page = path.read_text(), read(path)
    text = page.all_text()
    assert "reference on argument b" in text
    assert "a: (1, 2), b: (2, 3)" in text                        # shrunk shapes
    assert "n=1, k=2, m=3" in text and "input a (1, 2)" in text and "upstream gradient (1, 3)" in text
    assert "-1.25" in text                                      # the input values
    assert "expected (2, 3)" in text and "got (2, 3)" in text and "got − expected (2, 3)" in text
    heat = re.search(r'<table class="array heat">(.*?)</table>', html, re.S).group(1)
    cells = re.findall(r'<td class="(h\d)( marked)?"[^>]*>([^<]*)</td>', heat)
    assert len(cells) == 6
    assert cells[5] == ("h8", " marked", "1.275")               # the one wrong element: darkest, outlined
    assert all(c[0] == "h0" and not c[1] for c in cells[:5])
    assert "1 of 6 elements exceed the threshold" in text
    assert "one element is wrong: an off-by-one in an index" in text
    assert verdict.reproduce in text
    assert " ".join(format_failure(verdict).split()) in text    # the failure message, whole


def test_one_dimensional_gradients_get_a_heatmap_too_and_nan_is_shown_as_such(report):
    run, index = report
    html = (index.parent / page_name(run.verdicts[4])).read_text()
    heat = re.search(r'<table class="array heat">(.*?)</table>', html, re.S).group(1)
    assert re.findall(r'<td class="(h\d)( marked)?"[^>]*>([^<]*)</td>', heat) == [
        ("h0", "", "0"), ("h8", " marked", "nan"), ("h0", "", "0")]


def test_higher_dimensional_arrays_are_shown_as_text_and_different_shapes_are_named(report):
    run, index = report
    cube = (index.parent / page_name(run.verdicts[5])).read_text()
    # got and expected as text; their difference as a heatmap per channel (tests/test_report_browser.py)
    assert '<pre class="array-text">' in cube and cube.count('<figure class="slice">') == 1   # (1, 1, 2): one channel
    shape = read(index.parent / page_name(run.verdicts[6])).all_text()
    assert "The shapes differ: got (2, 1), expected (1, 2)." in shape


@pytest.mark.parametrize("raw", [HOSTILE_OP, "<script>alert(1)</script>", "<b>bold</b>", "<i>hint</i>", "<plug>",
                                 "<x>", "<target>", "<lambda>"])
def test_strings_from_plugins_and_exceptions_never_become_markup(report, raw):
    _, index = report
    for path in [index, *(index.parent / "verdicts").iterdir()]:
        assert raw not in path.read_text(encoding="utf-8"), f"{raw!r} unescaped in {path.name}"


def test_the_hostile_op_and_message_are_shown_escaped_as_text(report):
    run, index = report
    page = read(index.parent / page_name(run.verdicts[3]))
    text = page.all_text()
    assert HOSTILE_OP in text and "<script>alert(1)</script> & \"quotes\"" in text
    assert not page.find("img") and not page.find("script", src=None)
    assert [t for t, _ in page.tags if t == "script"] == ["script"]      # only the report's own script
    assert "&lt;script&gt;alert(1)&lt;/script&gt; &amp;" in index.parent.joinpath(page_name(run.verdicts[3])).read_text()


def test_the_report_needs_no_network_every_link_and_asset_is_in_the_folder(report):
    _, index = report
    folder = index.parent
    for path in [index, *(folder / "verdicts").iterdir()]:
        page = read(path)
        for tag, attrs in page.tags:
            for name in ("href", "src"):
                if name in attrs:
                    assert "://" not in attrs[name] and not attrs[name].startswith("//")
                    assert (path.parent / attrs[name]).resolve().is_file(), f"{attrs[name]} from {path.name}"
    for asset in ("style.css", "report.js"):
        assert not re.search(r"https?://|@import|url\(", (folder / asset).read_text())


def test_the_pages_are_made_for_phones_as_well_as_laptops(report):
    _, index = report
    assert read(index).find("meta", name="viewport")
    assert "@media (max-width: 640px)" in (index.parent / "style.css").read_text()


def test_an_incomplete_run_is_marked_on_every_page(tmp_path):
    run = make_run()
    run.incomplete, run.stopped_because = True, "time budget"
    index = write_html(run, tmp_path)
    for path in [index, *(tmp_path / "verdicts").iterdir()]:
        assert "Incomplete run (time budget): this report holds the 7 verdicts that finished." in read(path).all_text()


def test_known_failures_are_counted_and_filtered_apart_from_new_ones(tmp_path):
    run = make_run()
    run.verdicts[2].known = True
    page = read(write_html(run, tmp_path))
    text = page.all_text()
    assert "1 passed, 4 failed, 1 errored, 1 skipped (1 known)" in text
    assert "3 failed" in text and "1 known" in text
    assert {a["value"] for a in page.find("input", type="checkbox")} == {"passed", "failed", "errored", "skipped", "known"}
    assert page.find("a", **{"data-status": "known"})


def test_rendering_again_from_the_saved_json_gives_the_same_report(report, tmp_path):
    _, index = report
    again = write_html(Run.load(index.parent / "run.json"), tmp_path / "again")
    assert again.read_text() == index.read_text()
    for page in (index.parent / "verdicts").iterdir():
        assert (tmp_path / "again" / "verdicts" / page.name).read_text() == page.read_text()


def test_rendering_into_a_used_folder_removes_pages_of_the_earlier_run_and_leaves_no_temporary_files(report):
    run, index = report
    run.verdicts = run.verdicts[:3]
    write_html(run, index.parent)
    assert sorted(p.name for p in (index.parent / "verdicts").iterdir()) == sorted(
        Path(page_name(v)).name for v in run.verdicts if v.status != "passed")
    assert not [p for p in index.parent.rglob("*") if p.name.endswith(".tmp")]


def test_page_names_are_safe_file_names_and_distinct_for_names_that_clean_up_alike():
    a = Verdict(plugin="p", op="x", implementation="a/b", dtype="float64", status="failed")
    b = Verdict(plugin="p", op="x", implementation="a?b", dtype="float64", status="failed")
    assert re.fullmatch(r"verdicts/[A-Za-z0-9_.-]+\.html", page_name(a))
    assert page_name(a) != page_name(b)


@pytest.mark.parametrize("error, threshold, shown", [
    (0.5, 1e-9, "0.5 > 1e-09"), (1e-12, 1e-9, "1e-12 ≤ 1e-09"), ("inf", 1e-9, "inf > 1e-09"),
    (0.0010004, 1e-3, "0.0010004 > 0.001"),     # as many digits as it takes to tell them apart
])
def test_the_worst_error_is_shown_against_its_threshold(error, threshold, shown):
    verdict = Verdict(plugin="p", op="o", dtype="float32", status="failed", error=error, threshold=threshold)
    assert error_text(verdict, "≤") == shown
