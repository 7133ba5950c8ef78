"""Dropout judged from its own output, whatever random numbers it draws.

In train mode every element of the output is 0 or x/keep, with one scale for every kept
element. That scale says how the implementation reads p: as the keep probability (keep = p)
or as the drop probability (keep = 1 - p). Either is accepted, but the share of elements kept
must agree with the same reading, and so must every other call: a large probe at two more
values of p is judged too. The backward must be dout · out/x, the mask this very forward
revealed. In test mode the output is x and the gradient the upstream.

Findings are `dropout_forward` (the output) and `dropout_backward` (the gradient), so a
failure points at the function that is wrong.
"""

from __future__ import annotations

import numpy as np

from ..result import Finding
from ..streams import generator
from .calling import call
from .evaluation import Evaluation
from .evidence import compare

READINGS = {"keep probability": lambda p: p, "drop probability": lambda p: 1.0 - p}
PROBE_SHAPE = (40, 50)
PROBE_P = (0.2, 0.7)        # neither is 0.5, where the two readings agree
# Standard deviations of the binomial count allowed before the share kept counts as wrong:
# a correct implementation is flagged with probability below 1e-8 per call.
SHARE_SIGMAS = 6.0


def _readings(x: np.ndarray, out: np.ndarray, p: float, rtol: float, where: str) -> tuple[set[str], Finding | None]:
    """The readings of p this one call is consistent with, or a finding saying why it is none."""
    x, out = np.asarray(x, dtype=np.float64), np.asarray(out, dtype=np.float64)
    if out.shape != x.shape:
        return set(), Finding("dropout_forward", f"{where}: the output has shape {out.shape}; x has shape {x.shape}")
    ratio = out / x
    kept = ratio != 0
    readings = set(READINGS)
    if kept.any():
        scale = float(np.median(ratio[kept]))
        uneven = np.abs(ratio - scale) > rtol * abs(scale)
        if (uneven & kept).any():
            index = tuple(int(i) for i in np.argwhere(uneven & kept)[0])
            return set(), Finding(
                "dropout_forward", f"{where}: every element must be 0 or x/keep with one keep for all; "
                f"{int((uneven & kept).sum())} of {x.size} are x·r with r other than {scale:.6g} "
                f"(first at {index}: r = {ratio[index]:.6g})", facts={"scale": scale, "p": p})
        readings = {r for r, keep in READINGS.items() if abs(scale * keep(p) - 1.0) <= rtol}
        if not readings:
            return set(), Finding(
                "dropout_forward", f"{where}: kept elements are x·{scale:.6g}; inverted dropout keeps them as x/keep: "
                f"x·{1 / p:.6g} (p as keep probability) or x·{1 / (1 - p):.6g} (p as drop probability) — "
                f"a missing or wrong rescale", facts={"scale": scale, "p": p})
    count, n = int(kept.sum()), x.size
    fitting = set()
    for reading in readings:
        keep = READINGS[reading](p)
        if abs(count - n * keep) <= SHARE_SIGMAS * np.sqrt(n * keep * (1 - keep)) + 1:
            fitting.add(reading)
    if not fitting:
        implied = " or ".join(f"{READINGS[r](p):g} ({r})" for r in sorted(readings))
        return set(), Finding(
            "dropout_forward", f"{where}: {count} of {n} elements kept (share {count / n:.3f}); the rescale says "
            f"keep = {implied}: the mask and the rescale read p differently", facts={"kept": count, "total": n, "p": p})
    return fitting, None


def dropout_mask(ev: Evaluation) -> Finding | None:
    x = ev.case.inputs["x"].astype(np.float64)
    out, g, dx = ev.output[0], ev.cotangent[0].astype(np.float64), ev.grads[0]
    p, mode = ev.case.hyper["p"], ev.case.hyper["mode"]
    rtol = ev.rtol("forward")
    if mode == "test":
        return (compare("dropout_forward", None, out, x, rtol, "in test mode dropout must return x unchanged")
                or compare("dropout_backward", "x", dx, g, rtol,
                           "in test mode the gradient for 'x' must be the upstream gradient unchanged"))
    readings, finding = _readings(x, out, p, rtol, f"train mode, p = {p:g}")
    if finding:
        return finding
    revealed = np.asarray(out, dtype=np.float64) / x
    finding = compare("dropout_backward", "x", dx, g * revealed, ev.rtol("reference"),
                      "the gradient for 'x' must be dout · mask / keep, with the mask this forward revealed (out / x)")
    if finding:
        return finding
    # The same reading of p at other values of p, on an input large enough to tell the readings apart.
    rng = generator(ev.case.seed, 31)
    seen = {f"p = {p:g}": readings}
    for probe_p in PROBE_P:
        big = (rng.uniform(0.5, 2.0, PROBE_SHAPE) * rng.choice([-1.0, 1.0], PROBE_SHAPE)).round(3).astype(ev.dtype)
        hyper = dict(ev.case.hyper, p=probe_p, mode="train", seed=int(rng.integers(2**31)))
        probe_out, _ = call(ev.impl.vjp, big.copy(), *hyper.values(), timeout=ev.timeout)
        probe_readings, finding = _readings(big, probe_out, probe_p, rtol, f"a {PROBE_SHAPE[0]}×{PROBE_SHAPE[1]} input at p = {probe_p:g}")
        if finding:
            return finding
        seen[f"p = {probe_p:g}"] = probe_readings
        readings = readings & probe_readings
        if not readings:
            said = "; ".join(f"{where}: {' or '.join(sorted(r))}" for where, r in seen.items())
            return Finding("dropout_forward", f"p is read one way at one p and another way at another ({said}); "
                           "either reading is fine, but the same throughout", facts={"p": p})
    return None
