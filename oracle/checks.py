"""The checks: small functions of an Evaluation that return a Finding, or None when all is well.

`evaluate` calls the implementation once (forward, then pullback with a random upstream
gradient) and the JAX reference once; each check then judges one aspect, in the order a
reader would ask: does it run, is the forward right, are the gradients shaped right, are
they right (specific properties first, then the reference, then finite differences), and
does the code behave (linear in the upstream, leaves its inputs alone, gives the same
answer twice). The first finding ends the case.
"""

from __future__ import annotations

import signal
import threading
import traceback
from contextlib import contextmanager
from dataclasses import dataclass, replace
from typing import Any, Callable, Sequence

import numpy as np

from .cases import Case, kink_distance
from .numeric import directional_derivative, directions
from .plugin import Implementation, StructureError, describe_value
from .reference import reference
from .result import Element, Finding
from .tolerances import COARSE_FD_RTOL, COARSE_FD_STEPS, FD_STEP, ROUNDING_ALLOWANCE, relative_errors, threshold

__all__ = ["Evaluation", "evaluate", "run_checks", "CHECKS", "ImplementationError", "worst_elements", "CASE_TIMEOUT"]

CASE_TIMEOUT = 10.0      # seconds an implementation may take for one call before it counts as hung
SHOWN_ELEMENTS = 4096    # arrays up to this size travel with a finding, for reports and diagnosis
WORST_SHOWN = 5


# --------------------------------------------------------------------------- calling user code

class CaseTimeout(BaseException):
    """Raised inside a hung implementation; a BaseException so `except Exception` in user code cannot swallow it."""


class ImplementationError(Exception):
    """The implementation raised (or hung); carries a short account of where."""

    def __init__(self, summary: str, hung: bool = False) -> None:
        super().__init__(summary)
        self.summary, self.hung = summary, hung


