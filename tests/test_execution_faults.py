"""Every fault an implementation can commit is a verdict of its own, with evidence, and the run goes on.

One `oracle check` of tests/fixtures/execution/hostile.py judges, in two workers, fifteen hostile
ReLU implementations, each between two correct ones (ok_0 ... ok_15).
"""

from __future__ import annotations

import json
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from oracle.result import Run

FIXTURES = Path(__file__).parent / "fixtures" / "execution"
HOSTILE = FIXTURES / "hostile.py"
ARGS = ["--examples", "3", "--dtype", "float64", "--seed", "5", "--timeout", "1", "--memory-limit", "700"]


def oracle(*args: str, cwd: Path, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "oracle.cli", *args], cwd=cwd, capture_output=True, text=True, check=False,
                          timeout=timeout)


@pytest.fixture(scope="module")
def hostile(tmp_path_factory):
    folder = tmp_path_factory.mktemp("hostile")
    done = oracle("check", str(HOSTILE), "-n", "2", *ARGS, "--json", "run.json", "--junit-xml", "junit.xml",
                  "--report", "report", cwd=folder)
    return folder, done, Run.load(folder / "run.json")


def verdict(run: Run, label: str):
    (found,) = [v for v in run.verdicts if v.implementation == label]
    return found


RAISED = {"sys_exit_0": "raised SystemExit: 0", "sys_exit_3": "raised SystemExit: 3",
          "keyboard_interrupt": "raised KeyboardInterrupt", "generator_exit": "raised GeneratorExit",
          "base_exception": "raised BaseException: a bare BaseException"}


@pytest.mark.parametrize("label", RAISED)
def test_a_base_exception_raised_by_the_plugin_is_its_finding_with_a_shrunk_case(hostile, label):
    _, _, run = hostile
    found = verdict(run, label)
    assert found.status == "errored" and found.check == "call"
    assert RAISED[label] in found.message
    assert found.case is not None and found.case.dims == {"n": 1}


ENDED = {  # label: (fault, exit status, signal)
    "os_exit_0": ("exit", 0, None),
    "segfault": ("signal", None, "SIGSEGV"),
    "abort": ("signal", None, "SIGABRT"),
}


@pytest.mark.parametrize("label", ENDED)
def test_an_implementation_that_ends_its_worker_is_errored_with_the_status_and_the_case(hostile, label):
    _, _, run = hostile
    found = verdict(run, label)
    fault, status, signal_name = ENDED[label]
    assert found.status == "errored" and found.facts["fault"] == fault
    assert found.facts.get("exit_status") == status and found.facts.get("signal") == signal_name
    assert "ended the worker process" in found.message
    assert found.case is not None and found.case.dtype == "float64" and "case seed" in found.message


def test_what_the_implementation_printed_before_it_ended_is_kept_escaped(hostile):
    _, done, run = hostile
    found = verdict(run, "os_exit_0")
    assert found.facts["output"] == ["line one", "line two: <b>&</b>\\x1b[31m red", "written by C"]
    assert "  | written by C" in found.message
    assert "\x1b" not in done.stdout and "\x07" not in done.stdout


@pytest.mark.parametrize("label", ["catch_everything", "alarm_disarmed", "endless_c_call"])
def test_a_case_that_never_ends_has_its_worker_stopped_at_the_hard_limit(hostile, label):
    _, _, run = hostile
    found = verdict(run, label)
    assert found.status == "errored" and found.facts["fault"] == "timeout"
    assert found.facts["limit"] == 4          # three times --timeout 1, plus a second
    assert "did not finish one case within 4 s" in found.message and found.case is not None


def test_unbounded_allocation_stops_at_the_memory_limit(hostile):
    _, _, run = hostile
    found = verdict(run, "memory_hog")
    assert found.status == "errored" and found.facts["fault"] == "memory"
    assert found.facts["used"] > 700 and "(--memory-limit)" in found.message


@pytest.mark.parametrize("label", ["chdir", "close_stdout", "terminal"])
def test_changing_the_folder_or_the_standard_streams_harms_nothing(hostile, label):
    folder, done, run = hostile
    assert verdict(run, label).status == "passed"
    assert "cleared your screen" not in done.stdout + done.stderr
    assert (folder / "report" / "index.html").is_file()    # written where the run started, not in /


def test_every_correct_implementation_is_judged_as_it_would_be_alone(hostile, tmp_path):
    _, _, run = hostile
    alone = oracle("check", str(HOSTILE), "--op", "ok_*", "-n", "0", *ARGS, "--json", "alone.json",
                   "--report", "r", cwd=tmp_path)
    assert alone.returncode == 0, alone.stdout + alone.stderr
    expected = {v.implementation: (v.status, v.examples, v.message) for v in Run.load(tmp_path / "alone.json").verdicts}
    got = {v.implementation: (v.status, v.examples, v.message) for v in run.verdicts if v.implementation.startswith("ok_")}
    assert got == expected and len(got) == 16


def test_the_gate_fails_and_every_report_holds_every_verdict(hostile):
    folder, done, run = hostile
    assert done.returncode == 1, done.stderr
    assert not run.incomplete and run.missing == [] and len(run.verdicts) == 31
    assert [v.implementation for v in run.verdicts][:3] == ["ok_0", "sys_exit_0", "ok_1"]   # plan order
    lines = (folder / "report" / "journal.jsonl").read_text().splitlines()
    assert len(lines) == 1 + 31 + 1 and "end" in json.loads(lines[-1])
    cases = ET.parse(folder / "junit.xml").getroot().iter("testcase")
    assert sum(1 for _ in cases) == 31
    assert done.stdout.rstrip().splitlines()[-1].startswith("19 passed, 0 failed, 12 errored")


def test_a_target_that_exits_while_imported_is_one_line_and_exit_code_2(tmp_path):
    done = oracle("check", str(FIXTURES / "exit_at_import.py"), "--examples", "2", cwd=tmp_path)
    assert done.returncode == 2
    (line,) = done.stderr.strip().splitlines()
    assert line.startswith(f"oracle: loading '{FIXTURES / 'exit_at_import.py'}' failed: ") and "sys.exit(4)" in line


def test_the_heartbeat_survives_an_implementation_that_closes_its_descriptor_and_a_torn_read_is_not_taken(tmp_path):
    import os
    from types import SimpleNamespace

    import numpy as np

    from oracle.execution.watch import read_heartbeat
    from oracle.execution.worker import Heartbeat

    path = str(tmp_path / "job.beat")
    beat = Heartbeat(path)
    beat("loading")
    os.close(beat.fd)                               # what an implementation that closes every descriptor does
    case = SimpleNamespace(dims={"n": 3}, batch=(2,), hyper={"alpha": 0.5}, dtype="float32", seed=7,
                           inputs={"x": np.zeros((2, 3))})
    beat.case(case)
    assert read_heartbeat(path) == {"pid": os.getpid(), "phase": "case", "case": {
        "dims": {"n": 3}, "batch": [2], "hyper": {"alpha": 0.5}, "dtype": "float32", "seed": 7, "shapes": {"x": [2, 3]}}}
    case_record = Path(path).read_bytes()
    beat("loading")                                 # a shorter record over a longer one
    assert read_heartbeat(path)["phase"] == "loading"
    beat.close()
    loading_record = Path(path).read_bytes()
    Path(path).write_bytes(loading_record[:30] + case_record[30:])   # read while the worker was writing
    assert read_heartbeat(path) == {}
