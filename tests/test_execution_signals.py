"""Nothing finished is lost: SIGTERM, SIGINT and SIGKILL of a running `oracle check`, then its journal rendered."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from oracle.result import Run

SLOW = Path(__file__).parent / "fixtures" / "execution" / "slow.py"

# Ctrl-C while a job runs: its worker is stopped and pebble starts a replacement, which is still
# starting when the pool is stopped moments later.
STOPPED_WHILE_A_WORKER_STARTS = """
import os, signal, time
import psutil
from oracle.execution.pool import WorkerPool
from oracle.execution.signals import stop_on_signals

here = psutil.Process()
with stop_on_signals():
    pool = WorkerPool(1)
    job = pool.submit(time.sleep, 60)
    while not job.running():
        time.sleep(0.01)
    first = {child.pid for child in here.children(recursive=True)}
    try:
        os.kill(os.getpid(), signal.SIGINT)
        time.sleep(5)
    except KeyboardInterrupt:
        job.cancel()
        while not {child.pid for child in here.children(recursive=True)} - first:
            time.sleep(0.01)
    pool.shutdown(wait=True, cancel_futures=True)
print("stopped")
"""
ARGS = ["--examples", "20", "--dtype", "float64", "--seed", "2", "-n", "2", "--report", "report", "--json", "run.json"]


def start(folder: Path) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "oracle.cli", "check", str(SLOW), *ARGS], cwd=folder,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def wait_for_verdicts(folder: Path, count: int, process: subprocess.Popen, limit: float = 120) -> None:
    journal = folder / "report" / "journal.jsonl"
    ends = time.monotonic() + limit
    while time.monotonic() < ends:
        assert process.poll() is None, process.communicate()
        if journal.is_file() and sum('"verdict"' in line[:12] for line in journal.read_text().splitlines()) >= count:
            return
        time.sleep(0.1)
    pytest.fail("the run judged nothing in time")


def render(journal: Path, folder: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "oracle.cli", "report", str(journal), "--html", str(folder)],
                          capture_output=True, text=True, timeout=120, check=False)


def test_sigterm_ends_the_run_like_ctrl_c_with_reports_and_exit_143(tmp_path):
    process = start(tmp_path)
    wait_for_verdicts(tmp_path, 2, process)
    process.send_signal(signal.SIGTERM)
    out, err = process.communicate(timeout=60)
    assert process.returncode == 143, err
    run = Run.load(tmp_path / "run.json")
    assert run.incomplete and run.stopped_because == "terminated" and not run.ok
    assert {"slow/quick_1/float64", "slow/quick_2/float64"} <= {v.id for v in run.verdicts}
    assert run.missing and set(run.missing).isdisjoint(v.id for v in run.verdicts)
    assert "Traceback" not in err and out.rstrip().endswith("(incomplete)"), err + out[-500:]
    assert (tmp_path / "report" / "index.html").is_file()
    rendered = render(tmp_path / "report" / "journal.jsonl", tmp_path / "again")
    assert rendered.returncode == 0 and rendered.stdout.rstrip().endswith("(incomplete)")
    assert Run.load(tmp_path / "again" / "run.json").stopped_because == "terminated"


def test_a_second_ctrl_c_prints_no_traceback(tmp_path):
    process = start(tmp_path)
    wait_for_verdicts(tmp_path, 1, process)
    process.send_signal(signal.SIGINT)
    time.sleep(0.05)
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=60)
    assert process.returncode == 130 and "Traceback" not in err
    assert Run.load(tmp_path / "run.json").stopped_because == "interrupted"


def test_a_worker_still_starting_when_the_pool_stops_after_ctrl_c_prints_nothing():
    done = subprocess.run([sys.executable, "-c", STOPPED_WHILE_A_WORKER_STARTS], capture_output=True, text=True,
                          timeout=120, check=False)
    assert done.returncode == 0 and done.stdout == "stopped\n", done.stderr
    assert done.stderr == ""


def test_after_sigkill_the_journal_keeps_every_finished_verdict_and_renders_incomplete(tmp_path):
    process = start(tmp_path)
    wait_for_verdicts(tmp_path, 2, process)
    workers = psutil.Process(process.pid).children(recursive=True)
    process.kill()
    process.communicate(timeout=30)
    _, alive = psutil.wait_procs(workers, timeout=10)
    assert alive == []                       # the workers end with their supervisor
    journal = tmp_path / "report" / "journal.jsonl"
    lines = journal.read_text().splitlines()
    assert "end" not in json.loads(lines[-1])
    rendered = render(journal, tmp_path / "killed")
    assert rendered.returncode == 0, rendered.stderr
    assert rendered.stdout.rstrip().endswith("(incomplete)")
    run = Run.load(tmp_path / "killed" / "run.json")
    assert run.incomplete and run.stopped_because == "the run was killed before it finished"
    assert len(run.verdicts) == len(lines) - 1 >= 2
    assert len(run.verdicts) + len(run.missing) == 6
    assert "incomplete" in (tmp_path / "killed" / "index.html").read_text().lower()
    # run.json was never written: the run.json a user would pass is read from the journal beside it
    again = render(tmp_path / "report" / "run.json", tmp_path / "killed-again")
    assert again.returncode == 0 and again.stdout.rstrip().endswith("(incomplete)"), again.stderr
