"""Two assignment files that import under the same name (assignment2/cs231n/layers.py and
assignment3/cs231n/layers.py are both `cs231n.layers`) are two plugins in one run: each verdict
keeps its own id, report page, baseline entry, saved examples and reproduce line."""

import json
import shlex
import textwrap
from pathlib import Path

import pytest
from assignment_support import CORPUS
from click.testing import CliRunner

import oracle
from oracle.cli import cli
from oracle.result import Run

LAYERS = (CORPUS / "layers.py").read_text(encoding="utf-8")
RIGHT = "    dx = dout * (x > 0)\n"
# A different wrong relu backward in each assignment, so each verdict can be told from the other.
WRONG = {2: "    dx = 2 * dout * (x > 0)\n", 3: "    dx = dout * (x < 0)\n"}


def two_assignments(root: Path) -> None:
    assert LAYERS.count(RIGHT) == 1
    for n in (2, 3):
        package = root / f"assignment{n}" / "cs231n"
        package.mkdir(parents=True)
        (package / "__init__.py").write_text("", encoding="utf-8")
        (package / "layers.py").write_text(LAYERS.replace(RIGHT, WRONG[n]), encoding="utf-8")


def check(*args: str) -> Run:
    result = CliRunner().invoke(cli, ["check", *args, "--op", "relu", "--op", "sigmoid", "--dtype", "float64",
                                      "--examples", "5", "--json", "run.json"])
    assert result.exit_code == 1, result.output       # the planted relu bugs fail the gate
    return Run.load("run.json")


