"""The command line, driven through click's test runner and as a real subprocess:
exit codes, what it prints, and the files it writes."""

from __future__ import annotations

import io
import json
import os
import re
import signal
import subprocess
import sys
import textwrap
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from click.testing import CliRunner
from rich.console import Console

import oracle.run
from oracle.cli import cli
from oracle.message import format_failure
from oracle.report.terminal import ProgressListener
from oracle.result import Run, Verdict

# One correct implementation, one with a missing transpose, one that raises a hostile message,
# and an op whose very name is hostile.
DEMO = '''
import oracle

plugin = oracle.Plugin("demo")

HOSTILE = oracle.Spec("<img src=x onerror=alert(1)>", inputs={"x": "*batch n"},
                      reference=lambda x: 2.0 * x, math="2 x")


@plugin.pullback("add")
def add(x, y):
    return x + y, lambda g: (g, g)


@plugin.pullback("matmul")
def matmul(a, b):
    return a @ b, lambda g: (g @ b.T, g.T @ a)      # dB should be a.T @ g


@plugin.pullback("relu")
def relu(x):
    raise RuntimeError("<script>alert(1)</script> & friends")


@plugin.pullback(HOSTILE)
def double(x):
    return 2.0 * x, lambda g: (3.0 * g,)
'''

FAST = ["--examples", "5", "--seed", "3", "--dtype", "float64"]


def oracle_command() -> list[str]:
    """The installed `oracle` script beside this Python; `python -m oracle.cli` where there is none."""
    script = Path(sys.executable).with_name("oracle")
    return [str(script)] if script.exists() else [sys.executable, "-m", "oracle.cli"]


