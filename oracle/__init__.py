"""gradient-oracle: tells, with evidence, whether gradient code is right.

    import oracle
    plugin = oracle.Plugin("mypkg")

    @plugin.pullback("matmul")
    def matmul(a, b):
        return a @ b, lambda g: (g @ b.T, a.T @ g)

    run = oracle.check([plugin])
"""

from .errors import SpecError, TargetError, UsageError
from .plugin import Implementation, Plugin
from .result import CaseRecord, Element, Finding, Run, Verdict
from .spec import (
    Domain, Hyper, Input, Spec,
    bounded, choice, data, floats, hyper, integers, labels, nonzero, positive, real,
)

__version__ = "0.1.0"


def check(targets, ops=None, dtypes=None, examples=None, seed=None, **options) -> Run:
    """Check plugins (objects, or names/modules/paths to discover) and return the Run."""
    from .run import check as _check

    return _check(targets, ops=ops, dtypes=dtypes, examples=examples, seed=seed, **options)


def assert_gradients(implementation, op=None, **options) -> Run:
    """Check one implementation in one call; raise AssertionError with the failure message if wrong."""
    from .testing import assert_gradients as _assert_gradients

    return _assert_gradients(implementation, op, **options)


__all__ = [
    "Plugin", "Implementation", "TargetError", "UsageError", "Spec", "SpecError", "Input", "Hyper", "Domain",
    "real", "positive", "nonzero", "bounded", "data", "labels", "choice", "integers", "floats", "hyper",
    "Run", "Verdict", "Finding", "Element", "CaseRecord", "check", "assert_gradients", "__version__",
]
