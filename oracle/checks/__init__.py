"""The checks: small functions of an Evaluation that return a Finding, or None when all is well.

`evaluate` calls the implementation once (forward, then pullback with a random upstream
gradient) and the JAX reference once; each check then judges one aspect, in the order a
reader would ask: does it run, is the forward right, are the gradients shaped right, are
they right (specific properties first, then the reference, then finite differences), and
does the code behave (linear in the upstream, leaves its inputs alone, gives the same
answer twice). The first finding ends the case.
"""
from __future__ import annotations

from typing import Callable

from ..cases import Case
from ..plugin import Implementation, StructureError
from ..result import Finding
from .calling import CASE_TIMEOUT, CaseTimeout, ImplementationError, call
from .evidence import SHOWN_ELEMENTS
from .evaluation import Evaluation, conditioning, evaluate
from .evidence import WORST_SHOWN, compare, worst_elements
from .modes import MODE_CHECKS, check_adjoint, check_jvp, check_second_order, skipped
from .properties import PROPERTIES, check_properties
from .purity import check_determinism, check_linearity, check_mutation
from .structure import check_dtype, check_finite, check_forward, check_shape
from .values import check_finite_differences, check_reference

__all__ = ["Evaluation", "evaluate", "run_checks", "checks_for", "CHECKS", "PROPERTIES", "ImplementationError", "CaseTimeout",
           "call", "compare", "conditioning", "worst_elements", "CASE_TIMEOUT", "SHOWN_ELEMENTS", "WORST_SHOWN"]

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
    names += ["linearity", "mutation", "determinism"]
    if impl.convention in ("torch", "jax"):
        names.insert(names.index("structure") + 1, "contract")
    not_run = skipped(impl)
    return names + [name if name not in not_run else f"{name} (skipped: {not_run[name]})" for name in MODE_CHECKS]


def run_checks(impl: Implementation, case: Case, timeout: float = CASE_TIMEOUT) -> tuple[Finding | None, Evaluation | None]:
    """Evaluate one case and apply every check in order; the first finding, with the evaluation behind it."""
    ev = evaluate(impl, case, timeout)
    if isinstance(ev, Finding):
        return ev, None
    for name, check in CHECKS:
        try:
            finding = check(ev)
            if finding is not None and name in ROUNDING_SENSITIVE and ev.widen_for_rounding():
                finding = check(ev)
                # It passes only thanks to rounding as large as the gradient: the dtype cannot tell here.
                ev.inconclusive = ev.inconclusive or (finding is None and ev.rounding_dominates())
        except ImplementationError as error:
            finding = Finding(name, f"the implementation {error.summary} (during the {name} check)",
                              status="errored", facts={"hung": error.hung})
        except StructureError as error:
            finding = Finding(getattr(error, "check", "structure"), f"{error} (during the {name} check)",
                              facts=getattr(error, "facts", {}))
        if finding:
            return finding, ev
    return None, ev