def run_oracle(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "COLUMNS": "120"}
    return subprocess.run([*oracle_command(), *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=120)


def table_rows(text: str, columns: int) -> list[list[str]]:
    """The rows of a rich table in `text`, with cells that wrapped onto more lines joined again."""
    rows: list[list[str]] = []
    for line in text.splitlines():
        cells = [c.strip() for c in line.split("│")]
        if len(cells) != columns:
            continue
        if rows and not cells[0]:
            rows[-1] = [" ".join(filter(None, pair)) for pair in zip(rows[-1], cells)]
        else:
            rows.append(cells)
    return rows


def invoke(*args: str) -> "click.testing.Result":  # noqa: F821
    return CliRunner().invoke(cli, list(args), env={"COLUMNS": "120"})


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("project")
    (folder / "demo.py").write_text(DEMO, encoding="utf-8")
    return folder


@pytest.fixture(scope="module")
def checked(project):
    """One full `oracle check` of the demo plugin through click's runner, with every output file."""
    cwd = os.getcwd()
    os.chdir(project)
    try:
        result = invoke("check", "demo.py", *FAST, "--report", "out", "--json", "run.json", "--junit-xml", "junit.xml")
    finally:
        os.chdir(cwd)
    return result, Run.load(project / "run.json")


@pytest.fixture
def in_project(project, monkeypatch):
    monkeypatch.chdir(project)
    return project


# --------------------------------------------------------------------------- oracle check

def test_check_exits_1_on_gradient_failures_and_ends_with_the_counts(checked):
    result, run = checked
    assert result.exit_code == 1, result.output
    assert [(v.implementation, v.status) for v in run.verdicts] == [
        ("add", "passed"), ("matmul", "failed"), ("relu", "errored"), ("<img src=x onerror=alert(1)>", "failed")]
    assert result.stdout.rstrip().splitlines()[-1].startswith("1 passed, 2 failed, 1 errored in ")


def test_check_prints_a_summary_table_with_status_and_worst_error_against_threshold(checked):
    result, run = checked
    cells = table_rows(result.stdout, 6)
    assert [c[:4] for c in cells] == [["demo", "add", "float64", "passed"], ["demo", "matmul", "float64", "FAILED"],
                                      ["demo", "relu", "float64", "ERRORED"],
                                      ["demo", "<img src=x onerror=alert(1)>", "float64", "FAILED"]]
    hostile = run.verdicts[3]
    assert cells[3][4] == f"{hostile.error:.4g} > {hostile.threshold:.4g}"


def test_check_prints_every_failure_as_the_failure_message(checked):
    result, run = checked
    for verdict in run.verdicts[1:]:
        assert format_failure(verdict) in result.stdout
    assert "reproduce oracle check demo.py --op matmul --dtype float64 --seed 3 --examples 5" in result.stdout


def test_check_writes_the_json_the_junit_xml_and_the_html_report(checked, project):
    result, run = checked
    assert f"HTML report: out{os.sep}index.html" in result.stdout
    assert Run.load(project / "out" / "run.json") == run
    cases = ET.parse(project / "junit.xml").getroot().find("testsuite").findall("testcase")
    assert [c.get("name") for c in cases] == ["add[float64]", "matmul[float64]", "relu[float64]",
                                              "<img src=x onerror=alert(1)>[float64]"]
    assert cases[1].find("failure").text == format_failure(run.verdicts[1])


def test_check_report_of_a_real_run_escapes_the_hostile_op_and_exception(checked, project):
    pages = [project / "out" / "index.html", *(project / "out" / "verdicts").iterdir()]
    assert len(pages) == 4
    for page in pages:
        text = page.read_text()
        assert "<script>alert" not in text and "<img src=x" not in text
    assert any("&lt;script&gt;alert(1)&lt;/script&gt; &amp; friends" in p.read_text() for p in pages)
    assert any("&lt;img src=x onerror=alert(1)&gt;" in p.read_text() for p in pages)


def test_check_as_a_subprocess_gates_with_its_exit_code_and_writes_its_files(project):
    failing = run_oracle("check", "demo.py", *FAST, "--op", "matmul", "--report", "sub", cwd=project)
    assert failing.returncode == 1, failing.stderr
    assert failing.stdout.rstrip().splitlines()[-1].startswith("0 passed, 1 failed in ")
    assert (project / "sub" / "index.html").is_file() and (project / "sub" / "run.json").is_file()
    assert failing.stderr == ""


def test_only_passing_ops_exit_0_in_a_subprocess_configured_by_pyproject(tmp_path):
    (tmp_path / "demo.py").write_text(DEMO, encoding="utf-8")
    (tmp_path / "pyproject.toml").write_text(textwrap.dedent("""
        [tool.oracle]
        targets = ["demo.py"]
        ops = ["add"]
        dtypes = ["float64"]
        examples = 5
        report = "oracle-report"
    """))
    passing = run_oracle("check", "-q", cwd=tmp_path / ".")
    assert passing.returncode == 0, passing.stdout + passing.stderr
    assert passing.stdout.strip().splitlines() == [passing.stdout.strip().splitlines()[-1]]
    assert passing.stdout.startswith("1 passed, 0 failed in ")
    run = Run.load(tmp_path / "oracle-report" / "run.json")
    assert run.settings["examples"] == 5 and [v.op for v in run.verdicts] == ["add"]


def test_options_override_the_pyproject_table(tmp_path, monkeypatch):
    (tmp_path / "demo.py").write_text(DEMO, encoding="utf-8")
    (tmp_path / "pyproject.toml").write_text('[tool.oracle]\ntargets = ["demo.py"]\nops = ["add"]\nexamples = 9\n')
    monkeypatch.chdir(tmp_path)
    result = invoke("check", "--op", "relu", "--examples", "4", "--dtype", "float64", "--json", "r.json")
    assert result.exit_code == 1
    run = Run.load(tmp_path / "r.json")
    assert [v.op for v in run.verdicts] == ["relu"] and run.settings["examples"] == 4


# --------------------------------------------------------------------------- usage errors: exit 2, one line

@pytest.mark.parametrize("args, says", [
    (["check", "no_such_plugin_anywhere"], "'no_such_plugin_anywhere' is not an installed plugin"),
    (["check", "missing.py"], "no such file: missing.py"),
    (["check", "demo.py", "--op", "conv*"], "--op 'conv*' matches no implementation (there are: "),
    (["check", "demo.py", "--dtype", "float8"], "Invalid value for '--dtype': must be one of float64, float32, float16, bfloat16"),
    (["check"], "no targets: name one"),
    (["check", "demo.py", "--exampels", "3"], "No such option '--exampels'. (Did you mean one of: '--examples'"),
    (["explain", "matmull"], "unknown op 'matmull'; did you mean matmul"),
    (["report", "nothing.json"], "no run at nothing.json"),
    (["baseline", "demo.py"], "demo.py: not JSON"),
    (["chekc"], "No such command 'chekc'"),
    (["check", "demo.py", "--report", "demo.py"], "cannot write demo.py: it is a file"),
    (["check", "demo.py", "--json", "demo.py/run.json"], "cannot write demo.py/run.json: a part of the path is a file"),
])
def test_a_users_mistake_is_one_line_on_stderr_and_exit_code_2(in_project, args, says):
    result = invoke(*args)
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and says in lines[0], result.stderr
    assert "Traceback" not in result.output


def test_a_usage_error_in_a_subprocess_is_one_line_and_exit_code_2(project):
    result = run_oracle("check", "demo.py", "--op", "nope*", cwd=project)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "oracle: --op 'nope*' matches no implementation (there are: <img src=x onerror=alert(1)>, add, matmul, relu)"]


