"""gradient-oracle: tells, with evidence, whether gradient code is right.

    import oracle
    plugin = oracle.Plugin("mypkg")

    @plugin.pullback("matmul")
    def matmul(a, b):
        return a @ b, lambda g: (g @ b.T, a.T @ g)

    run = oracle.check([plugin])
"""

from importlib import import_module

# Where each public name lives. They load on first use, so that `import oracle.config` or the
# pytest plugin (imported at every pytest start) do not pay for numpy and hypothesis.
_EXPORTS = {
    "SpecError": "errors", "TargetError": "errors", "UsageError": "errors",
    "Implementation": "plugin", "Plugin": "plugin",
    "CaseRecord": "result", "Element": "result", "Finding": "result", "Run": "result", "Verdict": "result",
    **dict.fromkeys(("Domain", "Hyper", "Input", "Padding", "Spec", "bounded", "choice", "data", "floats", "hyper",
                     "integers", "labels", "nonzero", "positive", "real"), "spec"),
}


def __getattr__(name: str):
    if name not in _EXPORTS:
        raise AttributeError(f"module 'oracle' has no attribute {name!r}")
    value = getattr(import_module(f".{_EXPORTS[name]}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))


__version__ = "0.1.0"


def check(targets, ops=None, dtypes=None, examples=None, seed=None, **options):
    """Check plugins (objects, or names/modules/paths to discover) and return the Run."""
    from .run import check as _check

    return _check(targets, ops=ops, dtypes=dtypes, examples=examples, seed=seed, **options)


def assert_gradients(implementation, op=None, **options):
    """Check one implementation in one call; raise AssertionError with the failure message if wrong."""
    from .testing import assert_gradients as _assert_gradients

    return _assert_gradients(implementation, op, **options)


__all__ = [
    "Plugin", "Implementation", "TargetError", "UsageError", "Spec", "SpecError", "Input", "Hyper", "Domain", "Padding",
    "real", "positive", "nonzero", "bounded", "data", "labels", "choice", "integers", "floats", "hyper",
    "Run", "Verdict", "Finding", "Element", "CaseRecord", "check", "assert_gradients", "__version__",
]
