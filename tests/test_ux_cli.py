"""The first hour of a new user at the command line: the baseline loop, output without a terminal,
the blamed function, the CI gate and annotations, the example database and pins, packaging."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from oracle.cli import cli
from oracle.result import Run

# A layer whose backward is wrong (dW 1% too large) and a correct pullback.
LAYERS = '''
import oracle

plugin = oracle.Plugin("mine")


def affine_forward(x, w, b):
    return x @ w + b, (x, w, b)


def affine_backward(dout, cache):
    x, w, b = cache
    return dout @ w.T, x.T @ dout * 1.01, dout.sum(axis=0)


plugin.layer("affine", forward=affine_forward, backward=affine_backward)


@plugin.pullback("relu")
def relu(x):
    return x * (x > 0), lambda g: (g * (x > 0),)
'''

FAST = ["--examples", "4", "--seed", "3", "--dtype", "float64", "--workers", "0"]


@pytest.fixture
def project(tmp_path, monkeypatch):
    (tmp_path / "layers.py").write_text(LAYERS)
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("GITHUB_ACTIONS", raising=False)
    return tmp_path


def invoke(*args: str, env: dict | None = None):
    return CliRunner().invoke(cli, list(args), catch_exceptions=False, env=env)


def one_line_exit_2(result, says: str) -> None:
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and says in lines[0], result.stderr
    assert "Traceback" not in result.output


# --------------------------------------------------------------------------- the baseline loop

def test_a_configured_baseline_that_does_not_exist_yet_is_empty_with_a_note_and_oracle_baseline_writes_it(project):
    (project / "pyproject.toml").write_text('[tool.oracle]\ntargets = ["layers.py"]\nbaseline = "oracle-baseline.json"\n')
    first = invoke("check", *FAST)
    assert first.exit_code == 1                      # the failure is not known yet: the gate fails
    assert "baseline" in first.stdout and "does not exist yet" in first.stdout
    written = invoke("baseline")
    assert written.exit_code == 0, written.output
    assert set(json.loads((project / "oracle-baseline.json").read_text())["known"]) == {"mine::affine::float64::reference"}
    again = invoke("check", *FAST)
    assert again.exit_code == 0 and "1 known failure" in again.stdout


def test_a_baseline_from_a_filtered_run_keeps_the_known_failures_of_the_ops_it_did_not_run(project):
    invoke("check", "layers.py", *FAST, "--json", "all.json")
    assert invoke("baseline", "all.json", "-o", "known.json").exit_code == 0
    invoke("check", "layers.py", *FAST, "--op", "relu", "--json", "relu.json")
    updated = invoke("baseline", "relu.json", "-o", "known.json")
    assert updated.exit_code == 0 and "1 kept" in updated.stdout
    assert set(json.loads((project / "known.json").read_text())["known"]) == {"mine::affine::float64::reference"}


def test_a_fixed_failure_leaves_the_baseline_when_its_verdict_is_run_again(project):
    invoke("check", "layers.py", *FAST, "--json", "all.json")
    invoke("baseline", "all.json", "-o", "known.json")
    (project / "layers.py").write_text(LAYERS.replace(" * 1.01", ""))
    stale = invoke("check", "layers.py", *FAST, "--op", "affine", "--baseline", "known.json", "--json", "fixed.json")
    assert "no longer fails" in stale.stdout and "`oracle baseline` removes them" in stale.stdout
    assert "1 removed" in invoke("baseline", "fixed.json", "-o", "known.json").stdout
    assert json.loads((project / "known.json").read_text())["known"] == {}


# --------------------------------------------------------------------------- without a terminal

def test_without_a_terminal_each_finished_verdict_is_one_line_with_status_plugin_op_dtype_cases_seconds(project):
    result = invoke("check", "layers.py", *FAST)      # CliRunner's output is not a terminal
    lines = [line for line in result.stdout.splitlines() if line.startswith(("passed mine ", "FAILED mine "))]
    assert len(lines) == 2
    failed = next(line for line in lines if line.startswith("FAILED"))
    words = failed.split()
    assert words[:4] == ["FAILED", "mine", "affine", "float64"] and words[5] == "cases" and words[6].endswith("s")
    assert "gradient for 'W'" in failed


def test_without_a_terminal_the_summary_table_does_not_wrap_at_80_columns(project):
    long_name = "a_rather_long_implementation_label_that_would_never_fit_in_eighty_columns"
    (project / "layers.py").write_text(LAYERS + f'\nplugin.pullback("relu", relu, name="{long_name}")\n')
    result = invoke("check", "layers.py", *FAST, env={"COLUMNS": "80"})
    rows = [line for line in result.stdout.splitlines() if "│" in line and "relu" in line]
    assert any(long_name in row for row in rows), result.stdout      # one row, not folded into pieces


# --------------------------------------------------------------------------- the blamed function

def test_a_backward_bug_of_a_layer_names_the_backward_with_file_and_line_in_terminal_and_json(project):
    result = invoke("check", "layers.py", *FAST, "--op", "affine", "--json", "run.json")
    line = LAYERS.splitlines().index("def affine_backward(dout, cache):") + 1
    assert f"where     affine_backward at layers.py:{line}" in result.stdout
    (verdict,) = Run.load(project / "run.json").verdicts
    assert (verdict.source_function, verdict.source_file, verdict.source_line) == ("affine_backward", "layers.py", line)
    assert verdict.source_text.startswith("def affine_backward(dout, cache):")
    page = (project / "reports" / "verdicts").glob("*.html")
    assert any("affine_backward" in p.read_text() and f"layers.py:{line}" in p.read_text() for p in page)


# --------------------------------------------------------------------------- CI

def test_on_github_actions_each_failure_is_an_error_annotation_on_the_blamed_line(project):
    result = invoke("check", "layers.py", *FAST, env={"GITHUB_ACTIONS": "true"})
    line = LAYERS.splitlines().index("def affine_backward(dout, cache):") + 1
    annotations = [x for x in result.stdout.splitlines() if x.startswith("::error ")]
    assert len(annotations) == 1
    assert annotations[0].startswith(f"::error file=layers.py,line={line},title=oracle%3A mine affine float64 (reference check)::")
    assert "%0Areproduce: oracle check layers.py --op affine" in annotations[0]
    assert "::error" not in invoke("check", "layers.py", *FAST).stdout     # only on GitHub Actions


@pytest.mark.parametrize("percent, code", [("50", 0), ("50.1", 1), ("100", 1), ("0", 0)])
def test_fail_under_gates_on_the_share_of_verdicts_that_pass(project, percent, code):
    result = invoke("check", "layers.py", *FAST, "--fail-under", percent)
    assert result.exit_code == code, result.output
    assert f"50.0% of 2 judged verdicts pass; --fail-under {float(percent):g}%" in result.stdout


def test_fail_under_must_be_a_percentage(project):
    one_line_exit_2(invoke("check", "layers.py", "--fail-under", "101"), "must be a number from 0 to 100")


def test_examples_has_an_upper_bound(project):
    one_line_exit_2(invoke("check", "layers.py", "--examples", "100000000"), "must be a whole number from 1 to 100000")


# --------------------------------------------------------------------------- failures replayed and pinned

def test_the_last_failing_case_is_replayed_first_by_the_next_run_whatever_its_seed(project):
    invoke("check", "layers.py", *FAST, "--op", "affine", "--json", "first.json")
    first = Run.load(project / "first.json").verdicts[0]
    assert list((project / ".oracle" / "examples").glob("*.json"))
    again = invoke("check", "layers.py", "--examples", "4", "--seed", "99", "--dtype", "float64", "--workers", "0",
                   "--op", "affine", "--json", "again.json")
    assert again.exit_code == 1
    replayed = Run.load(project / "again.json").verdicts[0]
    assert replayed.examples == 1 and replayed.case == first.case     # found on the first case tried


def test_a_pinned_case_is_replayed_from_examples_from_and_from_tool_oracle(project):
    invoke("check", "layers.py", *FAST, "--op", "affine", "--json", "run.json")
    pinned = invoke("pin", "run.json", "affine")
    assert pinned.exit_code == 0 and "pinned mine/affine/float64" in pinned.stdout
    saved = json.loads((project / "oracle-pinned.json").read_text())
    assert list(saved["examples"]) == ["mine::affine::float64"]
    assert "already pinned" in invoke("pin", "run.json", "mine/affine/float64").stdout
    for folder in (project / ".oracle" / "examples").glob("*.json"):
        folder.unlink()                                  # only the pin can bring the case back
    invoke("check", "layers.py", *FAST[:4], "--dtype", "float64", "--workers", "0", "--seed", "77", "--op", "affine",
           "--examples-from", "oracle-pinned.json", "--json", "pinned.json")
    assert Run.load(project / "pinned.json").verdicts[0].examples == 1
    for folder in (project / ".oracle" / "examples").glob("*.json"):
        folder.unlink()
    (project / "pyproject.toml").write_text('[tool.oracle]\nexamples_from = ["oracle-pinned.json"]\n')
    invoke("check", "layers.py", *FAST[:4], "--dtype", "float64", "--workers", "0", "--seed", "78", "--op", "affine",
           "--json", "configured.json")
    assert Run.load(project / "configured.json").verdicts[0].examples == 1


def test_pin_names_what_it_cannot_find(project):
    invoke("check", "layers.py", *FAST, "--json", "run.json")
    one_line_exit_2(invoke("pin", "run.json", "relu"), "no failing verdict with a case is named 'relu'")


# --------------------------------------------------------------------------- packaging

def test_python_dash_m_oracle_is_the_command_line(project):
    result = subprocess.run([sys.executable, "-m", "oracle", "explain", "ReLU"], capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 2
    assert result.stderr.strip() == "oracle: unknown op 'ReLU'; did you mean relu? (op names are lower case)"


def test_a_module_registering_an_op_in_the_wrong_case_is_one_line_with_the_suggestion(project):
    (project / "caps.py").write_text(LAYERS.replace('plugin.pullback("relu")', 'plugin.pullback("ReLU")'))
    result = invoke("check", "caps.py", *FAST)
    one_line_exit_2(result, "unknown op 'ReLU'; did you mean relu? (op names are lower case)")
    assert "add_const" not in result.output           # a suggestion, not the catalogue


def test_reports_json_junit_and_baselines_are_written_with_the_users_umask(project):
    old = os.umask(0o022)
    try:
        invoke("check", "layers.py", *FAST, "--json", "run.json", "--junit-xml", "junit.xml")
        invoke("baseline", "run.json", "-o", "known.json")
    finally:
        os.umask(old)
    for path in ["run.json", "junit.xml", "known.json", "reports/index.html", "reports/run.json"]:
        assert stat.S_IMODE((project / path).stat().st_mode) == 0o644, path


def test_the_package_ships_license_changelog_py_typed_and_an_xdist_extra():
    import tomllib

    root = Path(__file__).resolve().parent.parent
    assert "MIT License" in (root / "LICENSE").read_text()
    assert "## " in (root / "CHANGELOG.md").read_text()
    assert (root / "oracle" / "py.typed").exists()
    project = tomllib.loads((root / "pyproject.toml").read_text())
    assert project["project"]["optional-dependencies"]["xdist"][0].startswith("pytest-xdist")
    assert "py.typed" in project["tool"]["setuptools"]["package-data"]["oracle"]
    assert "*.json" in project["tool"]["setuptools"]["package-data"]["oracle.schemas"]


def test_the_built_distributions_carry_license_changelog_py_typed_and_schemas(tmp_path):
    import shutil
    import tarfile
    import zipfile

    root = Path(__file__).resolve().parent.parent
    source = tmp_path / "source"        # a copy: building writes egg-info and build/ into the tree it builds
    source.mkdir()
    for name in ["pyproject.toml", "README.md", "LICENSE", "CHANGELOG.md", "MANIFEST.in"]:
        shutil.copy2(root / name, source / name)
    for folder in ["oracle", "specs", "plugins"]:
        shutil.copytree(root / folder, source / folder, ignore=shutil.ignore_patterns("__pycache__"))
    # setuptools rewrites sys.argv while it builds: the folder is read from it first
    build = "from setuptools import build_meta as b; import sys; out = sys.argv[1]; b.build_sdist(out); b.build_wheel(out)"
    built = subprocess.run([sys.executable, "-c", build, str(tmp_path / "dist")], cwd=source, capture_output=True,
                           text=True, timeout=300, check=False)
    assert built.returncode == 0, built.stderr[-2000:]
    (sdist,) = (tmp_path / "dist").glob("*.tar.gz")
    wheels = list((tmp_path / "dist").glob("*.whl"))
    assert len(wheels) == 1, built.stdout[-2000:]
    wheel = wheels[0]
    with tarfile.open(sdist) as archive:
        in_sdist = {name.split("/", 1)[1] for name in archive.getnames() if "/" in name}
    with zipfile.ZipFile(wheel) as archive:
        in_wheel = set(archive.namelist())
    assert {"LICENSE", "CHANGELOG.md", "oracle/py.typed", "oracle/schemas/run.schema.json"} <= in_sdist
    assert {"oracle/py.typed", "oracle/schemas/run.schema.json", "oracle/schemas/journal.schema.json",
            "oracle/schemas/baseline.schema.json", "oracle/__main__.py"} <= in_wheel
    assert any(name.endswith(".dist-info/licenses/LICENSE") for name in in_wheel)


def test_writing_a_report_reads_the_umask_without_setting_it(tmp_path, monkeypatch):
    """Setting the umask to read it would, for a moment, leave the files other threads create open to all."""
    status = Path("/proc/self/status")
    shown = [line for line in status.read_text().splitlines() if line.startswith("Umask:")] if status.exists() else []
    if not shown:
        pytest.skip("this system does not show the umask in /proc")
    from oracle.result import write_atomic

    calls = []
    monkeypatch.setattr(os, "umask", lambda mask: calls.append(mask) or mask)
    write_atomic(tmp_path / "run.json", "{}")
    assert calls == []
    assert stat.S_IMODE((tmp_path / "run.json").stat().st_mode) == 0o666 & ~int(shown[0].split()[1], 8)
