"""The HTML report as a reviewer uses it, in a real headless Chromium: failures first, sortable
columns, the filter kept in the URL, the copy button, previous/next failure, print stylesheet,
per-channel heatmaps and the seeds explained. Skipped cleanly where Chromium or Playwright is absent."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import pytest

from oracle.report.html import write_html
from oracle.result import CaseRecord, Element, Run, Verdict

CHROMIUM = os.environ.get("ORACLE_CHROMIUM", "/usr/bin/chromium")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]

sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
if not (shutil.which(CHROMIUM) or Path(CHROMIUM).is_file()):
    pytest.skip(f"no Chromium at {CHROMIUM}", allow_module_level=True)


def _failed(op: str, examples: int, error: float, got=None, expected=None, **extra) -> Verdict:
    case = CaseRecord(dims={"n": 2}, batch=[], hyper={}, dtype="float64", seed=812, shapes={"x": [2]})
    return Verdict(plugin="demo", op=op, dtype="float64", status="failed", check="reference", argument="x",
                   message=f"gradient for 'x' of {op} differs from jax.vjp of the reference", case=case,
                   error=error, threshold=1e-9, got=got, expected=expected, examples=examples, seed=3,
                   reproduce=f"oracle check demo.py --op {op} --dtype float64 --seed 3 --examples 50", **extra)


def _run() -> Run:
    expected = np.zeros((3, 2, 2))
    got = expected.copy()
    got[1, 0, 1] = 0.9        # channel 1 holds the worst element
    got[2, 1, 1] = 0.2
    conv = _failed("conv2d", 7, 0.9, got.tolist(), expected.tolist(),
                   worst=[Element([1, 0, 1], 0.9, 0.0, 0.9)], source_function="conv_backward",
                   source_file="layers.py", source_line=12, source_text="def conv_backward(dout, cache):\n    return dout\n")
    return Run(seed=3, targets=["demo.py"], started="2026-01-01T00:00:00+00:00", duration=1.0, verdicts=[
        Verdict(plugin="demo", op="add", dtype="float64", status="passed", examples=40, seed=3),
        _failed("matmul", 12, 0.5),
        Verdict(plugin="demo", op="relu", dtype="float64", status="skipped", message="declared for float32 only"),
        conv,
        Verdict(plugin="demo", op="tanh", dtype="float64", status="passed", examples=3, seed=3),
        Verdict(plugin="demo", op="exp", dtype="float64", status="errored", check="call", examples=1, seed=3,
                message="the implementation raised ValueError", reproduce="oracle check demo.py --op exp"),
    ])


@pytest.fixture(scope="module")
def report(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("report")
    return write_html(_run(), folder)


@pytest.fixture(scope="module")
def browser():
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(browser):
    context = browser.new_context()
    page = context.new_page()
    yield page
    context.close()


def statuses(page) -> list[str]:
    return page.eval_on_selector_all("table.verdicts tbody tr:not([hidden])", "rows => rows.map(r => r.dataset.status)")


def ops(page) -> list[str]:
    return page.eval_on_selector_all("table.verdicts tbody tr:not([hidden])", "rows => rows.map(r => r.cells[1].innerText)")


def test_failures_come_first_then_errors_skipped_and_passed(page, report):
    page.goto(report.as_uri())
    assert statuses(page) == ["failed", "failed", "errored", "skipped", "passed", "passed"]


def test_a_click_on_a_header_sorts_by_that_column_and_a_second_click_reverses_it(page, report):
    page.goto(report.as_uri())
    page.click("table.verdicts th:has-text('cases')")
    assert ops(page) == ["relu", "exp", "tanh", "conv2d", "matmul", "add"]
    page.click("table.verdicts th:has-text('cases')")
    assert ops(page) == ["add", "matmul", "conv2d", "tanh", "exp", "relu"]
    page.click("table.verdicts th:has-text('status')")     # back to failures first
    assert statuses(page)[:3] == ["failed", "failed", "errored"]


def test_the_filter_is_kept_in_the_url_and_restored_from_it(page, report):
    page.goto(report.as_uri())
    page.fill("#filter input[type=search]", "conv")
    page.uncheck("#filter input[value=passed]")
    url = page.url
    assert "q=conv" in url and "hide=passed" in url
    assert ops(page) == ["conv2d"]
    fresh = page.context.new_page()
    fresh.goto(url)                       # a shared link opens the same view
    assert fresh.input_value("#filter input[type=search]") == "conv"
    assert not fresh.is_checked("#filter input[value=passed]")
    assert ops(fresh) == ["conv2d"]
    assert fresh.inner_text("#filter output") == "1 shown"


def _failure_pages(page, report) -> list[str]:
    page.goto(report.as_uri())
    return page.eval_on_selector_all("table.verdicts tbody tr[data-status=failed] a, table.verdicts tbody tr[data-status=errored] a",
                                     "links => links.map(a => a.href)")


def test_previous_and_next_walk_through_the_failures_in_the_index_order(page, report):
    pages = _failure_pages(page, report)
    assert len(pages) == 3
    page.goto(pages[0])
    assert page.locator("a[rel=prev]").count() == 0 and "failure 1 of 3" in page.inner_text("nav.crumbs")
    page.click("a[rel=next]")
    assert page.url == pages[1]
    page.click("a[rel=next]")
    assert page.url == pages[2] and page.locator("a[rel=next]").count() == 0
    page.click("a[rel=prev]")
    assert page.url == pages[1]


def test_the_copy_button_puts_the_reproduce_command_on_the_clipboard(browser, report):
    context = browser.new_context(permissions=["clipboard-read", "clipboard-write"])
    page = context.new_page()
    page.goto(_failure_pages(page, report)[0])
    command = page.inner_text("#reproduce")
    assert command.startswith("oracle check demo.py --op ")
    page.click("button.copy")
    page.wait_for_function("document.querySelector('button.copy').textContent !== 'copy'")
    assert page.inner_text("button.copy") == "copied"
    assert page.evaluate("navigator.clipboard.readText()") == command
    context.close()


def test_printing_hides_the_controls_and_shows_every_verdict_the_filter_hid(page, report):
    page.goto(report.as_uri() + "#q=conv")
    assert len(ops(page)) == 1
    page.emulate_media(media="print")
    assert not page.is_visible("#filter")
    visible = page.eval_on_selector_all("table.verdicts tbody tr", "rows => rows.filter(r => r.offsetParent !== null).length")
    assert visible == 6
    page.goto(_failure_pages(page, report)[0])
    page.emulate_media(media="print")
    assert not page.is_visible("nav.crumbs") and not page.is_visible("button.copy")


def test_a_3d_gradient_is_drawn_one_heatmap_per_channel_with_the_worst_channel_first(page, report):
    page.goto(report.as_uri())
    page.click("table.verdicts a:has-text('conv2d')")
    captions = page.eval_on_selector_all("figure.slice figcaption", "cs => cs.map(c => c.innerText)")
    assert [c.split(" max")[0] for c in captions] == ["channel 1", "channel 2", "channel 0"]
    marked = page.eval_on_selector_all("figure.slice td.marked", "cells => cells.map(c => c.title)")
    assert marked == ["index [1, 0, 1]: got - expected = 0.9"]


def test_the_page_names_the_blamed_function_links_its_file_and_explains_both_seeds(page, report):
    page.goto(report.as_uri())
    page.click("table.verdicts a:has-text('conv2d')")
    heading = page.inner_text("section.source h2")
    assert "conv_backward" in heading and "layers.py:12" in heading
    assert page.get_attribute("section.source h2 a", "href").startswith("file://")
    assert page.inner_text("pre.source .blamed").startswith("12")
    seeds = page.inner_text("p.seeds")
    assert "run seed (3)" in seeds and "case seed (812)" in seeds
