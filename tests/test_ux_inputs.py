"""Input that fights back: every malformed or hostile input ends in one line and exit code 2
(or the stated code), never 3, never a traceback; untrusted text stays harmless."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

import oracle
from oracle.cli import cli
from oracle.report.html import write_html
from oracle.result import CaseRecord, Run, Verdict
from oracle.sanitize import for_terminal, safe_str, shorten
from oracle.schemas import SchemaError, schema, validate

FAST = ["--examples", "3", "--seed", "3", "--dtype", "float64", "--workers", "0"]

RELU = '''
@plugin.pullback("relu")
def relu(x):
    return x * (x > 0), lambda g: (g * (x > 0),)
'''


@pytest.fixture
def here(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("GITHUB_ACTIONS", raising=False)
    return tmp_path


def invoke(*args: str):
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def one_line(result, code: int, says: str) -> None:
    assert result.exit_code == code, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and says in lines[0], result.stderr
    assert "Traceback" not in result.output


def a_run(**verdict) -> dict:
    base = {"plugin": "p", "op": "relu", "dtype": "float64", "status": "passed"}
    return {"version": 1, "seed": 1, "verdicts": [{**base, **verdict}]}


# --------------------------------------------------------------------------- malformed files

@pytest.mark.parametrize("command", [["report", "deep.json"], ["check", "x.py", "--baseline", "deep.json"],
                                     ["baseline", "deep.json"]])
def test_deeply_nested_json_is_one_line_and_exit_2(here, command):
    (here / "deep.json").write_text("[" * 100_000 + "]" * 100_000)
    (here / "x.py").write_text("import oracle\nplugin = oracle.Plugin('x')\n" + RELU)
    one_line(invoke(*command), 2, "nested too deeply")


@pytest.mark.parametrize("data, says", [
    ({"version": 1, "seed": 1, "verdicts": ["x"]}, "verdicts/0: 'x' is not of type 'object'"),
    (a_run(status="maybe"), "verdicts/0/status: 'maybe' is not one of"),
    (a_run(examples="many"), "verdicts/0/examples: 'many' is not of type 'integer'"),
    (a_run(case={"dims": []}), "verdicts/0/case"),
    (a_run(diagnosis={"kind": "transpose"}), "verdicts/0/diagnosis"),
    (a_run(worst=[{"index": [0], "got": 1, "expected": 2, "error": 1, "surprise": 1}]),
     "Element.__init__() got an unexpected keyword argument 'surprise'"),
    ({**a_run(), "seed": "3"}, "seed: '3' is not of type 'integer'"),
    ({**a_run(), "verdicts": {"a": 1}}, "verdicts: {'a': 1} is not of type 'array'"),
    ({**a_run(), "version": 7}, "version: 1 was expected"),
    ({"version": 1, "seed": 1, "verdicts": json.loads("[" * 70 + "]" * 70)}, "nested more than 64 levels"),
])
def test_a_run_that_is_not_one_is_refused_on_load_naming_the_place(here, data, says):
    (here / "run.json").write_text(json.dumps(data))
    one_line(invoke("report", "run.json"), 2, f"run.json: {says}")
    one_line(invoke("baseline", "run.json"), 2, says)


@pytest.mark.parametrize("known, says", [({"a::b::c::d": 3}, "known/a::b::c::d: 3 is not of type 'string'"),
                                         ([1, 2], "has no 'known' table")])
def test_a_baseline_with_wrong_types_is_one_line(here, known, says):
    (here / "base.json").write_text(json.dumps({"version": 1, "known": known}))
    (here / "x.py").write_text("import oracle\nplugin = oracle.Plugin('x')\n" + RELU)
    one_line(invoke("check", "x.py", "--baseline", "base.json"), 2, says)


def test_the_schemas_ship_with_the_package_and_a_journal_line_is_one_verdict():
    assert schema("run")["properties"]["verdicts"]["items"] == {"$ref": "verdict.schema.json"}
    verdict = Verdict(plugin="p", op="relu", dtype="float64", status="failed", message="m",
                      case=CaseRecord({"n": 2}, [], {}, "float64", 5, {"x": [2]}))
    from dataclasses import asdict

    assert validate("verdict", json.loads(json.dumps(asdict(verdict)))) is not None
    with pytest.raises(SchemaError, match="status: 'maybe' is not one of"):
        validate("verdict", {**asdict(verdict), "status": "maybe"})
    with pytest.raises(ValueError, match="unknown schema"):
        schema("nope")


def test_every_line_of_a_journal_is_valid_and_a_bad_line_is_named(tmp_path):
    from oracle.execution.journal import Journal

    run = Run(seed=4, verdicts=[])
    journal = Journal(tmp_path / "journal.jsonl", run, ["p/relu/float64"])
    journal.verdict(Verdict(plugin="p", op="relu", dtype="float64", status="passed", examples=3))
    journal.end(run)
    lines = [json.loads(line) for line in (tmp_path / "journal.jsonl").read_text().splitlines()]
    assert len(lines) == 3 and all(validate("journal", line) for line in lines)
    with pytest.raises(SchemaError, match="verdict/status: 'maybe' is not one of"):
        validate("journal", {"verdict": {**lines[1]["verdict"], "status": "maybe"}})


def _journal(folder: Path) -> list[str]:
    """The three lines of a finished journal of one passed verdict."""
    from oracle.execution.journal import Journal

    run = Run(seed=4, verdicts=[])
    journal = Journal(folder / "journal.jsonl", run, ["p/relu/float64"])
    journal.verdict(Verdict(plugin="p", op="relu", dtype="float64", status="passed", examples=3))
    journal.end(run)
    return (folder / "journal.jsonl").read_text().splitlines()


@pytest.mark.parametrize("line, replace, says", [
    (1, lambda v: {"verdict": {**v["verdict"], "status": "maybe"}}, "line 2: verdict/status: 'maybe' is not one of"),
    (1, lambda v: {"verdict": {**v["verdict"], "examples": "many"}}, "line 2: verdict/examples: 'many' is not of type 'integer'"),
    (0, lambda h: {**h, "planned": 5}, "line 1: planned: 5 is not of type 'array'"),
    (2, lambda e: {"end": {"duration": 1.0}}, "line 3: end: 'incomplete' is a required property"),
    (1, None, "line 2 is nested too deeply to read"),
], ids=["unknown status", "wrong field type", "header", "end line", "deeply nested"])
def test_a_journal_given_to_oracle_report_is_checked_line_by_line_on_load(here, line, replace, says):
    lines = _journal(here)
    assert invoke("report", "journal.jsonl", "--html", "ok").exit_code == 0
    # json.dumps could not write the deeply nested line itself
    lines[line] = json.dumps(replace(json.loads(lines[line]))) if replace else "[" * 100_000 + "]" * 100_000
    (here / "bad.jsonl").write_text("\n".join(lines) + "\n")
    one_line(invoke("report", "bad.jsonl", "--html", "bad"), 2, f"bad.jsonl: {says}")
    assert not (here / "bad").exists()


# --------------------------------------------------------------------------- targets that fight back

@pytest.mark.parametrize("workers", ["0", "1"])
def test_a_module_calling_sys_exit_at_import_is_one_line_and_exit_2(here, workers):
    (here / "exits.py").write_text("import sys\nimport oracle\nplugin = oracle.Plugin('x')\nsys.exit(4)\n")
    one_line(invoke("check", "exits.py", "--examples", "3", "--workers", workers), 2,
             "loading 'exits.py' failed: it called sys.exit(4) while importing")


def test_a_plugin_with_no_implementations_is_exit_5_nothing_to_check(here):
    (here / "empty.py").write_text("import oracle\nplugin = oracle.Plugin('empty')\n")
    one_line(invoke("check", "empty.py", *FAST), 5, "nothing to check")


@pytest.mark.parametrize("spec, says", [
    ('oracle.Spec("odd", inputs={"x": Input("n", Domain("gaussian"))}, reference=lambda x: x)',
     "unknown domain kind 'gaussian'; choose from real, nonzero, labels, mask"),
    ('oracle.Spec("odd", inputs={"x": Input("n", Domain("real", 3.0, 1.0))}, reference=lambda x: x)',
     "a real domain needs finite low <= high, got [3.0, 1.0]"),
    ('oracle.Spec("odd", inputs={"x": "n"}, reference=lambda x: x.no_such_attribute)',
     "the reference of spec 'odd' raises on a valid case"),
])
def test_a_bad_spec_is_reported_when_the_plugin_is_loaded(here, spec, says):
    (here / "odd.py").write_text(f"import oracle\nfrom oracle.spec import Domain, Input\nSPEC = {spec}\n"
                                 "plugin = oracle.Plugin('odd')\n\n@plugin.pullback(SPEC)\n"
                                 "def f(x):\n    return x, lambda g: (g,)\n")
    result = invoke("check", "odd.py", *FAST)
    one_line(result, 2, says)
    assert "FAILED" not in result.stdout and "passed" not in result.stdout     # nothing was judged


def test_a_folder_without_plugins_or_assignment_files_is_one_line_that_says_so(here):
    (here / "empty_folder").mkdir()
    one_line(invoke("check", "empty_folder", *FAST), 2, "empty_folder is a directory, and no .py file in it defines an oracle.Plugin")


def test_an_exception_whose_str_raises_is_the_plugins_error_not_the_oracles(here):
    (here / "nasty.py").write_text("import oracle\nplugin = oracle.Plugin('nasty')\n\n"
                                   "class Nasty(Exception):\n    def __str__(self):\n        raise RuntimeError('no')\n\n"
                                   "@plugin.pullback('relu')\ndef relu(x):\n    raise Nasty()\n")
    result = invoke("check", "nasty.py", *FAST, "--json", "run.json")
    assert result.exit_code == 1, result.output          # a verdict, not an internal error (3)
    (verdict,) = Run.load(here / "run.json").verdicts
    assert verdict.status == "errored" and "raised Nasty: <Nasty whose str() raised RuntimeError>" in verdict.message


def test_safe_str_survives_a_str_that_raises_or_returns_no_string():
    class Raises:
        def __str__(self):
            raise ValueError

    class NotText:
        def __str__(self):
            return 3

    assert safe_str(Raises()) == "<Raises whose str() raised ValueError>"
    assert safe_str(NotText()) == "<NotText whose str() raised TypeError>"


def test_a_plugin_bound_to_two_names_is_judged_once(here):
    (here / "twice.py").write_text("import oracle\nplugin = oracle.Plugin('twice')\nalias = plugin\n" + RELU)
    invoke("check", "twice.py", *FAST, "--json", "run.json")
    assert [v.id for v in Run.load(here / "run.json").verdicts] == ["twice/relu/float64"]


# In a worker process the budget must outlast the worker's start (JAX's import) for a case to begin.
@pytest.mark.parametrize("workers, budget", [(0, 0.5), (1, 8.0)])
def test_the_time_budget_is_checked_between_cases_of_one_verdict(here, workers, budget):
    plugin = oracle.Plugin("slow")

    @plugin.pullback("relu")
    def relu(x):
        time.sleep(0.05)
        return x * (x > 0), lambda g: (g * (x > 0),)

    started = time.perf_counter()
    run = oracle.check([plugin], examples=1000, dtypes=["float64"], seed=1, time_budget=budget, workers=workers)
    assert time.perf_counter() - started < budget + 10        # 1000 cases would take well over a minute
    assert run.incomplete and run.stopped_because == "time budget"
    assert run.missing == ["slow/relu/float64"] and not run.ok       # a verdict cut short is not a pass


@pytest.mark.parametrize("option, path, says", [
    ("--report", "file.txt/reports", "cannot write file.txt/reports: a part of the path is a file"),
    ("--json", "file.txt/run.json", "cannot write file.txt/run.json: a part of the path is a file"),
    ("--junit-xml", "folder", "cannot write folder: it is a folder; name a file"),
    ("--report", "file.txt", "cannot write file.txt: it is a file; --report names a folder"),
])
def test_an_unwritable_report_path_is_found_before_the_run_and_named_as_given(here, option, path, says):
    (here / "file.txt").write_text("")
    (here / "folder").mkdir()
    (here / "x.py").write_text("import oracle\nplugin = oracle.Plugin('x')\n" + RELU)
    result = invoke("check", "x.py", *FAST, option, path)
    one_line(result, 2, says)
    assert ".oracle-probe" not in result.stderr and "passed" not in result.stdout


# --------------------------------------------------------------------------- the report folder

def _run(seed: int, failing: int) -> Run:
    verdicts = [Verdict(plugin="p", op=f"op{i}", dtype="float64", status="failed", message=f"run {seed}", seed=seed)
                for i in range(failing)]
    return Run(seed=seed, verdicts=verdicts)


def _consistent(folder: Path) -> int:
    """The seed of the run the folder holds; fails if index, run.json and pages are of different runs."""
    run = Run.load(folder / "run.json")
    assert f"seed {run.seed}" in (folder / "index.html").read_text()
    pages = sorted(p.name for p in (folder / "verdicts").glob("*.html"))
    assert len(pages) == len(run.verdicts)
    assert all(f"run {run.seed}" in (folder / "verdicts" / p).read_text() for p in pages)
    return run.seed


def test_two_runs_writing_one_report_folder_never_leave_a_mix(tmp_path, monkeypatch):
    """Run A pauses after writing its index, before removing the pages of earlier runs; run B
    writes the same folder meanwhile. Unlocked, A would then delete B's pages under B's index."""
    import oracle.report.html as html

    folder = tmp_path / "reports"
    paused, resume = threading.Event(), threading.Event()
    write_atomic = html.write_atomic

    def slow_index(path, text):
        write_atomic(path, text)
        if path.name == "index.html" and threading.current_thread().name == "A":
            paused.set()
            resume.wait(5)

    monkeypatch.setattr(html, "write_atomic", slow_index)
    a = threading.Thread(target=write_html, args=(_run(11, 6), folder), name="A")
    b = threading.Thread(target=write_html, args=(_run(22, 3), folder), name="B")
    a.start()
    assert paused.wait(10)
    b.start()
    b.join(0.5)
    assert b.is_alive()          # B waits for A's lock instead of writing beside it
    resume.set()
    a.join(10)
    b.join(10)
    assert _consistent(folder) == 22


def test_oracle_report_that_cannot_render_leaves_the_old_report_whole(here, monkeypatch):
    write_html(_run(11, 2), here / "reports")
    _run(22, 1).save(here / "new.json")
    import oracle.report.html as html

    def broken(*args, **kwargs):
        raise RuntimeError("rendering failed")

    monkeypatch.setattr(html, "render_index", broken)
    result = CliRunner().invoke(cli, ["report", "new.json", "--html", "reports"])
    assert result.exit_code == 3
    assert _consistent(here / "reports") == 11          # not a new run.json beside the old index


# --------------------------------------------------------------------------- untrusted text

HOSTILE = "evil\x1b[2J\x1b]0;pwned\x07\x00\x07bell\x1b[31mred\x9b1m"


def test_control_sequences_never_reach_the_terminal(here):
    (here / "loud.py").write_text("import oracle\nplugin = oracle.Plugin('loud')\n\n@plugin.pullback('relu')\n"
                                  f"def relu(x):\n    raise ValueError({HOSTILE!r})\n")
    result = invoke("check", "loud.py", *FAST, "--json", "run.json")
    assert result.exit_code == 1
    for char in "\x1b\x07\x00\x9b":
        assert char not in result.output
    assert "raised ValueError: evilbellred at loud.py" in result.stdout
    assert HOSTILE in Run.load(here / "run.json").verdicts[0].message       # the JSON keeps it whole


def test_control_sequences_in_plugin_and_implementation_names_never_reach_the_terminal(here):
    (here / "names.py").write_text(f"import oracle\nplugin = oracle.Plugin({'lo' + HOSTILE!r})\n\n"
                                   f"@plugin.pullback('relu', name={'re' + HOSTILE!r})\n"
                                   "def relu(x):\n    return x * (x > 0), lambda g: (2 * g * (x > 0),)\n")
    checked = invoke("check", "names.py", *FAST, "--json", "run.json")
    listed = invoke("list", "names.py")
    assert checked.exit_code == 1 and listed.exit_code == 0, checked.output + listed.output
    for char in "\x1b\x07\x00\x9b":
        assert char not in checked.output and char not in listed.output
    assert "FAILED loevilbellred reevilbellred (relu) float64" in checked.stdout
    assert "plugin loevilbellred" in listed.stdout
    assert Run.load(here / "run.json").verdicts[0].plugin == "lo" + HOSTILE


def test_a_one_megabyte_message_is_cut_in_the_terminal_and_kept_whole_in_the_json(here):
    (here / "long.py").write_text("import oracle\nplugin = oracle.Plugin('long')\n\n@plugin.pullback('relu')\n"
                                  "def relu(x):\n    raise ValueError('x' * 1_000_000)\n")
    result = invoke("check", "long.py", *FAST, "--json", "run.json")
    assert result.exit_code == 1
    assert len(result.output) < 50_000 and "more characters; the run's JSON holds the full text" in result.stdout
    assert "x" * 1_000_000 in Run.load(here / "run.json").verdicts[0].message


def test_for_terminal_removes_csi_osc_and_c0_c1_controls_but_keeps_newlines_and_tabs():
    assert for_terminal(HOSTILE) == "evilbellred"
    assert for_terminal("a\n\tb") == "a\n\tb"


def test_a_one_megabyte_message_is_cut_in_the_page_and_kept_whole_in_the_json(tmp_path):
    message = "x" * 1_000_000
    run = Run(seed=1, verdicts=[Verdict(plugin="p", op="relu", dtype="float64", status="failed", message=message)])
    index = write_html(run, tmp_path / "r")
    pages = list((tmp_path / "r" / "verdicts").glob("*.html"))
    assert all(p.stat().st_size < 200_000 for p in [index, *pages])
    assert "more characters; the run&#39;s JSON holds the full text" in pages[0].read_text()
    assert Run.load(tmp_path / "r" / "run.json").verdicts[0].message == message
    assert len(shorten(message)) < 20_100


def test_a_lone_surrogate_does_not_stop_the_html_report(tmp_path):
    run = Run(seed=1, verdicts=[Verdict(plugin="p\ud800", op="relu", dtype="float64", status="failed",
                                        message="bad \udcff text")])
    index = write_html(run, tmp_path / "r")
    page = next((tmp_path / "r" / "verdicts").glob("*.html")).read_text(encoding="utf-8")
    assert "bad \ufffd text" in page and "p\ufffd" in index.read_text(encoding="utf-8")
    assert Run.load(tmp_path / "r" / "run.json").verdicts[0].message == "bad \udcff text"
