"""Explain: turn the finding of the shrunk case into a Verdict a person can act on.

Runs once per failing verdict (never during the search), so it can afford the expensive
evidence: finite differences element by element beside the reference, hints, and the
diagnosis of what the wrong gradient looks like.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .cases import KINK_MARGIN, Case, kink_distance
from .checks import Evaluation, ImplementationError, compare
from .checks.modes import MODE_CHECKS
from .numeric import elementwise_vjp
from .plugin import StructureError
from .result import Finding, Verdict

__all__ = ["explain"]

ELEMENTWISE_LIMIT = 512   # inputs up to this many elements get finite differences element by element


def _elementwise_fd(ev: Evaluation) -> list[np.ndarray] | None:
    if ev.impl.dtypes is not None and "float64" not in ev.impl.dtypes:
        return None
    primals = [ev.case.inputs[n].astype(np.float64) for n in ev.spec.differentiable]
    if sum(p.size for p in primals) > ELEMENTWISE_LIMIT:
        return None
    try:
        return elementwise_vjp(ev.forward64, primals, [c.astype(np.float64) for c in ev.cotangent])
    except (ImplementationError, StructureError):
        return None


def _add_fd_column(finding: Finding, ev: Evaluation, fd: list[np.ndarray]) -> None:
    """Put the finite-difference value of each worst element beside its got and expected."""
    index = ev.spec.differentiable.index(finding.argument)
    column = fd[index]
    for element in finding.worst:
        if column.ndim == len(element.index):
            element.finite_difference = float(column[tuple(element.index)])


def _locate_with_fd(finding: Finding, ev: Evaluation, fd: list[np.ndarray]) -> Finding:
    """A directional mismatch says that something is wrong; element by element says where."""
    rtol = ev.rtol("finite_differences")
    for name, got, expected in zip(ev.spec.differentiable, ev.grads, fd):
        if got.shape != expected.shape:
            continue
        located = compare("finite_differences", name, got, expected, rtol,
                          f"gradient for {name!r} differs from finite differences of the implementation's own forward")
        if located:
            for element in located.worst:
                element.finite_difference = element.expected
            located.facts.update(finding.facts)
            return located
    finding.hints.append("the directional check failed but every element agrees with finite differences on its own: "
                         "the error is spread thinly, or the forward is not smooth near this case")
    return finding


def _hints(finding: Finding, case: Case, flaky: bool) -> list[str]:
    hints = list(finding.hints)
    distance = kink_distance(case.spec, case.inputs, case.hyper)
    if distance < 20 * KINK_MARGIN:
        hints.append(f"the case is {distance:.2g} from a non-differentiable point of {case.spec.name}")
    if case.dtype != "float64" and isinstance(finding.error, float) and isinstance(finding.threshold, float) \
            and finding.threshold > 0 and finding.error < 3 * finding.threshold:
        hints.append(f"not float64: the error is within 3× the {case.dtype} threshold, so rounding may be to blame; "
                     "compare with the float64 verdict")
    if flaky:
        hints.append("the failure did not reproduce every time it was replayed: the implementation may be nondeterministic")
    return hints


def _diagnose(finding: Finding, ev: Evaluation | None) -> dict | None:
    if ev is None or finding.check in MODE_CHECKS:
        return None   # the diagnoses read first-order gradients; a tangent or a second-order product is not one
    try:
        from .diagnose import diagnose

        return diagnose(ev.spec, finding, ev)
    except Exception:  # a diagnosis is a bonus; it must never cost the verdict
        return None


def explain(finding: Finding, ev: Evaluation | None, case: Case, base: dict[str, Any], reproduce: str,
            flaky: bool = False) -> Verdict:
    # Finite differences element by element beside any gradient comparison: a third opinion
    # that tells a wrong gradient from a wrong expectation.
    compared = finding.check == "finite_differences" or (finding.argument and finding.worst
                                                          and finding.check not in ("linearity", "determinism", "mutation",
                                                                                    *MODE_CHECKS))
    if ev is not None and compared and finding.status == "failed":
        fd = _elementwise_fd(ev)
        if fd is not None:
            if finding.check == "finite_differences":
                finding = _locate_with_fd(finding, ev, fd)
            else:
                _add_fd_column(finding, ev, fd)
    cotangent = ev.cotangent if ev is not None else None
    return Verdict(
        status="errored" if finding.status == "errored" else "failed",
        check=finding.check, argument=finding.argument, message=finding.message, case=case.record(cotangent),
        worst=finding.worst, bad=finding.bad, total=finding.total, error=finding.error, threshold=finding.threshold,
        got=finding.got, expected=finding.expected, hints=_hints(finding, case, flaky), facts=finding.facts,
        diagnosis=_diagnose(finding, ev), also=finding.also, values_right=finding.values_right,
        reproduce=reproduce, **base,
    )