def test_an_internal_error_is_exit_3_with_one_line_and_the_traceback_only_with_v(in_project, monkeypatch):
    def broken(*args, **kwargs):
        raise ZeroDivisionError("the engine broke")

    monkeypatch.setattr(oracle.run, "check", broken)
    quiet = invoke("check", "demo.py")
    assert quiet.exit_code == 3
    assert quiet.stderr.strip().splitlines() == [
        "oracle: internal error: ZeroDivisionError: the engine broke (run with -v for the traceback)"]
    loud = invoke("check", "demo.py", "-v")
    assert loud.exit_code == 3
    assert "Traceback (most recent call last)" in loud.stderr
    assert loud.stderr.strip().splitlines()[-1] == "oracle: internal error: ZeroDivisionError: the engine broke"


# --------------------------------------------------------------------------- nothing lost

def test_ctrl_c_still_writes_the_reports_marked_incomplete_and_exits_130(in_project, monkeypatch):
    judge = oracle.run.judge
    calls = []

    def interrupted_second_time(*args, **kwargs):
        calls.append(args)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return judge(*args, **kwargs)

    monkeypatch.setattr(oracle.run, "judge", interrupted_second_time)
    # -n 0 judges in this process, where the patched judge is the one called.
    result = invoke("check", "demo.py", *FAST, "-n", "0", "--report", "cut", "--json", "cut.json", "--junit-xml", "cut.xml")
    assert result.exit_code == 130
    run = Run.load(in_project / "cut.json")
    assert run.incomplete and run.stopped_because == "interrupted" and [v.op for v in run.verdicts] == ["add"]
    assert Run.load(in_project / "cut" / "run.json") == run
    assert "Incomplete run (interrupted)" in (in_project / "cut" / "index.html").read_text()
    assert ET.parse(in_project / "cut.xml").getroot().find("testsuite").get("tests") == "1"
    assert "incomplete (interrupted) after 1 verdict(s): the reports hold what finished" in result.stdout
    assert result.stdout.rstrip().endswith("(incomplete)")


def test_a_real_ctrl_c_in_a_subprocess_writes_what_finished_and_exits_130(project):
    process = subprocess.Popen([*oracle_command(), "check", "demo.py", "--op", "add", "-v",
                                "--examples", "30", "--report", "sigint", "--json", "sigint.json"],
                               cwd=project, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               env={**os.environ, "PYTHONUNBUFFERED": "1"})
    for line in process.stdout:                  # -v prints a line as each verdict finishes
        if line.startswith("passed demo add"):
            process.send_signal(signal.SIGINT)
            break
    printed_dtype = line.split()[3]               # workers finish in any order: keep the one printed
    rest, errors = process.communicate(timeout=60)
    assert process.returncode == 130, errors
    run = Run.load(project / "sigint.json")
    assert run.incomplete and run.stopped_because == "interrupted"
    assert ("add", printed_dtype) in [(v.op, v.dtype) for v in run.verdicts]
    assert len(run.verdicts) < 4                  # add and matmul in two dtypes were planned
    assert (project / "sigint" / "index.html").is_file()
    assert rest.rstrip().endswith("(incomplete)") and "Traceback" not in errors


def test_the_time_budget_ends_the_run_with_what_finished_marked_incomplete(in_project):
    # The budget is checked between the cases of a verdict too: 1 ms ends the run within the first one.
    result = invoke("check", "demo.py", *FAST, "--time-budget", "0.001", "--json", "budget.json", "--report", "budget")
    run = Run.load(in_project / "budget.json")
    assert run.incomplete and run.stopped_because == "time budget" and len(run.verdicts) == 0
    assert result.exit_code == 1                  # the gate never passes what it did not judge
    assert "incomplete (time budget) after 0 verdict(s)" in result.stdout
    assert "4 planned verdict(s) not judged (time budget): demo/add/float64, demo/matmul/float64" in result.stdout


