"""Failures speak of the student's code: its function and file:line, its source on the page, a reproduce line that works."""

import json
import shlex
from pathlib import Path

from assignment_support import verdict
from click.testing import CliRunner

from oracle.cli import cli
from oracle.message import format_failure
from oracle.report.html import render_verdict
from oracle.result import Run

EXAMPLE = Path(__file__).parent.parent / "examples" / "cs231n" / "layers.py"


def def_line(name):
    lines = EXAMPLE.read_text().splitlines()
    return next(i + 1 for i, line in enumerate(lines) if line.startswith(f"def {name}("))


def test_a_backward_bug_names_the_backward_and_its_line():
    v = verdict(EXAMPLE, "conv_naive", examples=30)
    assert (v.source_function, v.source_line) == ("conv_backward_naive", def_line("conv_backward_naive"))
    assert v.source_file.endswith("examples/cs231n/layers.py")
    text = format_failure(v)
    assert f"conv_backward_naive at {v.source_file}:{v.source_line}" in text


def test_the_page_shows_the_function_source_with_its_line_numbers():
    v = verdict(EXAMPLE, "conv_naive", examples=30)
    page = render_verdict(Run(seed=0, verdicts=[v]), v)
    assert "dx = dx_pad[:, :, pad:-pad, pad:-pad]" in page
    assert f'<span class="line blamed"><span class="no">{def_line("conv_backward_naive")}</span>def conv_backward_naive' in page


def test_the_reproduce_line_works_as_printed(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)   # the local example database goes here, not into the project
    first = tmp_path / "first.json"
    result = CliRunner().invoke(cli, [
        "check", str(EXAMPLE), "--op", "max_pool_naive", "--dtype", "float64", "--seed", "5", "--examples", "30",
        "--report", str(tmp_path / "report"), "--json", str(first)])
    assert result.exit_code == 1, result.output
    (v,) = json.loads(first.read_text())["verdicts"]
    command = shlex.split(v["reproduce"])
    assert command[:2] == ["oracle", "check"]
    again = tmp_path / "again.json"
    result = CliRunner().invoke(cli, command[1:] + ["--report", str(tmp_path / "report2"), "--json", str(again)])
    assert result.exit_code == 1, result.output
    (w,) = json.loads(again.read_text())["verdicts"]
    assert (w["check"], w["case"]["seed"], w["case"]["hyper"]) == (v["check"], v["case"]["seed"], v["case"]["hyper"])
    assert "max_pool_backward_naive at" in result.output
