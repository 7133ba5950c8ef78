"""Workers never run the user's main module again: a script without an `if __name__ == "__main__":`
guard that calls oracle.check is judged once, in worker processes, as a guarded one would be."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

SCRIPT = '''
import numpy as np
import oracle

with open("ran.txt", "a") as ran:      # one line each time this script's body runs
    ran.write("ran\\n")

plugin = oracle.Plugin("mine")


@plugin.pullback("tanh")
def tanh(x):
    y = np.tanh(x)
    return y, lambda g: (g * (1 - y * y),)


run = oracle.check([plugin], examples=4, seed=1, workers=2)
print(run.summary_line())
'''


def test_a_script_without_a_main_guard_is_judged_in_workers_and_runs_once(tmp_path: Path):
    (tmp_path / "check_mine.py").write_text(SCRIPT)
    done = subprocess.run([sys.executable, "check_mine.py"], cwd=tmp_path, capture_output=True, text=True,
                          timeout=300, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "2 passed, 0 failed" in done.stdout
    assert "bootstrapping" not in done.stdout + done.stderr
    assert (tmp_path / "ran.txt").read_text() == "ran\n"
