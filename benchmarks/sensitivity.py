"""How small a gradient error does the oracle catch? One op and dtype at a time.

A correct implementation (gatecore's) is made wrong by a relative error δ in two ways:

    scale        every gradient multiplied by 1 + δ
    one element  the largest element of the first gradient multiplied by 1 + δ

and judged on the grid δ = 1e-1, 3e-2, 1e-2, ... 1e-13, bisecting for the smallest δ caught.
The table gives that smallest δ ("-" when not even 1e-1 is caught), and whether the
unchanged, correct implementation passed at the same settings (a false alarm would make the
numbers meaningless).

    python benchmarks/sensitivity.py [--examples 20] [--seed 0] [--op NAME ...] [--dtype float64 ...]

writes the markdown table to stdout and progress to stderr.
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np

import oracle
from oracle.plugins.gatecore import plugin as gatecore
from oracle.run import DTYPES, check

# Two steps a decade, off the thresholds' own round numbers so no result hangs on a rounding ulp.
DELTAS = [f * 10.0**-k for k in range(1, 14) for f in (3.0, 1.0)][1:]
MODES = ("scale", "one element")


def perturbed(impl: oracle.Implementation, mode: str, delta: float):
    """A pullback-convention copy of impl whose gradients carry a relative error delta."""

    def wrong(grads: tuple) -> tuple:
        grads = tuple(np.array(g, copy=True) for g in grads)
        if mode == "scale":
            return tuple(g * (1 + delta) for g in grads)
        first = grads[0]
        if first.size:
            at = np.unravel_index(np.argmax(np.abs(first)), first.shape)
            first[at] = first[at] * (1 + delta)
        return grads

    def f(*args):
        out, pullback = impl.vjp(*args)
        return out, lambda g: wrong(tuple(pullback(g)))

    return f


# The perturbed implementations are closures made here: judged in this process (workers=0).
def caught(plugin: oracle.Plugin, dtype: str, examples: int, seed: int) -> bool:
    run = check([plugin], dtypes=[dtype], examples=examples, seed=seed, workers=0)
    return any(v.status == "failed" for v in run.verdicts)


def smallest_caught(impl: oracle.Implementation, dtype: str, mode: str, examples: int, seed: int) -> float | None:
    """The smallest delta of DELTAS caught, by bisection: a larger error is caught whenever a smaller one is."""

    def caught_at(i: int) -> bool:
        plugin = oracle.Plugin("sensitivity")
        # The same label for every delta: the search draws the same cases, so only delta changes.
        plugin.pullback(impl.spec, perturbed(impl, mode, DELTAS[i]), name=impl.label)
        return caught(plugin, dtype, examples, seed)

    lo, hi = -1, len(DELTAS)  # DELTAS[lo] is caught (or lo is -1); DELTAS[hi] is not (or hi is past the end)
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if caught_at(mid):
            lo = mid
        else:
            hi = mid
    return DELTAS[lo] if lo >= 0 else None


def correct_passes(impl: oracle.Implementation, dtype: str, examples: int, seed: int) -> bool:
    plugin = oracle.Plugin("sensitivity")
    plugin.pullback(impl.spec, perturbed(impl, "scale", 0.0), name=impl.label)
    run = check([plugin], dtypes=[dtype], examples=examples, seed=seed, workers=0)
    return all(v.status == "passed" for v in run.verdicts)


def _delta(value: float | None) -> str:
    if value is None:
        return "-"
    return f"≤ {value:.0e}" if value == DELTAS[-1] else f"{value:.0e}"  # the grid's floor: smaller may be caught too


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--examples", type=int, default=20)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--op", action="append", dest="ops", help="an op of the catalogue (repeatable)")
    parser.add_argument("--dtype", action="append", dest="dtypes", choices=DTYPES)
    args = parser.parse_args(argv)
    dtypes = args.dtypes or list(DTYPES)

    impls = [i for i in gatecore.implementations if i.label == i.op and (not args.ops or i.op in args.ops)]
    header = ["op"] + [f"{d} {m}" for d in dtypes for m in MODES] + ["correct passes"]
    rows, alarms = [], 0
    started = time.perf_counter()
    for impl in impls:
        cells, passes = [impl.op], []
        for dtype in dtypes:
            for mode in MODES:
                cells.append(_delta(smallest_caught(impl, dtype, mode, args.examples, args.seed)))
            ok = correct_passes(impl, dtype, args.examples, args.seed)
            alarms += not ok
            passes.append("yes" if ok else f"**no ({dtype})**")
        cells.append(", ".join(dict.fromkeys(passes)))
        rows.append(cells)
        print(f"{impl.op}: {' | '.join(cells[1:])}  ({time.perf_counter() - started:.0f} s)", file=sys.stderr, flush=True)

    print(f"Smallest relative error caught (examples={args.examples}, seed={args.seed}; "
          f"δ tried: 1e-1, 3e-2, 1e-2, ... down to 1e-13)\n")
    print("| " + " | ".join(header) + " |")
    print("|" + "|".join(" --- " for _ in header) + "|")
    for cells in rows:
        print("| " + " | ".join(cells) + " |")
    return 1 if alarms else 0


if __name__ == "__main__":
    sys.exit(main())
