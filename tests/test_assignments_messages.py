"""Failures speak of the student's code: its function and file:line, its source on the page, a reproduce line that works."""

import json
import os
import shutil
import subprocess
import sys
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
    # As a user runs it: from the project's folder, the file named relatively; then the printed line,
    # copied as it is into a shell, in a checkout that has no saved examples (only the seed carries the case).
    monkeypatch.chdir(tmp_path)
    (tmp_path / "examples" / "cs231n").mkdir(parents=True)
    shutil.copy(EXAMPLE, tmp_path / "examples" / "cs231n" / "layers.py")
    result = CliRunner().invoke(cli, ["check", "examples/cs231n/layers.py", "--op", "max_pool_naive", "--dtype", "float64",
                                      "--seed", "5", "--examples", "30", "--report", "first"])
    assert result.exit_code == 1, result.output
    (v,) = json.loads((tmp_path / "first" / "run.json").read_text())["verdicts"]
    printed = [line.split("reproduce", 1)[1].strip() for line in result.output.splitlines() if "reproduce " in line]
    assert printed == [v["reproduce"]]
    assert printed[0].startswith("oracle check examples/cs231n/layers.py --op max_pool_naive")
    shutil.rmtree(tmp_path / ".oracle")
    env = dict(os.environ, PATH=os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")]))
    done = subprocess.run(printed[0], check=False, shell=True, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "max_pool_backward_naive at" in done.stdout
    (w,) = json.loads((tmp_path / "reports" / "run.json").read_text())["verdicts"]
    assert (w["check"], w["case"]["seed"], w["case"]["hyper"], w["case"]["dims"]) == \
        (v["check"], v["case"]["seed"], v["case"]["hyper"], v["case"]["dims"])
