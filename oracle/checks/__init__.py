"""The checks: small functions of an Evaluation that return a Finding, or None when all is well.

`evaluate` calls the implementation once (forward, then pullback with a random upstream
gradient) and the JAX reference once; each check then judges one aspect, in the order a
reader would ask: does it run, is the forward right, are the gradients shaped right, are
they right (specific properties first, then the reference, then finite differences), and
does the code behave (linear in the upstream, leaves its inputs alone, gives the same
answer twice). A wrong dtype or forward does not end the case (the values behind it are
still judged); the most important finding leads, the others come with it.
"""
from __future__ import annotations

from typing import Callable

import numpy as np

from ..cases import Case
from ..plugin import Implementation, StructureError
from ..result import Finding
from .calling import CASE_TIMEOUT, CaseTimeout, ImplementationError, alarms_handled, call
from .evidence import SHOWN_ELEMENTS
from .evaluation import Evaluation, evaluate
from .evidence import WORST_SHOWN, compare, worst_elements
from .modes import MODE_CHECKS, check_adjoint, check_jvp, check_second_order, skipped
from .properties import PROPERTIES, check_properties
from .purity import check_determinism, check_linearity, check_mutation
from .structure import check_dtype, check_finite, check_forward, check_shape
from .values import check_finite_differences, check_reference

__all__ = ["Evaluation", "evaluate", "run_checks", "finding_rank", "checks_for", "CHECKS", "PROPERTIES", "ImplementationError", "CaseTimeout",
           "call", "compare", "worst_elements", "CASE_TIMEOUT", "SHOWN_ELEMENTS", "WORST_SHOWN"]

# Checks judged against tolerances, which the rounding estimate of the case's dtype may widen.
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
    # Other modes (forward, adjoint, second order): skipped, with the reason, where an implementation has none.
    ("jvp", check_jvp),
    ("adjoint", check_adjoint),
    ("second_order", check_second_order),
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
    if (impl.dtypes is None or "float64" in impl.dtypes) and not spec.stochastic:
        names.append("finite_differences")
    names += ["linearity", "mutation"] + ([] if spec.stochastic else ["determinism"])
    if impl.convention in ("torch", "jax"):
        names.insert(names.index("structure") + 1, "contract")
    not_run = skipped(impl)
    return names + [name if name not in not_run else f"{name} (skipped: {not_run[name]})" for name in MODE_CHECKS]


# What a finding leaves checkable: after a dtype or forward finding every check still runs (the
# values can be right though the dtype is not); after a shape finding only the reference check,
# which compares the arguments whose shapes are right; anything else ends the case.
_CONTINUE_AFTER = {"dtype": None, "forward": None, "shape": {"reference"}}
# How much a finding matters, for which one leads the verdict and which one hypothesis shrinks
# toward: wrong values above a wrong shape above a wrong dtype.
_RANK = {"dtype": 0, "shape": 1}


def _output_misshapen(ev: Evaluation) -> bool:
    return ev.reference_output is not None and any(
        np.shape(o) != np.shape(r) for o, r in zip(ev.output, ev.reference_output))


def finding_rank(finding: Finding) -> int:
    """2 for wrong values (and anything that stops a case), 1 for a wrong shape, 0 for a wrong dtype."""
    return _RANK.get(finding.check, 2) if finding.status == "failed" else 2


def run_checks(impl: Implementation, case: Case, timeout: float = CASE_TIMEOUT) -> tuple[Finding | None, Evaluation | None]:
    """Evaluate one case and apply every check in order; the most important finding, with the others of
    the case in its `also` (a dtype finding no longer hides the value checks), and the evaluation."""
    with alarms_handled():
        return _run_checks(impl, case, timeout)


def _run_checks(impl: Implementation, case: Case, timeout: float) -> tuple[Finding | None, Evaluation | None]:
    ev = evaluate(impl, case, timeout)
    if isinstance(ev, Finding):
        return ev, None
    findings: list[Finding] = []
    allowed: set[str] | None = None
    for name, check in CHECKS:
        if allowed is not None and name not in allowed:
            continue
        try:
            finding = check(ev)
            if finding is not None and name in ROUNDING_SENSITIVE and ev.widen_for_rounding():
                finding = check(ev)
        except ImplementationError as error:
            finding = Finding(name, f"the implementation {error.summary} (during the {name} check)",
                              status="errored", facts={"hung": error.hung})
        except StructureError as error:
            finding = Finding(getattr(error, "check", "structure"), f"{error} (during the {name} check)",
                              facts=getattr(error, "facts", {}))
        if finding:
            findings.append(finding)
            if finding.status != "failed" or finding.check not in _CONTINUE_AFTER or _output_misshapen(ev):
                break
            follow = _CONTINUE_AFTER[finding.check]
            allowed = follow if allowed is None or follow is None else allowed & follow
    if findings:
        lead = max(findings, key=finding_rank)   # the first of the most important
        lead.also = [{"check": f.check, "argument": f.argument, "message": f.message, "status": f.status}
                     for f in findings if f is not lead]
        completed = not any(f.check not in _CONTINUE_AFTER or f.check == "shape" for f in findings)
        lead.values_right = False if finding_rank(lead) == 2 else (True if completed else None)
        return lead, ev
    # Every check passed, but where rounding alone can move a gradient by half its size, passing
    # says little: the dtype cannot tell right from wrong in this case.
    ev.inconclusive = ev.rounding_dominates()
    return None, ev
