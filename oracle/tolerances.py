"""Every threshold the oracle judges by, in one table keyed by dtype.

An element of a gradient is wrong when

    |got - expected| > max(rtol * max(|expected|, rms(expected)),  ROUNDING_ALLOWANCE * rounding)

and its relative error is |got - expected| over the same scale, max(|expected|, rms(expected),
ROUNDING_ALLOWANCE * rounding / rtol). The rms term keeps elements that cancel to nearly zero
from amplifying harmless rounding; `rounding` is what rounding in the case's dtype can do here
(oracle.checks.evaluation: the conditioning, then the reference's VJP under disturbed rounding,
oracle.rounding). There is no absolute floor: a gradient whose values are all small is measured
against its own scale, and a gradient that is exactly zero, with nothing that rounds, must be
exactly zero. A spec may widen a dtype's thresholds by a factor (Spec.tolerance).

A case where the rounding allowance is at least INCONCLUSIVE_SHARE of the gradient's own rms
cannot tell a right gradient from a wrong one in that dtype: if it passes only thanks to the
allowance it is inconclusive, never failed (and never counted as a pass of that precision).
"""

from __future__ import annotations

import math
from typing import Mapping

import numpy as np

__all__ = ["THRESHOLDS", "threshold", "relative_errors", "within_everywhere", "ROUNDING_ALLOWANCE", "ATOL_FRACTION", "FD_STEP", "COARSE_FD_STEPS", "COARSE_FD_RTOL",
           "EPS", "eps", "INCONCLUSIVE_SHARE", "rms"]

# check -> dtype -> rtol. float64 cases are computed in float64 end to end, so differences from
# the reference are a few ulps times the op's conditioning; float32 ones carry float32 rounding.
THRESHOLDS: dict[str, dict[str, float]] = {
    # float64 and float32: a relative error of 1e-12 (float64) and 1e-5 (float32) fails in a
    # well-conditioned case; rounding beyond a few units is covered by the rounding allowance,
    # which is measured per case, not by a loose rtol.
    # float16 and bfloat16 (torch and jax conventions only): a few units of their eps (2⁻¹⁰, 2⁻⁷),
    # the rounding of the result and of a few steps before it; the conditioning allowance below
    # covers what cancellation adds in each case.
    "forward": {"float64": 4e-13, "float32": 4e-6, "float16": 4e-3, "bfloat16": 3e-2},
    "reference": {"float64": 4e-13, "float32": 4e-6, "float16": 4e-3, "bfloat16": 3e-2},
    "property": {"float64": 4e-13, "float32": 4e-6, "float16": 4e-3, "bfloat16": 3e-2},
    # Finite differences of the implementation's forward in float64: truncation ~h², rounding ~eps/h.
    "finite_differences": {"float64": 1e-6, "float32": 1e-4, "float16": 4e-3, "bfloat16": 3e-2},
    # Linearity exists to catch an upstream gradient ignored or used twice: gross errors. Three
    # pullbacks' rounding add up in it, so it is judged more loosely than the reference.
    "linearity": {"float64": 1e-7, "float32": 1e-3, "float16": 1e-2, "bfloat16": 8e-2},
    # Two calls on the same inputs should agree to the last bit; allow a few ulps.
    "determinism": {"float64": 1e-13, "float32": 1e-6, "float16": 1e-3, "bfloat16": 8e-3},
    # Other modes (oracle/checks/modes.py). The forward-mode tangent is as exact as the pullback;
    # the adjoint identity sums both modes' rounding; a second-order product has the rounding of
    # a backward differentiated once more.
    "jvp": {"float64": 1e-9, "float32": 1e-4, "float16": 4e-3, "bfloat16": 3e-2},
    "adjoint": {"float64": 1e-9, "float32": 1e-4, "float16": 4e-3, "bfloat16": 3e-2},
    "second_order": {"float64": 1e-8, "float32": 1e-3, "float16": 1e-2, "bfloat16": 8e-2},
}

# The rounding unit of each dtype (NumPy's finfo does not know bfloat16).
EPS = {"float64": 2.0**-52, "float32": 2.0**-23, "float16": 2.0**-10, "bfloat16": 2.0**-7}


def eps(dtype: str) -> float:
    return EPS[str(dtype)]

# How many times the measured rounding spread a correct implementation may be off by: another
# sound algorithm rounds in other places and takes more steps than the reference's VJP.
ROUNDING_ALLOWANCE = 20.0

# Share of a gradient's rms that the rounding allowance must reach for a case to be inconclusive.
INCONCLUSIVE_SHARE = 0.5

ATOL_FRACTION = float(np.finfo(np.float64).tiny)   # only keeps 0/0 away: there is no absolute floor
FD_STEP = 1e-6         # central-difference step, on float64 inputs of order 1
# For a forward that computes in float32 even when given float64: rounding ~1e-7/h needs a
# longer step, truncation ~h² a short one; these steps keep both near 1e-4 of the result.
COARSE_FD_STEPS = (1e-3, 3e-4)
COARSE_FD_RTOL = 1e-3


