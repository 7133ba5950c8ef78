"""One evaluation of a case: the implementation called once, the reference once, and what rounding allows."""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import numpy as np

from ..cases import Case
from ..plugin import Implementation, StructureError, describe_value
from ..reference import reference_and_nudged
from ..result import Finding
from ..rounding import rounding_spread
from ..streams import generator
from ..tolerances import INCONCLUSIVE_SHARE, ROUNDING_ALLOWANCE, eps as rounding_unit, rms, threshold
from .calling import CASE_TIMEOUT, ImplementationError, call


# --------------------------------------------------------------------------- evaluation

@dataclass
class Evaluation:
    """What one call of the implementation and of the reference gave on one case."""

    impl: Implementation
    case: Case
    args: tuple                       # the arguments the implementation was given (to detect mutation)
    output: tuple[np.ndarray, ...]
    pullback: Callable
    cotangent: tuple[np.ndarray, ...]
    cotangent_given: tuple            # the copy handed to the pullback (to detect mutation)
    grads: tuple[np.ndarray, ...]
    reference_output: tuple[np.ndarray, ...] | None
    reference_grads: tuple[np.ndarray, ...] | None
    rounding_output: tuple[np.ndarray, ...] | None = None   # see nudging() and moved_by()
    rounding_grads: tuple[np.ndarray, ...] | None = None
    timeout: float = CASE_TIMEOUT
    _widened: bool = False
    inconclusive: bool = False        # a check passed only because rounding here is as large as the gradient
    warnings: list[str] = field(default_factory=list)   # reported, but not findings (float64_grads = "warn")

    @property
    def spec(self):
        return self.case.spec

    @property
    def dtype(self) -> str:
        return self.case.dtype

    def rtol(self, check: str) -> float:
        return threshold(check, self.dtype, self.spec.tolerance)

    def widen_for_rounding(self) -> bool:
        """Add to the rounding estimate what rounding in the case's dtype can do inside a sound algorithm
        for this op here: the spread of the reference's VJP evaluated under disturbed rounding
        (oracle.rounding), which follows the magnitudes of the terms that cancel. Done only when a
        check would fail (a traced program per shape). True if widened."""
        if self.reference_grads is None or self._widened:
            return False
        self._widened = True
        spread = rounding_spread(self.case, self.cotangent, self.reference_output, self.reference_grads)
        if spread is None:
            return False
        self.rounding_output = tuple(np.fmax(r, s) for r, s in zip(self.rounding_output, spread[0]))
        self.rounding_grads = tuple(np.fmax(r, s) for r, s in zip(self.rounding_grads, spread[1]))
        return True

    widen_for_float32_rounding = widen_for_rounding   # the name other checks knew it by

    def rounding_dominates(self) -> bool:
        """Can rounding alone move some gradient by a good share of its own size here?
        Then this dtype cannot tell a right answer from a wrong one in this case: it is inconclusive."""
        for spread, exact in zip(self.rounding_grads or (), self.reference_grads or ()):
            spread, exact = np.asarray(spread, dtype=np.float64), np.asarray(exact, dtype=np.float64)
            if spread.size and ROUNDING_ALLOWANCE * rms(spread) >= INCONCLUSIVE_SHARE * rms(exact) and np.any(spread > 0):
                return True
        return False

    def rounding(self, i: int, scale: float = 1.0) -> np.ndarray | None:
        """The rounding movement of gradient i (None without a reference)."""
        return None if self.rounding_grads is None else scale * self.rounding_grads[i]

    def pull(self, cotangent: Sequence[np.ndarray], pullback: Callable | None = None) -> tuple[np.ndarray, ...]:
        """Call a pullback with a cotangent (one array, or a tuple for several outputs)."""
        given = tuple(c.copy() for c in cotangent)
        raw = call(pullback or self.pullback, given if len(given) > 1 else given[0], timeout=self.timeout)
        return _as_arrays(raw, self.spec.differentiable, "gradient for")

    def forward64(self, primals: Sequence[np.ndarray]) -> tuple[np.ndarray, ...]:
        """The implementation's forward at float64 inputs with the differentiable ones replaced by `primals`,
        which are handed to it as they are (the callers' fresh arrays)."""
        # The primals are the caller's fresh arrays: only the other inputs are copied (cast to float64).
        given = dict(zip(self.spec.differentiable, primals))
        args = [given[name] if name in given else (a.astype(np.float64) if a.dtype.kind in "fV" else a.copy())
                for name, a in self.case.inputs.items()]
        out, _ = call(self.impl.vjp, *args, *copy.deepcopy(list(self.case.hyper.values())), timeout=self.timeout)
        return tuple(np.asarray(o, dtype=np.float64) for o in _as_outputs(out, self.spec.outputs))


