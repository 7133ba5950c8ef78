"""The catalogue: the meaning of every built-in op, written once in JAX.

Each family of ops lives in its own module and lists its specs in SPECS; this module
gathers them by name. `get("matmul")` is how plugins and the command line find a spec.
"""

from __future__ import annotations

import difflib

from oracle.spec import Spec, SpecError

from . import assignment_layers, elementwise, layers, linalg, losses, recurrent

CATALOGUE: dict[str, Spec] = {}
for _module in (elementwise, linalg, losses, layers, assignment_layers, recurrent):
    for _spec in _module.SPECS:
        if _spec.name in CATALOGUE:
            raise SpecError(f"catalogue op {_spec.name!r} is defined twice")
        CATALOGUE[_spec.name] = _spec


def get(name: str) -> Spec:
    """The catalogue spec called `name`; a SpecError naming the closest ones otherwise."""
    try:
        return CATALOGUE[name]
    except KeyError:
        close = difflib.get_close_matches(name, CATALOGUE, n=3)
        hint = f"; did you mean {', '.join(close)}?" if close else f"; known ops: {', '.join(sorted(CATALOGUE))}"
        raise SpecError(f"unknown op {name!r}{hint}") from None


def names() -> list[str]:
    return list(CATALOGUE)