def threshold(check: str, dtype: str, spec_tolerance: Mapping[str, float] | None = None) -> float:
    """The rtol for `check` in `dtype`, widened by the spec's factor for that dtype if it has one."""
    base = THRESHOLDS[check][dtype]
    return base * float((spec_tolerance or {}).get(dtype, 1.0))


# Up to this many elements a sum of squares is one dot product: np.mean costs more than the sum itself
# on small arrays. Past it, BLAS spreads a dot product over threads that then spin, taking CPU the
# rest of the case (or another worker) needs, so NumPy's own single-threaded reduction does it.
_DOT_LIMIT = 8192


def rms(a: np.ndarray) -> float:
    """Root mean square of an array's elements (0 for none), rescaled where the squares would overflow."""
    flat = np.asarray(a, dtype=np.float64).reshape(-1)
    if not flat.size:
        return 0.0
    # Past the limit, dot products of blocks of the limit's size: each stays on one thread, and no
    # array of squares is made.
    if flat.size <= _DOT_LIMIT:
        squares = float(np.dot(flat, flat))
    else:
        with np.errstate(over="ignore"):     # squares past the float range are rescaled below
            squares = math.fsum(float(np.dot(block, block))
                                for block in (flat[i:i + _DOT_LIMIT] for i in range(0, flat.size, _DOT_LIMIT)))
    if math.isinf(squares):   # squares past the float range (elements beyond 1e154): scaled by the largest first
        largest = float(np.max(np.abs(flat)))
        if math.isfinite(largest):
            return largest * rms(flat / largest)
    return math.sqrt(squares / flat.size)


def within_everywhere(got: np.ndarray, expected: np.ndarray, rtol: float, rounding: np.ndarray | None = None) -> bool:
    """True when no element's relative error (relative_errors) can exceed rtol, known without computing them.

    Every element's denominator is at least the gradient's rms (and the rounding allowance's), so a
    largest difference within rtol of that bound passes every element: a few passes over the arrays
    instead of a dozen, and three for arrays equal to the last bit, whose bound is not needed. False
    says only that the elementwise errors must be computed. Anything not finite (a NaN difference) is
    never within."""
    if got.shape != expected.shape:
        return False
    if not expected.size:
        return True
    with np.errstate(invalid="ignore", over="ignore"):   # inf - inf: NaN, which is never within
        difference = np.subtract(got, expected, out=np.empty(expected.shape))   # out=: a 0-d difference stays an array
    np.abs(difference, out=difference)
    largest = difference.max()
    if largest == 0:
        return True
    floor = rms(expected)
    if rounding is not None and np.shape(rounding) == expected.shape:
        floor = max(floor, ROUNDING_ALLOWANCE * rms(np.asarray(rounding, dtype=np.float64)) / rtol)
    # A margin of a few units keeps the bound's own rounding from passing an element just over rtol.
    bound = rtol * max(floor, ATOL_FRACTION) * (1 - 1e-12)
    return bool(math.isfinite(bound) and largest <= bound)


def relative_errors(got: np.ndarray, expected: np.ndarray, rtol: float, rounding: np.ndarray | None = None) -> np.ndarray:
    """Elementwise relative error as defined above (float64).

    rounding, when known, is what rounding in the case's dtype does to the result in this case
    (the reference at inputs moved by one rounding unit, checks.evaluation.nudging(), widened by
    oracle.rounding when a check would fail). ROUNDING_ALLOWANCE times it is an error any correct
    implementation may make, so it raises the denominator: in an
    ill-conditioned case (large terms cancelling to a small gradient) the relative error
    is measured against what rounding alone can do there.
    """
    got = np.asarray(got, dtype=np.float64)
    expected = np.asarray(expected, dtype=np.float64)
    # Computed in place, in one buffer for the denominator and one for the errors: a gradient of
    # a million elements is judged without a dozen temporaries of its size.
    denominator = np.abs(expected, out=np.empty_like(expected))   # out=: a 0-d input (a scalar loss) stays an array
    np.maximum(denominator, rms(expected), out=denominator)
    if rounding is not None and np.shape(rounding) == expected.shape:
        rounding = np.asarray(rounding, dtype=np.float64)
        allowance = np.maximum(rounding, rms(rounding), out=np.empty_like(rounding))
        allowance *= ROUNDING_ALLOWANCE
        allowance /= rtol
        np.maximum(denominator, allowance, out=denominator)
    np.maximum(denominator, ATOL_FRACTION, out=denominator)
    errors = np.empty(np.broadcast(got, expected).shape)
    with np.errstate(invalid="ignore", over="ignore", divide="ignore"):
        np.subtract(got, expected, out=errors)
        np.abs(errors, out=errors)
        np.divide(errors, denominator, out=errors, where=errors != 0)   # exactly equal: 0, even against 0
    errors[np.isnan(errors)] = np.inf
    return errors
