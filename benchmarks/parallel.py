"""Parallel judging: the wall time `-n 1` / `-n 2`, and the CPU that isolation costs, `-n 1` against `-n 0`.

Runs `oracle check TARGET` three times as a user would (a fresh process each: -n 0, -n 1, -n 2),
with the same seed, and measures each run's wall time and CPU time (its own and its workers',
which it waits for). A first, unmeasured run (-n 2) fills the compilation cache, so that the
measured runs all find the same programs on disk: otherwise the first of them would also pay for
compiling what the others read back. Prints the table and the two figures:

    speed-up      wall(-n 1) / wall(-n 2)               the target on 2 cores is at least 1.7
    overhead      cpu(-n 1) / cpu(-n 0) - 1             the target is at most 10%

    python benchmarks/parallel.py                        # gatecore, 50 cases per op and dtype
    python benchmarks/parallel.py --examples 5           # a quick try
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def measure(target: str, workers: int, examples: int, seed: int, folder: Path) -> dict:
    """One `oracle check` in a fresh process: wall seconds, CPU seconds (with every worker), verdict statuses."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    report = folder / f"n{workers}"
    command = [sys.executable, "-m", "oracle.cli", "check", target, "-n", str(workers), "--examples", str(examples),
               "--seed", str(seed), "--report", str(report), "--json", str(report / "run.json"), "-q"]
    clock = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - clock
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode not in (0, 1):
        raise SystemExit(f"oracle check -n {workers} ended with {done.returncode}: {done.stderr.strip()}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    verdicts = json.loads((report / "run.json").read_text())["verdicts"]
    return {"workers": workers, "wall": wall, "cpu": cpu,
            "verdicts": [(v["plugin"], v["implementation"], v["dtype"], v["status"], v["examples"]) for v in verdicts]}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("target", nargs="?", default="gatecore")
    parser.add_argument("--examples", type=int, default=50, help="cases per op and dtype")
    parser.add_argument("--seed", type=int, default=20261130)
    args = parser.parse_args()

    print(f"oracle check {args.target} --examples {args.examples} --seed {args.seed}, "
          f"{len(os.sched_getaffinity(0))} cores available, load average before it {os.getloadavg()[0]:.1f}")
    with tempfile.TemporaryDirectory(prefix="oracle-parallel-") as scratch:
        warm = measure(args.target, 2, args.examples, args.seed, Path(scratch) / "warm-up")
        print(f"warm-up run (-n 2, not measured): {warm['wall']:.1f} s")
        runs = {n: measure(args.target, n, args.examples, args.seed, Path(scratch)) for n in (0, 1, 2)}
    print(f"{'workers':>8} {'wall s':>8} {'cpu s':>8}")
    for n, run in runs.items():
        print(f"{n:>8} {run['wall']:>8.1f} {run['cpu']:>8.1f}")
    same = runs[0]["verdicts"] == runs[1]["verdicts"] == runs[2]["verdicts"]
    print(f"verdicts identical for -n 0, 1, 2: {'yes' if same else 'NO'}")
    speedup = runs[1]["wall"] / runs[2]["wall"]
    overhead = runs[1]["cpu"] / runs[0]["cpu"] - 1
    print(f"speed-up -n 1 / -n 2 (wall): {speedup:.2f}x (target >= 1.7)")
    print(f"isolation overhead -n 1 vs -n 0 (cpu): {100 * overhead:+.1f}% (target <= 10%)")
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
