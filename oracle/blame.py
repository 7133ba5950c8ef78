"""Where a wrong value was computed: the user's function that a failing check points at.

A verdict names the implementation (`layers:affine_forward` for a layer registered with its
forward first), but a wrong gradient is computed in the backward. The check that failed says
which half is to blame: the forward check and a non-finite output point at the forward, every
gradient check at the backward. Each calling convention says where its halves are:

    pullback        the function, and the pullback it defines inside (a lambda or a def)
    layer           forward and backward, as registered
    gate            the class's forward and backward methods
    value_and_grad  one function computes both
"""

from __future__ import annotations

import inspect
import os
import types
from dataclasses import dataclass
from typing import Any

__all__ = ["Location", "locate", "FORWARD_CHECKS"]

FORWARD_CHECKS = {"forward", "dropout_forward", "running_stats"}   # the last two: checks of assignment layers
MAX_SOURCE_LINES = 80


@dataclass(frozen=True)
class Location:
    function: str          # 'affine_backward', 'matmul.<locals>.<lambda>'
    file: str              # as the user would open it: relative to the working folder when inside it
    line: int
    text: str = ""         # the function's source, for the HTML report


def _halves(code: Any, convention: str) -> tuple[Any, Any]:
    """(forward, backward) of an implementation's code, as functions or code objects."""
    if convention == "layer" and isinstance(code, tuple) and len(code) == 2:
        return code
    if convention == "gate" and inspect.isclass(code):
        return getattr(code, "forward", code), getattr(code, "backward", code)
    if isinstance(code, tuple) and code:
        code = code[0]
    if convention == "pullback":
        return code, _inner_function(code) or code
    return code, code


def _inner_function(function: Any) -> types.CodeType | None:
    """The first function defined inside `function`: a pullback is usually a closure it returns."""
    body = getattr(function, "__code__", None)
    if body is None:
        return None
    inner = [c for c in body.co_consts if isinstance(c, types.CodeType)]
    return inner[-1] if len(inner) == 1 or (inner and inner[-1].co_name == "<lambda>") else (inner[0] if inner else None)


def _where(target: Any) -> Location | None:
    target = inspect.unwrap(target) if callable(target) and not isinstance(target, type) else target
    code = target if isinstance(target, types.CodeType) else getattr(target, "__code__", None)
    if code is None:
        return None
    file = code.co_filename
    if not file or file.startswith("<") or not os.path.isfile(file):
        return None
    try:
        relative = os.path.relpath(file)
        file = file if relative.startswith("..") else relative
    except ValueError:
        pass
    name = getattr(code, "co_qualname", code.co_name)
    try:
        lines, _ = inspect.getsourcelines(code)
        text = "".join(lines[:MAX_SOURCE_LINES]) + ("    ...\n" if len(lines) > MAX_SOURCE_LINES else "")
    except (OSError, TypeError):
        text = ""
    return Location(name, file, code.co_firstlineno, text)


def locate(code: Any, convention: str, check: str | None, argument: str | None) -> Location | None:
    """The user's function a failing check blames, or None when it cannot be told (built-ins, no source)."""
    forward, backward = _halves(code, convention)
    blamed = forward if check in FORWARD_CHECKS or (check == "finite" and argument is None) else backward
    try:
        return _where(blamed) or _where(forward)
    except Exception:  # noqa: BLE001 - a location is a courtesy; a strange object must not cost the verdict
        return None
