"""Which framework a bare implementation is written in, for assert_gradients without convention=.

A torch.autograd.Function subclass, a function defined in torch or jax, a jax.custom_vjp /
custom_jvp or jitted function, or a Python function whose code uses the torch or jax module
(or something taken from them). Neither framework is imported here: if it was never imported,
the implementation cannot be written in it.
"""

from __future__ import annotations

import inspect
import sys
import types
from typing import Any

__all__ = ["framework_of"]

_FRAMEWORKS = ("torch", "jax")


def _framework_of_value(value: Any) -> str | None:
    """The framework a module, a function or an object (a custom_vjp, a jitted function) belongs to."""
    own = value.__name__ if isinstance(value, types.ModuleType) else getattr(value, "__module__", None)
    for module in (own, type(value).__module__):
        root = module.split(".")[0] if isinstance(module, str) else None
        if root in _FRAMEWORKS:
            return root
    return None


def _names_used(code: types.CodeType) -> set[str]:
    names = set(code.co_names)
    for constant in code.co_consts:
        if isinstance(constant, types.CodeType):
            names |= _names_used(constant)
    return names


def framework_of(implementation: Any) -> str | None:
    """"torch", "jax" or None (NumPy, or not recognisable)."""
    if "torch" in sys.modules and inspect.isclass(implementation):
        import torch

        if issubclass(implementation, torch.autograd.Function):
            return "torch"
    found = _framework_of_value(implementation)
    if found:
        return found
    function = inspect.unwrap(implementation) if callable(implementation) else None
    code = getattr(function, "__code__", None)
    if code is None:
        return None
    scope = {**getattr(function, "__globals__", {})}
    for name, cell in zip(code.co_freevars, getattr(function, "__closure__", None) or ()):
        try:
            scope[name] = cell.cell_contents
        except ValueError:
            pass
    for name in sorted(_names_used(code)):
        if name in scope:
            found = _framework_of_value(scope[name])
            if found:
                return found
    return None