@pytest.fixture
def folders(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    two_assignments(tmp_path)
    return tmp_path


def test_two_folders_in_one_run_give_every_verdict_its_own_id_named_by_its_folder(folders):
    run = check("assignment2", "assignment3", "-n", "1")
    assert sorted(v.id for v in run.verdicts) == [
        "assignment2/cs231n.layers/relu/float64", "assignment2/cs231n.layers/sigmoid/float64",
        "assignment3/cs231n.layers/relu/float64", "assignment3/cs231n.layers/sigmoid/float64"]
    failed = {v.plugin: v for v in run.verdicts if v.status == "failed"}
    assert set(failed) == {"assignment2/cs231n.layers", "assignment3/cs231n.layers"}
    for n in (2, 3):   # each verdict judged its own file
        assert Path(failed[f"assignment{n}/cs231n.layers"].source_file).resolve() == (
            folders / f"assignment{n}" / "cs231n" / "layers.py").resolve()


@pytest.mark.parametrize("workers", ["0", "1"])
def test_a_root_holding_both_assignments_keeps_them_apart(folders, workers):
    run = check(".", "-n", workers)
    failed = {v.plugin: v.source_file for v in run.verdicts if v.status == "failed"}
    assert {plugin: Path(file).resolve() for plugin, file in failed.items()} == {
        f"assignment{n}/cs231n.layers": (folders / f"assignment{n}" / "cs231n" / "layers.py").resolve() for n in (2, 3)}


def test_each_failing_verdict_has_its_own_html_page_baseline_entry_and_saved_examples(folders):
    result = CliRunner().invoke(cli, ["check", "assignment2", "assignment3", "--op", "relu", "--dtype", "float32",
                                      "--dtype", "float64", "--examples", "5", "-n", "1", "--report", "report",
                                      "--json", "run.json"])
    assert result.exit_code == 1, result.output
    run = Run.load("run.json")
    failing = [v for v in run.verdicts if v.status == "failed"]
    assert len(failing) == 4
    assert len(list((folders / "report" / "verdicts").glob("*.html"))) == 4
    assert len(list((folders / ".oracle" / "examples").glob("*.json"))) == 4
    written = CliRunner().invoke(cli, ["baseline", "run.json", "-o", "baseline.json"])
    assert written.exit_code == 0, written.output
    known = json.loads((folders / "baseline.json").read_text())["known"]
    assert {key.split("::")[0] for key in known} == {"assignment2/cs231n.layers", "assignment3/cs231n.layers"}
    assert len(known) == 4


def test_each_printed_reproduce_line_judges_its_own_file_again(folders):
    run = check("assignment2", "assignment3", "-n", "1")
    for verdict in (v for v in run.verdicts if v.status == "failed"):
        words = shlex.split(verdict.reproduce)
        assert words[:2] == ["oracle", "check"]
        again = CliRunner().invoke(cli, words[1:] + ["--json", "again.json", "-n", "0"])
        assert again.exit_code == 1, again.output
        (alone,) = Run.load("again.json").verdicts
        assert (alone.status, alone.source_file, alone.message) == ("failed", verdict.source_file, verdict.message)


def test_a_run_without_a_clash_keeps_the_names_as_the_files_import(folders):
    run = check("assignment2", "-n", "0")
    assert {v.plugin for v in run.verdicts} == {"cs231n.layers"}


def test_two_plugin_files_registering_the_same_name_are_told_apart_by_their_folders(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for folder, factor in (("a", 1), ("b", 3)):
        (tmp_path / folder).mkdir()
        (tmp_path / folder / "plugin.py").write_text(textwrap.dedent(f"""
            import numpy as np
            import oracle

            plugin = oracle.Plugin("mine")

            @plugin.pullback("relu")
            def relu(x):
                return np.maximum(x, 0), lambda g: (g * (x > 0) * {factor},)
        """), encoding="utf-8")
    run = oracle.check(["a/plugin.py", "b/plugin.py"], dtypes=["float64"], examples=5, workers=0)
    assert {v.id: v.status for v in run.verdicts} == {
        "a/plugin/mine/relu/float64": "passed", "b/plugin/mine/relu/float64": "failed"}


ONE_MODULE = """
    import numpy as np
    import oracle

    right = oracle.Plugin("mine")
    wrong = oracle.Plugin("mine")

    @right.pullback("relu")
    def relu(x):
        return np.maximum(x, 0), lambda g: (g * (x > 0),)

    @wrong.pullback("relu")
    def relu_twice(x):
        return np.maximum(x, 0), lambda g: (2 * g * (x > 0),)
"""


@pytest.mark.parametrize("workers", [0, 1])
def test_one_module_registering_a_name_twice_has_each_plugin_judged_under_its_own_number(tmp_path, monkeypatch,
                                                                                          workers):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "plugins.py").write_text(textwrap.dedent(ONE_MODULE), encoding="utf-8")
    run = oracle.check("plugins.py", dtypes=["float64"], examples=5, workers=workers)
    assert {v.id: (v.status, v.source) for v in run.verdicts} == {
        "mine#1/relu/float64": ("passed", "plugins.py:relu"), "mine#2/relu/float64": ("failed", "plugins.py:relu_twice")}


def test_plugin_objects_of_one_name_given_in_python_are_numbered_in_the_order_given():
    plugins = [oracle.Plugin("mine"), oracle.Plugin("mine")]
    plugins[0].pullback("relu", lambda x: (x * (x > 0), lambda g: (g * (x > 0),)))
    plugins[1].pullback("relu", lambda x: (x * (x > 0), lambda g: (-g,)))
    run = oracle.check(plugins, dtypes=["float64"], examples=5, workers=0)
    assert {v.id: v.status for v in run.verdicts} == {"mine#1/relu/float64": "passed", "mine#2/relu/float64": "failed"}


def test_oracle_list_names_the_plugins_as_oracle_check_of_the_same_targets_does(folders):
    result = CliRunner().invoke(cli, ["list", "assignment2", "assignment3"])
    assert result.exit_code == 0, result.output
    assert "plugin assignment2/cs231n.layers (assignment2): 13 implementations" in result.output
    assert "plugin assignment3/cs231n.layers (assignment3): 13 implementations" in result.output
    alone = CliRunner().invoke(cli, ["list", "assignment2"])
    assert "plugin cs231n.layers (assignment2): 13 implementations" in alone.output