# --------------------------------------------------------------------------- baseline

def test_baseline_then_check_passes_the_gate_and_lists_the_known_failures(checked, in_project):
    written = invoke("baseline", "run.json", "--output", "known.json")
    assert written.exit_code == 0 and "wrote known.json: 3 known failures" in written.stdout
    assert set(json.loads((in_project / "known.json").read_text())["known"]) == {
        # dB = g.T @ a: a wrong shape on non-square cases, wrong values (the transpose) on square ones;
        # the wrong value outranks the wrong shape.
        "demo::matmul::float64::matmul_transpose", "demo::relu::float64::call",
        "demo::<img src=x onerror=alert(1)>::float64::reference"}
    result = invoke("check", "demo.py", *FAST, "--baseline", "known.json", "--json", "known-run.json", "--report", "k")
    assert result.exit_code == 0, result.output
    assert "3 known failure(s), listed in the baseline known.json" in result.stdout
    assert "  demo::matmul::float64::matmul_transpose" in result.stdout
    assert result.stdout.rstrip().splitlines()[-1].startswith("1 passed, 2 failed, 1 errored (3 known) in ")
    assert all(v.known for v in Run.load(in_project / "known-run.json").verdicts[1:])


def test_baseline_reads_the_last_runs_json_from_the_report_folder_by_default(checked, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = invoke("baseline")
    assert result.exit_code == 2        # no reports/run.json yet: says how to get one
    assert "run `oracle check` first" in result.stderr
    checked[1].save(tmp_path / "reports" / "run.json")
    result = invoke("baseline")
    assert result.exit_code == 0 and "wrote oracle-baseline.json: 3 known failures" in result.stdout
    assert len(json.loads((tmp_path / "oracle-baseline.json").read_text())["known"]) == 3


def test_strict_fails_the_gate_while_the_baseline_lists_a_failure_that_now_passes(in_project):
    (in_project / "stale.json").write_text(json.dumps({"version": 1, "known": {"demo::add::float64::reference": "old"}}))
    args = ["check", "demo.py", *FAST, "--op", "add", "--baseline", "stale.json", "--report", "stale"]
    lenient = invoke(*args)
    assert lenient.exit_code == 0
    assert "1 baseline entry no longer fails; `oracle baseline` removes them" in lenient.stdout and "demo::add::float64::reference" in lenient.stdout
    strict = invoke(*args, "--strict")
    assert strict.exit_code == 1
    assert "--strict: the gate fails until the baseline no longer lists them" in strict.stdout


def test_an_unreadable_baseline_stops_before_anything_runs(in_project, monkeypatch):
    (in_project / "broken.json").write_text("{")
    monkeypatch.setattr(oracle.run, "check", lambda *a, **k: pytest.fail("the run started"))
    result = invoke("check", "demo.py", "--baseline", "broken.json")
    assert result.exit_code == 2 and "baseline broken.json is not JSON" in result.stderr


# --------------------------------------------------------------------------- report, list, explain

def test_report_renders_the_same_html_again_from_saved_json_without_running(checked, in_project, monkeypatch):
    monkeypatch.setattr(oracle.run, "check", lambda *a, **k: pytest.fail("report must not run anything"))
    result = invoke("report", "run.json", "--html", "again", "--junit-xml", "again.xml")
    assert result.exit_code == 0
    assert (in_project / "again" / "index.html").read_text() == (in_project / "out" / "index.html").read_text()
    assert (in_project / "again.xml").read_text() == (in_project / "junit.xml").read_text()
    assert result.stdout.rstrip().splitlines()[-1].startswith("1 passed, 2 failed, 1 errored")


def listed(text: str) -> list[list[str]]:
    """The indented rows of `oracle list`, split into their columns."""
    return [re.split(r" {2,}", line.strip()) for line in text.splitlines() if line.startswith("  ")]


def test_list_shows_a_targets_implementations_with_their_calling_convention(in_project):
    result = invoke("list", "demo.py")
    assert result.exit_code == 0
    assert result.stdout.splitlines()[0] == "plugin demo (demo.py): 4 implementations"
    assert listed(result.stdout) == [["add", "add", "pullback"], ["matmul", "matmul", "pullback"],
                                     ["relu", "relu", "pullback"],
                                     ["<img src=x onerror=alert(1)>", "<img src=x onerror=alert(1)>", "pullback"]]
    verbose = invoke("list", "demo.py", "-v")
    assert listed(verbose.stdout)[0][3].endswith(":add")


def test_list_without_a_target_shows_the_catalogue_and_the_installed_plugins(in_project):
    from oracle.specs import CATALOGUE

    result = invoke("list")
    assert result.exit_code == 0
    catalogue, _, plugins = result.stdout.partition("plugin ")
    assert [row[0] for row in listed(catalogue)] == list(CATALOGUE)
    assert ["matmul", "(a: n k, b: k m)"] == listed(catalogue)[list(CATALOGUE).index("matmul")][:2]
    assert "plugin gatecore (gatecore): " in result.stdout
    assert ["matmul", "matmul", "gate"] in listed(plugins)


def test_explain_shows_the_math_arguments_shapes_domains_kinks_and_properties(in_project):
    result = invoke("explain", "max")
    assert result.exit_code == 0
    out = result.stdout
    assert out.startswith("max(x: *batch n, y: *batch n)")
    assert "x        │ *batch n │ [-2, 2]" in out
    assert "kinks       x - y stays away from zero" in out
    assert "properties  max_routes" in out
    assert "reference   JAX, differentiated with jax.vjp in float64" in out


def test_check_prints_the_seed_that_repeats_the_run(checked):
    result, _ = checked
    assert "seed 3 (--seed 3 draws the same cases again)" in result.stdout


def test_selftest_runs_the_mutation_score_with_the_options_given_and_returns_its_exit_code(monkeypatch):
    import oracle.selftest

    calls = []
    monkeypatch.setattr(oracle.selftest, "main",
                        lambda examples, seed, console, workers: calls.append((examples, seed, workers)) or 1)
    assert invoke("selftest", "--examples", "4", "--seed", "9", "-n", "2").exit_code == 1
    assert invoke("selftest").exit_code == 1
    assert calls == [(4, 9, 2), (None, None, "auto")]
    assert invoke("selftest", "--examples", "-1").exit_code == 2


def test_help_and_version_exit_0(tmp_path):
    helped = run_oracle("--help", cwd=tmp_path)
    assert helped.returncode == 0 and "check" in helped.stdout and "explain" in helped.stdout
    version = run_oracle("--version", cwd=tmp_path)
    assert version.returncode == 0 and version.stdout.startswith("oracle, version ")


@pytest.mark.parametrize("args", [["--help"], ["check", "--help"], ["check", "gatecore", "--examples", "0"]])
def test_help_and_usage_errors_stay_fast_by_not_importing_jax(tmp_path, args):
    probe = ("import sys\nfrom oracle.cli import main\ntry:\n    main(sys.argv[1:])\nexcept SystemExit:\n    pass\n"
             "print('jax imported' if 'jax' in sys.modules else 'no jax', file=sys.stderr)")
    result = subprocess.run([sys.executable, "-c", probe, *args], cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert result.stderr.strip().splitlines()[-1] == "no jax"


# --------------------------------------------------------------------------- the terminal while it runs

class FakeImpl:
    plugin, label, op = "demo", "matmul_v2", "matmul"


def test_the_progress_bar_names_the_plugin_op_and_dtype_it_is_on():
    out = io.StringIO()
    console = Console(file=out, force_terminal=True, width=100)
    with ProgressListener(console) as listener:
        listener.started(2)
        listener.starting(FakeImpl(), "float32")
        listener.progress.refresh()
        assert "demo · matmul_v2 (matmul) · float32" in out.getvalue()
        assert "0/2" in out.getvalue()


def test_verbose_prints_a_line_per_verdict_and_quiet_no_progress_bar():
    out = io.StringIO()
    console = Console(file=out, force_terminal=False, width=100, color_system=None)
    with ProgressListener(console, verbosity=1) as listener:
        listener.started(1)
        listener.finished(Verdict(plugin="demo", op="add", dtype="float64", status="passed", examples=5, duration=0.25))
    assert out.getvalue() == "passed demo add float64 5 cases 0.2s\n"
    assert ProgressListener(console, verbosity=-1).progress.disable