@contextmanager
def _time_limit(seconds: float):
    if seconds <= 0 or threading.current_thread() is not threading.main_thread() or not hasattr(signal, "setitimer"):
        yield
        return

    def on_alarm(signum, frame):
        raise CaseTimeout()

    previous = signal.signal(signal.SIGALRM, on_alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def _user_frame(error: BaseException) -> str:
    """'file.py:12 in backward' for the innermost frame outside the oracle, where the error arose."""
    frames = [f for f in traceback.extract_tb(error.__traceback__) if "/oracle/" not in f.filename.replace("\\", "/")
              or "/plugins/" in f.filename.replace("\\", "/")]
    if not frames:
        return ""
    f = frames[-1]
    return f" at {f.filename.rsplit('/', 1)[-1]}:{f.lineno} in {f.name}"


def call(fn: Callable, *args: Any, timeout: float = CASE_TIMEOUT) -> Any:
    """Call user code under the time limit; its exceptions become ImplementationError."""
    try:
        with _time_limit(timeout):
            return fn(*args)
    except CaseTimeout:
        raise ImplementationError(f"did not return within {timeout:g} s (hung?)", hung=True) from None
    except StructureError:
        raise
    except Exception as error:
        raise ImplementationError(f"raised {type(error).__name__}: {error}{_user_frame(error)}") from error


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
    rounding_output: tuple[np.ndarray, ...] | None = None   # see conditioning()
    rounding_grads: tuple[np.ndarray, ...] | None = None
    timeout: float = CASE_TIMEOUT
    _widened: bool = False

    @property
    def spec(self):
        return self.case.spec

    @property
    def dtype(self) -> str:
        return self.case.dtype

    def rtol(self, check: str) -> float:
        return threshold(check, self.dtype, self.spec.tolerance)

    def widen_for_float32_rounding(self) -> bool:
        """Add to the rounding estimate how far JAX's own float32 evaluation of the reference lands
        from float64 in this case: the cancellation a sound float32 algorithm suffers here. Costly
        (a float32 compile per shape), so done only when a float32 check would fail. True if widened."""
        if self.dtype == "float64" or self.reference_grads is None or self._widened:
            return False
        self._widened = True
        # One float32 evaluation can round luckily; the worst of a few, at inputs one ulp
        # apart, shows what rounding does here.
        rng = np.random.default_rng([self.case.seed, 13])
        for sample in range(FLOAT32_SAMPLES):
            moved = self.case if sample == 0 else replace(self.case, inputs={
                n: _one_ulp(a, rng) if a.dtype.kind == "f" else a for n, a in self.case.inputs.items()})
            cotangent = self.cotangent if sample == 0 else tuple(_one_ulp(c, rng) for c in self.cotangent)
            out32, _, grads32 = reference(moved, lambda shapes: cotangent, precision=self.dtype)
            self.rounding_output = tuple(np.maximum(r, np.abs(a - b)) for r, a, b in
                                         zip(self.rounding_output, out32, self.reference_output))
            self.rounding_grads = tuple(np.maximum(r, np.abs(a - b)) for r, a, b in
                                        zip(self.rounding_grads, grads32, self.reference_grads))
        return True

    def rounding(self, i: int, scale: float = 1.0) -> np.ndarray | None:
        """The rounding movement of gradient i (None without a reference)."""
        return None if self.rounding_grads is None else scale * self.rounding_grads[i]

    def pull(self, cotangent: Sequence[np.ndarray], pullback: Callable | None = None) -> tuple[np.ndarray, ...]:
        """Call a pullback with a cotangent (one array, or a tuple for several outputs)."""
        given = tuple(c.copy() for c in cotangent)
        raw = call(pullback or self.pullback, given if len(given) > 1 else given[0], timeout=self.timeout)
        return _as_arrays(raw, self.spec.differentiable, "gradient for")

    def forward64(self, primals: Sequence[np.ndarray]) -> tuple[np.ndarray, ...]:
        """The implementation's forward at float64 inputs with the differentiable ones replaced."""
        args = list(self.case.args_as("float64"))
        names = self.spec.input_names
        for name, value in zip(self.spec.differentiable, primals):
            args[names.index(name)] = value
        out, _ = call(self.impl.vjp, *args, timeout=self.timeout)
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
    return _as_arrays(outputs, [f"{i}" for i in range(len(outputs))], "output")


def _as_arrays(values: Sequence[Any], names: Sequence[str], what: str) -> tuple[np.ndarray, ...]:
    arrays = []
    for name, value in zip(names, values):
        label = f"{what} {name!r}" if what != "output" else ("the output" if len(names) == 1 else f"output {name}")
        if value is None:
            raise StructureError(f"{label} is None")
        try:
            array = np.asarray(value)
        except Exception:
            raise StructureError(f"{label} is a {type(value).__name__}, not an array") from None
        if array.dtype.kind not in "fiub":
            raise StructureError(f"{label} is {describe_value(value)}, not a numeric array")
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
            reference_output, cotangent, reference_grads = reference(case, case.cotangent)
            rounding_output, rounding_grads = conditioning(case, cotangent, reference_output, reference_grads)
        else:
            reference_output, cotangent, reference_grads = None, case.cotangent([o.shape for o in output]), None
        given = tuple(c.copy() for c in cotangent)
        raw = call(pullback, given if len(given) > 1 else given[0], timeout=timeout)
        grads = _as_arrays(raw, spec.differentiable, "gradient for")
    except ImplementationError as error:
        return Finding("call", f"the implementation {error.summary}", status="errored", facts={"hung": error.hung})
    except StructureError as error:
        return Finding("structure", str(error))
    return Evaluation(impl, case, args, output, pullback, cotangent, given, grads, reference_output, reference_grads,
                      rounding_output, rounding_grads, timeout)


FLOAT32_SAMPLES = 4


def _one_ulp(a: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Every element moved one unit in the last place of its own dtype, up or down at random."""
    up = rng.random(a.shape) < 0.5
    return np.where(up, np.nextafter(a, np.inf), np.nextafter(a, -np.inf)).astype(a.dtype)


def conditioning(case: Case, cotangent: tuple[np.ndarray, ...], outputs: tuple[np.ndarray, ...],
                 grads: tuple[np.ndarray, ...]) -> tuple[tuple[np.ndarray, ...], tuple[np.ndarray, ...]]:
    """How far the exact outputs and gradients move when every input and upstream value moves by one
    rounding unit of the case's dtype: the error that rounding alone causes in this case."""
    eps = float(np.finfo(case.dtype).eps)
    rng = np.random.default_rng([case.seed, 11])

    def nudge(a: np.ndarray) -> np.ndarray:
        a = np.asarray(a, dtype=np.float64)
        return a * (1 + eps * rng.choice([-1.0, 1.0], size=a.shape))

    nudged = {n: nudge(a) if a.dtype.kind == "f" else a for n, a in case.inputs.items()}
    moved = replace(case, inputs=nudged)
    out2, _, grads2 = reference(moved, lambda shapes: tuple(nudge(c) for c in cotangent))
    return (tuple(np.abs(a - b) for a, b in zip(out2, outputs)), tuple(np.abs(a - b) for a, b in zip(grads2, grads)))


# --------------------------------------------------------------------------- evidence

def worst_elements(got: np.ndarray, expected: np.ndarray, errors: np.ndarray,
                   fd: np.ndarray | None = None, k: int = WORST_SHOWN) -> list[Element]:
    flat = np.argsort(-errors, axis=None, kind="stable")[:k]
    elements = []
    for position in flat:
        index = np.unravel_index(position, errors.shape) if errors.ndim else ()
        elements.append(Element(
            index=[int(i) for i in index], got=float(np.asarray(got)[index]), expected=float(np.asarray(expected)[index]),
            error=float(errors[index]), finite_difference=None if fd is None else float(fd[index]),
        ))
    return elements


def _small(array: np.ndarray) -> np.ndarray | None:
    return array if np.size(array) <= SHOWN_ELEMENTS else None


def compare(check: str, argument: str | None, got: np.ndarray, expected: np.ndarray, rtol: float,
            what: str, facts: dict | None = None, rounding: np.ndarray | None = None) -> Finding | None:
    """Elementwise comparison; a Finding naming how many and which elements are off."""
    got = np.asarray(got, dtype=np.float64)
    expected = np.asarray(expected, dtype=np.float64)
    errors = relative_errors(got, expected, rtol, rounding)
    bad = errors > rtol
    if not bad.any():
        return None
    worst = worst_elements(got, expected, errors)
    return Finding(
        check, f"{what}: {int(bad.sum())} of {bad.size} elements exceed the tolerance "
               f"(worst relative error {worst[0].error:.2g} > threshold {rtol:.0e})",
        argument=argument, error=float(errors.max()), threshold=rtol, worst=worst, bad=int(bad.sum()),
        total=int(bad.size), got=_small(got), expected=_small(expected), facts=facts or {},
    )


def _grad_label(name: str) -> str:
    return f"gradient for {name!r}"


# --------------------------------------------------------------------------- the checks

def check_finite(ev: Evaluation) -> Finding | None:
    named = [("output", o) for o in ev.output] + list(zip(ev.spec.differentiable, ev.grads))
    for name, array in named:
        if array.dtype.kind == "f" and not np.isfinite(array).all():
            bad = ~np.isfinite(array)
            first = [int(i) for i in np.argwhere(bad)[0]] if array.ndim else []
            what = "the output" if name == "output" else _grad_label(name)
            return Finding("finite", f"{what} has {int(bad.sum())} NaN or Inf of {array.size} elements (first at index {tuple(first)})",
                           argument=None if name == "output" else name, bad=int(bad.sum()), total=int(array.size),
                           got=_small(array))
    return None


def check_forward(ev: Evaluation) -> Finding | None:
    if ev.reference_output is None:
        return None
    for i, (got, expected) in enumerate(zip(ev.output, ev.reference_output)):
        what = "the output" if len(ev.output) == 1 else f"output {i}"
        if got.shape != expected.shape:
            return Finding("forward", f"{what} has shape {got.shape}; the reference's has shape {expected.shape}",
                           facts={"got_shape": list(got.shape), "expected_shape": list(expected.shape)},
                           got=_small(got), expected=_small(expected))
        finding = compare("forward", None, got, expected, ev.rtol("forward"), f"{what} differs from the reference",
                          rounding=ev.rounding_output[i] if ev.rounding_output else None)
        if finding:
            return finding
    return None


def check_shape(ev: Evaluation) -> Finding | None:
    for name, grad in zip(ev.spec.differentiable, ev.grads):
        wanted = ev.case.inputs[name].shape
        if grad.shape != wanted:
            expected = ev.reference_grads[ev.spec.differentiable.index(name)] if ev.reference_grads else None
            return Finding("shape", f"{_grad_label(name)} has shape {grad.shape}; {name!r} has shape {wanted}",
                           argument=name, got=_small(grad), expected=None if expected is None else _small(expected),
                           facts={"got_shape": list(grad.shape), "expected_shape": list(wanted)})
    return None


def check_dtype(ev: Evaluation) -> Finding | None:
    for name, grad in zip(ev.spec.differentiable, ev.grads):
        if grad.dtype != np.dtype(ev.dtype):
            return Finding("dtype", f"{_grad_label(name)} has dtype {grad.dtype}; {name!r} is {ev.dtype}",
                           argument=name, facts={"got_dtype": str(grad.dtype), "expected_dtype": ev.dtype})
    return None


def check_reference(ev: Evaluation) -> Finding | None:
    if ev.reference_grads is None:
        return None
    for i, (name, got, expected) in enumerate(zip(ev.spec.differentiable, ev.grads, ev.reference_grads)):
        finding = compare("reference", name, got, expected, ev.rtol("reference"),
                          f"{_grad_label(name)} differs from jax.vjp of the reference", rounding=ev.rounding(i))
        if finding:
            return finding
    return None


def _directional_error(ev: Evaluation, primals, direction, cotangent, grads, step: float) -> tuple[float, float, float]:
    """(relative error, vᵀJu from the pullback, vᵀJu from finite differences) along one direction."""
    from_pullback = float(sum(np.sum(g * u) for g, u in zip(grads, direction)))
    from_forward = directional_derivative(ev.forward64, primals, direction, cotangent, h=step)
    scale = float(sum(np.sum(np.abs(g * u)) for g, u in zip(grads, direction))) + abs(from_forward)
    if ev.rounding_grads is not None:  # what rounding alone moves vᵀJu by, in this case
        moved = float(sum(np.sum(np.abs(r * u)) for r, u in zip(ev.rounding_grads, direction)))
        scale = max(scale, ROUNDING_ALLOWANCE * moved / ev.rtol("finite_differences"))
    return abs(from_pullback - from_forward) / max(scale, 1e-3), from_pullback, from_forward


def _agrees_at_a_coarser_step(ev: Evaluation, primals, direction, cotangent, grads, rtol: float) -> bool:
    """For a forward that rounds to float32 inside, a 1e-6 step measures rounding, not slope.

    Such a forward shows itself: changing the step changes the estimate by far more than
    truncation could. Only then are longer steps tried, each only where it cannot cross a kink.
    """
    # Steps in ratios that are not simple fractions, so float32 rounding cannot repeat itself exactly.
    estimates = [directional_derivative(ev.forward64, primals, direction, cotangent, h=k * FD_STEP) for k in (1, 1.7, 2.9)]
    scale = float(sum(np.sum(np.abs(g * u)) for g, u in zip(grads, direction))) + abs(estimates[0])
    if (max(estimates) - min(estimates)) / max(scale, 1e-3) <= rtol / 10:
        return False  # the forward is smooth at this step: the mismatch is real
    distance = kink_distance(ev.spec, ev.case.inputs, ev.case.hyper)
    for step in COARSE_FD_STEPS:
        if 2 * step < distance:
            error, _, _ = _directional_error(ev, primals, direction, cotangent, grads, step)
            if error <= max(rtol, COARSE_FD_RTOL):
                return True
    return False


def check_finite_differences(ev: Evaluation) -> Finding | None:
    if ev.impl.dtypes is not None and "float64" not in ev.impl.dtypes:
        return None  # finite differences need the forward in float64
    spec = ev.spec
    primals = [ev.case.inputs[n].astype(np.float64) for n in spec.differentiable]
    cotangent = [c.astype(np.float64) for c in ev.cotangent]
    grads = [g.astype(np.float64) for g in ev.grads]
    rng = np.random.default_rng([ev.case.seed, 7])
    rtol = ev.rtol("finite_differences")
    for attempt in range(2):
        direction = directions(rng, primals)
        error, from_pullback, from_forward = _directional_error(ev, primals, direction, cotangent, grads, FD_STEP)
        if error > rtol and not _agrees_at_a_coarser_step(ev, primals, direction, cotangent, grads, rtol):
            return Finding(
                "finite_differences",
                f"vᵀ·J·u from the pullback is {from_pullback:.6g}; finite differences of the implementation's "
                f"own forward give {from_forward:.6g} (relative error {error:.2g} > threshold {rtol:.0e})",
                error=error, threshold=rtol,
                facts={"from_pullback": from_pullback, "from_forward": from_forward, "direction": attempt},
            )
    return None


def check_linearity(ev: Evaluation) -> Finding | None:
    # a + b != 1, so a pullback that ignores its upstream gradient cannot pass by accident.
    a, b = 2.0, -0.5
    shapes = [c.shape for c in ev.cotangent]
    other = ev.case.cotangent(shapes, stream=2)
    combined = tuple((a * c1 + b * c2).astype(ev.dtype) for c1, c2 in zip(ev.cotangent, other))
    pulled_other = ev.pull(other)
    pulled_combined = ev.pull(combined)
    for i, (name, g1, g2, gc) in enumerate(zip(ev.spec.differentiable, ev.grads, pulled_other, pulled_combined)):
        expected = a * np.asarray(g1, dtype=np.float64) + b * np.asarray(g2, dtype=np.float64)
        if gc.shape != expected.shape:
            continue  # shape problems are reported by the shape check
        finding = compare("linearity", name, gc, expected, ev.rtol("linearity"),
                          f"{_grad_label(name)} is not linear in the upstream gradient: pullback({a:g}·g₁ {b:+g}·g₂) "
                          f"≠ {a:g}·pullback(g₁) {b:+g}·pullback(g₂)",
                          rounding=ev.rounding(i, scale=abs(a) + abs(b)))
        if finding:
            return finding
    return None


def _same(a: Any, b: Any) -> bool:
    a, b = np.asarray(a), np.asarray(b)
    return a.shape == b.shape and np.array_equal(a, b, equal_nan=a.dtype.kind == "f")


def check_mutation(ev: Evaluation) -> Finding | None:
    names = ev.spec.input_names
    for name, original, given in zip(names, ev.case.inputs.values(), ev.args):
        if not _same(original, given):
            changed = int(np.sum(np.asarray(original) != np.asarray(given))) if np.shape(original) == np.shape(given) else None
            return Finding("mutation", f"input {name!r} was changed in place by the implementation"
                           + (f" ({changed} of {np.size(original)} elements)" if changed is not None else ""),
                           argument=name, got=_small(np.asarray(given)), expected=_small(original),
                           facts={"mutated": name})
    for i, (original, given) in enumerate(zip(ev.cotangent, ev.cotangent_given)):
        if not _same(original, given):
            return Finding("mutation", "the upstream gradient was changed in place by the pullback",
                           got=_small(np.asarray(given)), expected=_small(original), facts={"mutated": "upstream"})
    return None


def check_determinism(ev: Evaluation) -> Finding | None:
    rtol = ev.rtol("determinism")

    def differs(second_grads: tuple, what: str) -> Finding | None:
        for name, first, second in zip(ev.spec.differentiable, ev.grads, second_grads):
            if first.shape == second.shape:
                finding = compare("determinism", name, second, first, rtol, what.format(_grad_label(name)))
                if finding:
                    return finding
        return None

    same_pullback = differs(ev.pull(ev.cotangent), "calling the pullback a second time changed the {} "
                                                   "(state used up or changed by the first backward?)")
    if same_pullback:
        return same_pullback
    _, pullback = call(ev.impl.vjp, *ev.case.args(), timeout=ev.timeout)
    return differs(ev.pull(ev.cotangent, pullback), "two calls on the same inputs gave different values for the {}")


# -- properties named by specs: the lecture's gate patterns, checked exactly where exactness is the rule

def _exact(check: str, name: str, got: np.ndarray, expected: np.ndarray, what: str, mask: np.ndarray | None = None) -> Finding | None:
    got = np.asarray(got, dtype=np.float64)
    expected = np.asarray(expected, dtype=np.float64)
    wrong = got != expected
    if mask is not None:
        wrong &= mask
    if not wrong.any():
        return None
    errors = np.where(wrong, np.abs(got - expected), 0.0)
    worst = worst_elements(got, expected, errors)
    return Finding(check, f"{what}: {int(wrong.sum())} of {wrong.size} elements differ", argument=name,
                   worst=worst, bad=int(wrong.sum()), total=int(wrong.size), error=float(errors.max()), threshold=0.0,
                   got=_small(got), expected=_small(expected))


def _values(ev: Evaluation) -> dict[str, np.ndarray]:
    return {n: a.astype(np.float64) for n, a in ev.case.inputs.items()}


def relu_sparse(ev: Evaluation) -> Finding | None:
    x, g = _values(ev)["x"], ev.cotangent[0].astype(np.float64)
    (dx,) = ev.grads
    expected = np.where(x > 0, g, 0.0)
    return _exact("relu_sparse", "x", dx, expected, "the ReLU gradient must be exactly 0 where x < 0 and exactly the upstream where x > 0")


def max_routes(ev: Evaluation) -> Finding | None:
    v, g = _values(ev), ev.cotangent[0].astype(np.float64)
    x, y = v["x"], v["y"]
    for name, grad, expected in (("x", ev.grads[0], np.where(x > y, g, 0.0)), ("y", ev.grads[1], np.where(y > x, g, 0.0))):
        finding = _exact("max_routes", name, grad, expected,
                         f"the max gate routes the upstream gradient to the larger input only; {_grad_label(name)} does not")
        if finding:
            return finding
    return None


def add_distributes(ev: Evaluation) -> Finding | None:
    g = ev.cotangent[0].astype(np.float64)
    for name, grad in zip(ev.spec.differentiable, ev.grads):
        finding = _exact("add_distributes", name, grad, g,
                         f"the add gate passes the upstream gradient unchanged to every input; {_grad_label(name)} differs")
        if finding:
            return finding
    return None


def mul_swaps(ev: Evaluation) -> Finding | None:
    v, g = _values(ev), ev.cotangent[0].astype(np.float64)
    rtol = ev.rtol("property")
    for name, grad, other in (("x", ev.grads[0], "y"), ("y", ev.grads[1], "x")):
        finding = compare("mul_swaps", name, grad, g * v[other], rtol,
                          f"the mul gate's {_grad_label(name)} must be the upstream times the other input {other!r}",
                          rounding=ev.rounding(0 if name == "x" else 1))
        if finding:
            return finding
    return None


def copy_adds(ev: Evaluation) -> Finding | None:
    g1, g2 = (c.astype(np.float64) for c in ev.cotangent)
    return compare("copy_adds", "x", ev.grads[0], g1 + g2, ev.rtol("property"),
                   "a value used twice gets the sum of both upstream gradients; the gradient for 'x' does not",
                   rounding=ev.rounding(0))


def matmul_transpose(ev: Evaluation) -> Finding | None:
    v, dc = _values(ev), ev.cotangent[0].astype(np.float64)
    a, b = v["a"], v["b"]
    rtol = ev.rtol("property")
    return (compare("matmul_transpose", "a", ev.grads[0], dc @ b.T, rtol, "matmul needs dA = dC·Bᵀ; the gradient for 'a' differs",
                    rounding=ev.rounding(0))
            or compare("matmul_transpose", "b", ev.grads[1], a.T @ dc, rtol, "matmul needs dB = Aᵀ·dC; the gradient for 'b' differs",
                       rounding=ev.rounding(1)))


PROPERTIES: dict[str, Callable[[Evaluation], Finding | None]] = {
    "relu_sparse": relu_sparse, "max_routes": max_routes, "add_distributes": add_distributes,
    "mul_swaps": mul_swaps, "copy_adds": copy_adds, "matmul_transpose": matmul_transpose,
}


def check_properties(ev: Evaluation) -> Finding | None:
    for name in ev.spec.properties:
        finding = PROPERTIES[name](ev)
        if finding:
            return finding
    return None


# Checks judged against tolerances, which a float32 rounding estimate may widen.
ROUNDING_SENSITIVE = {"forward", "properties", "reference", "finite_differences", "linearity"}

# Order matters: each check may assume the ones before it passed.
CHECKS: list[tuple[str, Callable[[Evaluation], Finding | None]]] = [
    ("finite", check_finite),
    ("forward", check_forward),
    ("shape", check_shape),
    ("dtype", check_dtype),
    ("properties", check_properties),
    ("reference", check_reference),
    ("finite_differences", check_finite_differences),
    ("linearity", check_linearity),
    ("mutation", check_mutation),
    ("determinism", check_determinism),
]


def checks_for(impl: Implementation) -> list[str]:
    """The names of the checks every case of this implementation gets, for reports."""
    names = ["call", "structure", "finite"]
    spec = impl.spec
    if spec.reference is not None:
        names.append("forward")
    names += ["shape", "dtype", *spec.properties]
    if spec.reference is not None:
        names.append("reference")
    if impl.dtypes is None or "float64" in impl.dtypes:
        names.append("finite_differences")
    return names + ["linearity", "mutation", "determinism"]


def run_checks(impl: Implementation, case: Case, timeout: float = CASE_TIMEOUT) -> tuple[Finding | None, Evaluation | None]:
    """Evaluate one case and apply every check in order; the first finding, with the evaluation behind it."""
    ev = evaluate(impl, case, timeout)
    if isinstance(ev, Finding):
        return ev, None
    for name, check in CHECKS:
        try:
            finding = check(ev)
            if finding is not None and name in ROUNDING_SENSITIVE and ev.widen_for_float32_rounding():
                finding = check(ev)
        except ImplementationError as error:
            finding = Finding(name, f"the implementation {error.summary} (during the {name} check)",
                              status="errored", facts={"hung": error.hung})
        except StructureError as error:
            finding = Finding("structure", f"{error} (during the {name} check)")
        if finding:
            return finding, ev
    return None, ev
