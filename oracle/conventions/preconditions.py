"""What an assignment file says about the sizes it accepts, turned into a spec's `where`.

Two sources, both read with ast (nothing runs):

- "divides evenly": the forward, or a function of the same file it calls, has an `assert`
  or a docstring that mentions `% stride` (or says sizes divide evenly); the convention's
  `evenly` expressions then must be 0 (`(h + 2*pad - hh) % stride`).
- the forward's own asserts on its inputs: `assert pool_height == pool_width == stride` in
  `max_pool_forward_reshape`. The names they use are bound the way the forward binds them
  (`N, C, H, W = x.shape`, `stride = pool_param['stride']`, `same = a == b`); an assert that
  uses anything else (a value the forward computed) is not a precondition and is left alone.

Cases outside the preconditions are not drawn, so a correct implementation is never judged
where its own file says it does not apply.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Sequence
from typing import Any

__all__ = ["Preconditions", "states_evenly", "asserted"]

_EVENLY = re.compile(r"%\s*[\w.\[\]'\"]*stride|divides? evenly|evenly divid", re.IGNORECASE)
_SAFE = {"__builtins__": {}}


def _text_of(function: ast.FunctionDef) -> str:
    parts = [ast.get_docstring(function) or ""]
    parts += [ast.unparse(n.test) for n in ast.walk(function) if isinstance(n, ast.Assert)]
    return "\n".join(parts)


def states_evenly(name: str, defs: dict[str, ast.FunctionDef]) -> bool:
    """The forward, or a function of the same file it calls, says output sizes divide evenly."""
    todo, seen = [name], set()
    while todo:
        current = todo.pop()
        if current in seen or current not in defs:
            continue
        seen.add(current)
        if _EVENLY.search(_text_of(defs[current])):
            return True
        todo += [n.func.id for n in ast.walk(defs[current]) if isinstance(n, ast.Call) and isinstance(n.func, ast.Name)]
    return False


def _binding(target: ast.AST, value: ast.AST, params: set[str]) -> list[tuple[str, str]] | None:
    """[(name, expression over the case)] for `N, C, H, W = x.shape`, `s = p['stride']`, `a = b == c`."""
    if isinstance(target, ast.Tuple) and isinstance(value, ast.Attribute) and value.attr == "shape" \
            and isinstance(value.value, ast.Name) and value.value.id in params:
        if all(isinstance(e, ast.Name) for e in target.elts):
            return [(e.id, f"{value.value.id}.shape[{i}]") for i, e in enumerate(target.elts)]
        return None
    if isinstance(target, ast.Tuple) and isinstance(value, ast.Tuple) and len(target.elts) == len(value.elts):
        pairs = [_binding(t, v, params) for t, v in zip(target.elts, value.elts)]
        return None if any(p is None for p in pairs) else [b for p in pairs for b in p]
    if isinstance(target, ast.Name):
        return [(target.id, ast.unparse(value))]
    return None


def asserted(function: ast.FunctionDef) -> tuple[tuple[str, ...], tuple[tuple[str, str], ...], tuple[str, ...]]:
    """(the forward's parameters, its bindings in order, its top-level asserts) for `Preconditions`."""
    params = [a.arg for a in function.args.posonlyargs + function.args.args]
    bindings: list[tuple[str, str]] = []
    tests: list[str] = []
    for statement in function.body:
        if isinstance(statement, ast.Assign) and len(statement.targets) == 1:
            found = _binding(statement.targets[0], statement.value, set(params))
            if found:
                bindings += found
        elif isinstance(statement, ast.Assert):
            tests.append(ast.unparse(statement.test))
    return tuple(params), tuple(bindings), tuple(tests)


class _Shape:
    """Stands for an input array in a precondition: only its shape is known when cases are drawn."""

    def __init__(self, shape: Sequence[int]) -> None:
        self.shape = tuple(shape)
        self.ndim = len(self.shape)


class Preconditions:
    """A spec's `where`, narrowed by what the file says (picklable: data only)."""

    def __init__(self, spec: Any, arguments: Sequence[Any], evenly: Sequence[str] = (),
                 forward: tuple = ((), (), ())) -> None:
        self.where, self.evenly = spec.where, tuple(evenly)
        self.spec_name = spec.name
        self.arguments = tuple(arguments)
        self.params, self.bindings, self.tests = forward
        self._spec = spec

    def __getstate__(self) -> dict:
        state = dict(self.__dict__)
        state["_spec"] = None   # found again by name in the worker
        return state

    def _the_spec(self) -> Any:
        if self._spec is None:
            from oracle.specs import get

            self._spec = get(self.spec_name)
        return self._spec

    def describe(self) -> list[str]:
        return (["output sizes divide evenly (the file says so)"] if self.evenly else []) + \
               [f"assert {t}" for t in self.tests]

    def __call__(self, dims: dict, hyper: dict) -> bool:
        if self.where is not None and not self.where(dims, hyper):
            return False
        scope = {**dims, **hyper}
        if not all(eval(e, _SAFE, scope) == 0 for e in self.evenly):  # noqa: S307 - the conventions table
            return False
        return self._asserts_hold(dims, hyper) if self.tests else True

    def _asserts_hold(self, dims: dict, hyper: dict) -> bool:
        shapes = self._the_spec().shapes(dims)
        values: dict[str, Any] = {}
        for param, argument in zip(self.params, self.arguments):
            if argument.is_dict:
                values[param] = {key: hyper[source] if source is not None else fixed
                                 for key, source, fixed in argument.entries}
            elif argument.name in shapes:
                values[param] = _Shape(shapes[argument.name])
            else:
                values[param] = hyper.get(argument.name)
        for name, expression in self.bindings:
            try:
                values[name] = eval(expression, _SAFE, values)  # noqa: S307 - the student's own binding
            except Exception:  # noqa: BLE001 - computed from something only a real call has
                values.pop(name, None)
        for test in self.tests:
            try:
                holds = eval(test, _SAFE, values)  # noqa: S307
            except Exception:  # noqa: BLE001 - uses a computed value: not a precondition on the inputs
                continue
            if not holds:
                return False
        return True
