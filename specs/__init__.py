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
        pass
    lowered = {op.lower(): op for op in CATALOGUE}
    if str(name).lower() in lowered:      # ReLU -> relu: op names are lower case
        raise SpecError(f"unknown op {name!r}; did you mean {lowered[str(name).lower()]}? (op names are lower case)") from None
    close = [lowered[c] for c in difflib.get_close_matches(str(name).lower(), lowered, n=3)]
    hint = f"did you mean {', '.join(close)}?" if close else f"`oracle list` shows the {len(CATALOGUE)} ops of the catalogue"
    raise SpecError(f"unknown op {name!r}; {hint}") from None


def names() -> list[str]:
    return list(CATALOGUE)
