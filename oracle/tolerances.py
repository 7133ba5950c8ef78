"""Every threshold the oracle judges by, in one table keyed by dtype.

An element of a gradient is wrong when

    |got - expected| > rtol * max(|expected|, rms(expected), ATOL_FRACTION)

and its relative error is |got - expected| / max(|expected|, rms(expected), ATOL_FRACTION):
the plain relative error wherever an element is at least as large as the gradient's rms. The
rms term keeps elements that cancel to nearly zero from amplifying harmless rounding; the
last term makes a gradient that should be all zeros compare absolutely. A spec may widen a
dtype's thresholds by a factor (Spec.tolerance) where its rounding is known to be worse.
"""

from __future__ import annotations

from typing import Mapping

import numpy as np

__all__ = ["THRESHOLDS", "threshold", "relative_errors", "ROUNDING_ALLOWANCE", "ATOL_FRACTION", "FD_STEP", "COARSE_FD_STEPS", "COARSE_FD_RTOL",
           "EPS", "eps"]

# check -> dtype -> rtol. float64 cases are computed in float64 end to end, so differences from
# the reference are a few ulps times the op's conditioning; float32 ones carry float32 rounding.
THRESHOLDS: dict[str, dict[str, float]] = {
    # float16 and bfloat16 (torch and jax conventions only): a few units of their eps (2⁻¹⁰, 2⁻⁷),
    # the rounding of the result and of a few steps before it; the conditioning allowance below
    # covers what cancellation adds in each case.
    "forward": {"float64": 1e-9, "float32": 1e-4, "float16": 4e-3, "bfloat16": 3e-2},
    "reference": {"float64": 1e-9, "float32": 1e-4, "float16": 4e-3, "bfloat16": 3e-2},
    "property": {"float64": 1e-9, "float32": 1e-4, "float16": 4e-3, "bfloat16": 3e-2},
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

# How many times the exact result's own movement under a one-ulp change of the inputs a correct
# implementation may be off by: rounding inside an algorithm compounds over its steps.
ROUNDING_ALLOWANCE = 20.0

ATOL_FRACTION = 1e-3   # the floor under which errors are compared absolutely: rtol * 1e-3
FD_STEP = 1e-6         # central-difference step, on float64 inputs of order 1
# For a forward that computes in float32 even when given float64: rounding ~1e-7/h needs a
# longer step, truncation ~h² a short one; these steps keep both near 1e-4 of the result.
COARSE_FD_STEPS = (1e-3, 3e-4)
COARSE_FD_RTOL = 1e-3


def threshold(check: str, dtype: str, spec_tolerance: Mapping[str, float] | None = None) -> float:
    """The rtol for `check` in `dtype`, widened by the spec's factor for that dtype if it has one."""
    base = THRESHOLDS[check][dtype]
    return base * float((spec_tolerance or {}).get(dtype, 1.0))


def relative_errors(got: np.ndarray, expected: np.ndarray, rtol: float, rounding: np.ndarray | None = None) -> np.ndarray:
    """Elementwise relative error as defined above (float64).

    rounding, when known, is how far the exact result moves when the inputs move by one
    rounding unit of the case's dtype (see conditioning()). ROUNDING_ALLOWANCE times it is
    an error any correct implementation may make, so it raises the denominator: in an
    ill-conditioned case (large terms cancelling to a small gradient) the relative error
    is measured against what rounding alone can do there.
    """
    got = np.asarray(got, dtype=np.float64)
    expected = np.asarray(expected, dtype=np.float64)
    rms = float(np.sqrt(np.mean(expected**2))) if expected.size else 0.0
    denominator = np.maximum(np.maximum(np.abs(expected), rms), ATOL_FRACTION)
    if rounding is not None and np.shape(rounding) == expected.shape:
        rounding = np.asarray(rounding, dtype=np.float64)
        spread = float(np.sqrt(np.mean(rounding**2))) if rounding.size else 0.0
        denominator = np.maximum(denominator, ROUNDING_ALLOWANCE * np.maximum(rounding, spread) / rtol)
    with np.errstate(invalid="ignore"):
        errors = np.abs(got - expected) / denominator
    return np.where(np.isnan(errors), np.inf, errors)