def _as_outputs(out: Any, expected: int) -> tuple[np.ndarray, ...]:
    if expected == 1:
        if isinstance(out, (tuple, list)):
            raise StructureError(f"the forward returned a {type(out).__name__} of {len(out)}; one output array was expected")
        outputs = (out,)
    else:
        if not isinstance(out, (tuple, list)) or len(out) != expected:
            raise StructureError(f"the forward returned {describe_value(out)}; a tuple of {expected} outputs was expected")
        outputs = tuple(out)
    return _as_arrays(outputs, _OUTPUT_NAMES[:len(outputs)] if len(outputs) <= len(_OUTPUT_NAMES) else
                      [str(i) for i in range(len(outputs))], "output")


_OUTPUT_NAMES = [str(i) for i in range(8)]


def _as_arrays(values: Sequence[Any], names: Sequence[str], what: str) -> tuple[np.ndarray, ...]:
    arrays = []
    for name, value in zip(names, values):
        def label() -> str:   # only for the error: a few microseconds on every call otherwise
            return f"{what} {name!r}" if what != "output" else ("the output" if len(names) == 1 else f"output {name}")
        if value is None:
            raise StructureError(f"{label()} is None")
        try:
            array = np.asarray(value)
        except Exception:
            raise StructureError(f"{label()} is a {type(value).__name__}, not an array") from None
        if array.dtype.kind not in "fiub" and array.dtype.name not in HALF_TYPES:
            raise StructureError(f"{label()} is {describe_value(value)}, not a numeric array")
        arrays.append(array)
    return tuple(arrays)


def evaluate(impl: Implementation, case: Case, timeout: float = CASE_TIMEOUT) -> Evaluation | Finding:
    """Run the implementation and the reference on one case; a Finding if the implementation cannot even be called."""
    spec = case.spec
    args = case.args()
    try:
        out, pullback = call(impl.vjp, *args, timeout=timeout)
        output = _as_outputs(out, spec.outputs)
        rounding_output = rounding_grads = None
        if spec.reference is not None:
            reference_output, cotangent, reference_grads, nudged = reference_and_nudged(case, case.cotangent, nudging(case))
            rounding_output, rounding_grads = moved_by(nudged, reference_output, reference_grads)
        else:
            reference_output, cotangent, reference_grads = None, case.cotangent([o.shape for o in output]), None
        given = tuple(c.copy() for c in cotangent)
        raw = call(pullback, given if len(given) > 1 else given[0], timeout=timeout)
        grads = _as_arrays(raw, spec.differentiable, "gradient for")
    except ImplementationError as error:
        return Finding("call", f"the implementation {error.summary}", status="errored", facts={"hung": error.hung})
    except StructureError as error:
        return Finding(getattr(error, "check", "structure"), str(error), facts=getattr(error, "facts", {}))
    return Evaluation(impl, case, args, output, pullback, cotangent, given, grads, reference_output, reference_grads,
                      rounding_output, rounding_grads, timeout)


HALF_TYPES = ("bfloat16",)   # float types NumPy holds through ml_dtypes (kind "V")


_PACKED_SIGNS_FROM = 4096   # elements; below it the packing's few extra calls cost more than they save


def nudging(case: Case, stream: int = 11) -> Callable[[np.ndarray], np.ndarray]:
    """Moves every element of an array up or down by one rounding unit of the case's dtype, at random
    (reproducibly from the case's seed and the stream): what rounding alone may do to each input and
    upstream value."""
    eps = rounding_unit(case.dtype)
    rng = generator(case.seed, stream)
    factors = np.array([1 - eps, 1 + eps])

    def nudge(a: np.ndarray) -> np.ndarray:
        a = np.asarray(a, dtype=np.float64)
        if a.size < _PACKED_SIGNS_FROM:
            # The signs rng.choice([-1, 1]) would draw (it draws these indices), at half its cost.
            return a * factors[rng.integers(0, 2, size=a.shape)]
        # A large array's signs are the bits of random bytes: a quarter of the cost of drawing indices.
        bits = np.unpackbits(np.frombuffer(rng.bytes((a.size + 7) // 8), dtype=np.uint8), count=a.size)
        nudged = bits.reshape(a.shape).astype(np.float64)
        nudged *= 2 * eps
        nudged += 1 - eps
        nudged *= a
        return nudged

    return nudge


def moved_by(nudged: tuple, outputs: tuple[np.ndarray, ...], grads: tuple[np.ndarray, ...]):
    """How far the nudged evaluation's outputs and gradients are from the exact ones."""
    def apart(a: np.ndarray, b: np.ndarray) -> np.ndarray:
        difference = np.subtract(a, b, out=np.empty(np.shape(b)))    # out=: a 0-d result stays an array
        return np.abs(difference, out=difference)

    return tuple(apart(a, b) for a, b in zip(nudged[0], outputs)), tuple(apart(a, b) for a, b in zip(nudged[1], grads))
