"""torch and jax: false alarms on the frameworks' own built-ins, and the oracle's time against gradcheck.

Part 1 runs every implementation of the `builtins` plugin (torch.nn.functional, torch.matmul,
jax.nn, ...) for N cases per op and dtype (float64, float32, bfloat16 by default) and counts the
verdicts flagged: each is a false alarm, since the built-ins are right.

Part 2 takes the same torch code and the same inputs, one case at a time, and times the oracle's
whole list of checks on that case (every check, every mode) against
torch.autograd.gradcheck, default and fast_mode=True, side by side in one run. gradcheck is run
in float64 (its documented use) and, to show why it is not used below float64, in float32.

    python benchmarks/framework.py                               # 1,000 cases per op and dtype
    python benchmarks/framework.py --examples 50 --timing-cases 20
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
import warnings
from collections import defaultdict

import numpy as np

import oracle
from oracle.message import format_failure

TIMED = ("tanh_torch", "matmul_torch", "softmax_torch", "layernorm_torch", "conv2d_torch")


class Progress:
    """One line per verdict as it arrives (workers finish out of order, so nothing is printed at the start)."""

    def starting(self, impl, dtype):
        pass

    def finished(self, verdict):
        print(f"  {verdict.plugin}.{verdict.implementation} [{verdict.dtype}]: {verdict.status}, "
              f"{verdict.examples} cases, {verdict.duration:.1f} s", flush=True)


def false_alarms(examples: int, dtypes: list[str], seed: int, ops: list[str] | None, workers) -> int:
    run = oracle.check(["builtins"], ops=ops, dtypes=dtypes, examples=examples, seed=seed, workers=workers,
                       listener=Progress())
    table: dict[tuple[str, str], list] = defaultdict(lambda: [0, 0, 0])
    for v in run.verdicts:
        if v.status == "skipped":
            continue
        row = table[(v.implementation, v.dtype)]
        row[0] += v.examples or 0
        row[1] += 1 if v.status in ("failed", "errored") else 0
        row[2] += getattr(v, "inconclusive", 0) or 0
    print(f"\nfalse alarms on the built-ins, {examples} cases per op and dtype, seed {seed}")
    print(f"{'implementation':<28}" + "".join(f"{d:>22}" for d in dtypes))
    for label in dict.fromkeys(label for label, _ in table):
        cells = []
        for d in dtypes:
            cases, flagged, _ = table.get((label, d), (0, 0, 0))
            cells.append(f"{flagged} flagged / {cases}" if (label, d) in table else "skipped")
        print(f"{label:<28}" + "".join(f"{c:>22}" for c in cells))
    flagged = [v for v in run.verdicts if v.status in ("failed", "errored")]
    total = sum(row[0] for row in table.values())
    print(f"total: {len(flagged)} flagged verdicts over {total} cases, {run.duration:.0f} s")
    for v in flagged:
        print("\n" + format_failure(v))
    return len(flagged)


def _time(fn, repeat: int = 1) -> float:
    start = time.perf_counter()
    for _ in range(repeat):
        fn()
    return (time.perf_counter() - start) / repeat


def timing(cases_per_op: int, seed: int) -> None:
    import torch
    from hypothesis import HealthCheck, given, settings
    from hypothesis import seed as hypothesis_seed

    from oracle.cases import cases
    from oracle.checks import run_checks
    from oracle.conventions.torch import to_tensor
    from oracle.plugins.builtins import plugin

    print(f"\nper-case time on the same torch code and inputs ({cases_per_op} cases per op; median ms per case)")
    header = ["implementation", "oracle f64 (first)", "oracle f64", "gradcheck f64", "fast f64", "oracle f32",
              "gradcheck f32 fails", "fast f32 fails"]
    print(f"{header[0]:<18}" + "".join(f"{h:>20}" for h in header[1:]))
    for impl in (i for i in plugin.implementations if i.label in TIMED):
        drawn = []

        @settings(max_examples=cases_per_op, deadline=None, database=None, suppress_health_check=list(HealthCheck))
        @hypothesis_seed(seed)
        @given(cases(impl.spec, "float64"))
        def collect(case):
            drawn.append(case)

        collect()
        fn = impl.code
        times = defaultdict(list)
        fails = defaultdict(int)
        for case in drawn:
            for dtype in ("float64", "float32"):
                typed = case if dtype == "float64" else _as(case, dtype)
                # The first call may compile the reference for a new shape; the second is the steady state.
                times[f"oracle first {dtype}"].append(_time(lambda: run_checks(impl, typed)))
                times[f"oracle {dtype}"].append(_time(lambda: run_checks(impl, typed)))
                tensors = [to_tensor(a, requires_grad=n in impl.spec.differentiable)
                           for n, a in zip(impl.spec.input_names, typed.args()[:len(impl.spec.inputs)])]
                hyper = typed.args()[len(impl.spec.inputs):]
                inputs = tuple(tensors) + tuple(hyper)
                for fast in (False, True):
                    def gc():
                        with warnings.catch_warnings():
                            warnings.simplefilter("ignore")
                            return torch.autograd.gradcheck(fn, inputs, fast_mode=fast, raise_exception=False)
                    start = time.perf_counter()
                    ok = gc()
                    times[f"gradcheck {fast} {dtype}"].append(time.perf_counter() - start)
                    fails[f"{fast} {dtype}"] += not ok
        n = len(drawn)
        ms = {k: 1e3 * statistics.median(v) for k, v in times.items()}
        print(f"{impl.label:<18}{ms['oracle first float64']:>20.1f}{ms['oracle float64']:>20.1f}{ms['gradcheck False float64']:>20.1f}"
              f"{ms['gradcheck True float64']:>20.1f}{ms['oracle float32']:>20.1f}"
              f"{fails['False float32']:>15} of {n:<3}{fails['True float32']:>15} of {n:<3}")
    print("(oracle: every check and mode on the case; 'first' includes compiling the JAX reference for a new shape.\n"
          " gradcheck in float64 passes these correct ops; its float32 failures are its false alarms.)")


def _as(case, dtype):
    from dataclasses import replace

    return replace(case, dtype=dtype, inputs={n: a.astype(dtype) if a.dtype.kind == "f" else a
                                              for n, a in case.inputs.items()})


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--examples", type=int, default=1000, help="cases per op and dtype for the false alarms")
    parser.add_argument("--dtype", action="append", dest="dtypes")
    parser.add_argument("--op", action="append", dest="ops")
    parser.add_argument("--seed", type=int, default=20261130)
    parser.add_argument("--timing-cases", type=int, default=50, help="cases per op for the timing (0: skip it)")
    parser.add_argument("--workers", default=None, help="worker processes for part 1 (default: the cores)")
    args = parser.parse_args()
    workers = int(args.workers) if args.workers and args.workers.isdigit() else args.workers
    flagged = false_alarms(args.examples, args.dtypes or ["float64", "float32", "bfloat16"], args.seed, args.ops, workers)
    if args.timing_cases:
        try:
            import torch  # noqa: F401
        except ImportError:
            print("torch is not installed: no timing against gradcheck")
        else:
            timing(args.timing_cases, args.seed)
    return 1 if flagged else 0


if __name__ == "__main__":
    np.seterr(all="ignore")
    sys.exit(main())
