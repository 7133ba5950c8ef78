"""False alarms: how often the oracle flags a correct implementation.

Runs every implementation of the given targets (default: gatecore, the project's own correct
core, and textbook, correct code written the naive way lectures write it) for N cases per op
and dtype, and prints a table of cases run, inconclusive cases (where rounding in the dtype is
as large as the gradient: never failures) and verdicts flagged, then the totals. Any flagged
verdict is printed in full.

    python benchmarks/false_alarms.py                    # gatecore and textbook, 10,000 cases per op and dtype
    python benchmarks/false_alarms.py --examples 200 --op 'conv*' --json fa.json
    python benchmarks/false_alarms.py textbook --examples 50
"""

from __future__ import annotations

import argparse
import time
from collections import defaultdict

import oracle
from oracle.message import format_failure


class Progress:
    """One line per verdict as it arrives (workers finish out of order, so nothing is printed at the start)."""

    def starting(self, impl, dtype):
        pass

    def finished(self, verdict):
        print(f"  {verdict.plugin}.{verdict.implementation} [{verdict.dtype}]: {verdict.status}, "
              f"{verdict.examples} cases, {verdict.duration:.1f} s", flush=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("targets", nargs="*", default=["gatecore", "textbook"])
    parser.add_argument("--examples", type=int, default=10_000, help="cases per op and dtype")
    parser.add_argument("--seed", type=int, default=20261122)
    parser.add_argument("--op", action="append", dest="ops")
    parser.add_argument("--dtype", action="append", dest="dtypes")
    parser.add_argument("--json", help="save the run here")
    parser.add_argument("--workers", default=None, help="worker processes (default: the cores)")
    args = parser.parse_args()

    started = time.perf_counter()
    run = oracle.check(args.targets, ops=args.ops, dtypes=args.dtypes, examples=args.examples, seed=args.seed,
                       listener=Progress(), workers=args.workers)
    elapsed = time.perf_counter() - started
    if args.json:
        run.save(args.json)

    rows: dict[str, dict[str, tuple[int, int, str]]] = defaultdict(dict)
    for v in run.verdicts:
        rows[f"{v.plugin}.{v.implementation}"][v.dtype] = (v.examples, v.inconclusive, v.status)
    print("\n| implementation | float64 cases | float32 cases | inconclusive (float64, float32) | flagged |")
    print("|---|---:|---:|---:|---|")
    for label, by_dtype in rows.items():
        flagged = [d for d, (_, _, status) in by_dtype.items() if status in ("failed", "errored")]
        f64, f32 = by_dtype.get("float64", (0, 0, "")), by_dtype.get("float32", (0, 0, ""))
        print(f"| {label} | {f64[0]} | {f32[0]} | {f64[1]}, {f32[1]} | {', '.join(flagged) or 'none'} |")
    flagged = [v for v in run.verdicts if v.status in ("failed", "errored")]
    cases = sum(v.examples for v in run.verdicts)
    inconclusive = sum(v.inconclusive for v in run.verdicts)
    print(f"\n{len(run.verdicts)} verdicts, {cases} cases ({inconclusive} inconclusive), {len(flagged)} flagged, "
          f"{elapsed:.0f} s, seed {run.seed}")
    for v in flagged:
        print("\n" + format_failure(v))
    return 1 if flagged else 0


if __name__ == "__main__":
    raise SystemExit(main())
