"""False alarms: how often the oracle flags a correct implementation.

Runs every implementation of the given targets (default: gatecore, the project's own
correct core) for N cases per op and dtype, and prints a table of cases run, verdicts
flagged and time per op, then the totals. Any flagged verdict is printed in full.

    python benchmarks/false_alarms.py                    # gatecore, 1,000 cases per op and dtype
    python benchmarks/false_alarms.py --examples 200 --op 'conv*' --json fa.json
"""

from __future__ import annotations

import argparse
import time
from collections import defaultdict

import oracle
from oracle.message import format_failure


class Progress:
    def starting(self, impl, dtype):
        self.clock = time.perf_counter()
        print(f"  {impl.plugin}.{impl.label} [{dtype}] ...", end="", flush=True)

    def finished(self, verdict):
        print(f" {verdict.status}, {verdict.examples} cases, {time.perf_counter() - self.clock:.1f} s", flush=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("targets", nargs="*", default=["gatecore"])
    parser.add_argument("--examples", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=20261122)
    parser.add_argument("--op", action="append", dest="ops")
    parser.add_argument("--dtype", action="append", dest="dtypes")
    parser.add_argument("--json", help="save the run here")
    args = parser.parse_args()

    started = time.perf_counter()
    run = oracle.check(args.targets, ops=args.ops, dtypes=args.dtypes, examples=args.examples, seed=args.seed,
                       listener=Progress())
    elapsed = time.perf_counter() - started
    if args.json:
        run.save(args.json)

    rows: dict[str, dict[str, tuple[int, str]]] = defaultdict(dict)
    for v in run.verdicts:
        rows[v.implementation][v.dtype] = (v.examples, v.status)
    print(f"\n| implementation | float64 cases | float32 cases | flagged |")
    print("|---|---:|---:|---|")
    for label, by_dtype in rows.items():
        flagged = [d for d, (_, status) in by_dtype.items() if status in ("failed", "errored")]
        print(f"| {label} | {by_dtype.get('float64', (0, ''))[0]} | {by_dtype.get('float32', (0, ''))[0]} | "
              f"{', '.join(flagged) or 'none'} |")
    flagged = [v for v in run.verdicts if v.status in ("failed", "errored")]
    cases = sum(v.examples for v in run.verdicts)
    print(f"\n{len(run.verdicts)} verdicts, {cases} cases, {len(flagged)} flagged, {elapsed:.0f} s, seed {run.seed}")
    for v in flagged:
        print("\n" + format_failure(v))
    return 1 if flagged else 0


if __name__ == "__main__":
    raise SystemExit(main())
