"""A reference's output shapes at many input shapes from one trace, its input dims made symbols.

A padded layout (oracle.layouts) runs a program compiled for larger inputs, so the outputs' shapes
at the case's own inputs must be found another way. Tracing the forward at every new input shape
costs a few milliseconds each, hundreds of times in a run. Traced once with symbolic dims (JAX's
shape polymorphism, as jax.export uses it), the output shapes come back as expressions in the
input dims, evaluated for each case.

Each of the spec's named dims is one symbol (known to be at least 2), except where its size is 0 or
1, which stays a number (broadcasting depends on a 1); axes without a name keep their size. One
trace therefore serves every signature in which the same dims are 1. A padded dim (Spec.padded)
is a symbol at size 1 too (known to be at least 1): its layout already holds that the reference
does not depend on its size, and one trace then serves every combination of padded dims of size
1. A reference whose shapes need more than that (a pooling window that must fit in the image) is
not traced symbolically, and is traced at its concrete shapes. A reference that cannot be
traced so (a Python branch on a dim's value, NumPy on a shape) gives None, and its caller traces
it at the concrete shapes.

A pattern's trace is also kept between runs in the store of compiled programs (oracle.executables),
as text: its expressions, which JAX parses back in a few hundred microseconds, where a trace costs
milliseconds.

JAX decides an equality between two symbols, or a symbol and a number, that it cannot prove as
"not equal", so a reference that branched on two dims being equal would be misread where they
are. Only references the oracle sees whole (its catalogue and JAX's own functions: those the
store of oracle.executables has a key for) are traced symbolically, and a test holds every padded catalogue op to its
concrete shapes.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from typing import Any, NamedTuple

import numpy as np

from .spec import Spec

__all__ = ["Stored", "axis_names", "free_of_ones", "output_shapes", "pattern"]

Signature = tuple[tuple[tuple[tuple[int, ...], str], ...], ...]   # groups of (shape, dtype) pairs
Names = tuple[tuple[tuple[str | None, ...], ...], ...]             # the same groups: each axis's dim name, or None


def axis_names(spec: Spec, signature: Signature) -> Names:
    """Each argument's axes named by the spec's dims, in the groups of a (differentiable inputs, other
    inputs and traced hyper-parameters) signature; None where the shape pattern names none (batch
    dims, fixed sizes, hyper-parameters)."""
    inputs = [list(spec.differentiable), [n for n in spec.input_names if n not in spec.differentiable]]

    def axes(name: str | None, ndim: int) -> tuple[str | None, ...]:
        named = spec.axis_dims(name, ndim) if name is not None else None
        return (None,) * ndim if named is None else named

    return tuple(tuple(axes(names[i] if i < len(names) else None, len(shape)) for i, (shape, _) in enumerate(group))
                 for group, names in zip(signature, inputs))


def free_of_ones(spec: Spec) -> frozenset[str]:
    """The dims that are symbols at size 1 too: the padded ones."""
    return frozenset(spec.padded)


def pattern(signature: Signature, names: Names, ones: frozenset[str] = frozenset()) -> tuple[Signature, dict[str, int]] | None:
    """(the signature with each named size from 2 up, or from 1 for a dim in ones, replaced by its dim's
    symbol, each symbol's size), or None when one dim has two sizes."""
    sizes: dict[str, int] = {}
    shaped = []
    for group, named in zip(signature, names):
        shaped_group = []
        for (shape, dtype), axes in zip(group, named):
            dims: list[int | str] = []
            for size, name in zip(shape, axes):
                if name is None or size < (1 if name in ones else 2):
                    dims.append(size)
                    continue
                symbol = f"{_FROM_ONE if name in ones else _FROM_TWO}{name}"
                if sizes.setdefault(symbol, size) != size:
                    return None
                dims.append(symbol)
            shaped_group.append((tuple(dims), dtype))
        shaped.append(tuple(shaped_group))
    return tuple(shaped), sizes


# A symbol's prefix says its lower bound (dim names are identifiers: neither prefix is another's).
_FROM_TWO, _FROM_ONE = "dim_", "dim1_"


def _constraints(symbols: tuple[str, ...] | list[str]) -> list[str]:
    return [f"{s} >= 2" for s in symbols if not s.startswith(_FROM_ONE)]


# Traces by (the caller's name for the function, pattern): the caller's own function objects are
# remade when JAX's caches are dropped, and the pattern's trace is still good.
_TRACED: dict[tuple, list[tuple] | None] = {}
MAX_TRACED = 1024


# Functions that could not be traced symbolically at a pattern with symbols: at the next pattern
# they would most likely fail again, at the cost of a trace.
_CONCRETE: set[Hashable] = set()


class Stored(NamedTuple):
    """Where a pattern's trace is kept between runs (oracle.executables), as text: read(pattern),
    write(pattern, text)."""

    read: Callable[[Signature], Any]
    write: Callable[[Signature, Any], None]


_NOT_SYMBOLIC = "concrete"     # the text of a pattern that could not be traced symbolically


def _as_text(traced: list[tuple] | None) -> Any:
    if traced is None:
        return _NOT_SYMBOLIC
    return [[int(d) if isinstance(d, (int, np.integer)) else str(d) for d in shape] for shape in traced]


def _from_text(text: Any, symbols: tuple[str, ...]) -> list[tuple] | None:
    """A trace back from its text (expressions parsed in a scope of the same symbols); raises if it cannot be."""
    if text == _NOT_SYMBOLIC:
        return None
    from jax import export

    written = [d for shape in text for d in shape if isinstance(d, str)]
    parsed = iter(export.symbolic_shape(", ".join(written), constraints=_constraints(symbols)) if written else ())
    return [tuple(next(parsed) if isinstance(d, str) else int(d) for d in shape) for shape in text]


def _traced(key: Hashable, forward: Callable, shaped: Signature, symbols: tuple[str, ...],
            stored: Stored | None = None) -> list[tuple] | None:
    """The forward's output shapes (numbers and symbolic expressions) at a pattern, or None when it cannot be traced so:
    kept in this process, read from the store if an earlier run traced it, else traced (and stored)."""
    if key in _CONCRETE:
        return None
    if (key, shaped) not in _TRACED:
        if len(_TRACED) >= MAX_TRACED:
            _TRACED.clear()
        _TRACED[key, shaped] = _read_or_trace(forward, shaped, symbols, stored)
        if _TRACED[key, shaped] is None and symbols:
            _CONCRETE.add(key)
    return _TRACED[key, shaped]


def _read_or_trace(forward: Callable, shaped: Signature, symbols: tuple[str, ...],
                   stored: Stored | None) -> list[tuple] | None:
    text = stored.read(shaped) if stored is not None else None
    if text is not None:
        try:
            return _from_text(text, symbols)
        except Exception:   # noqa: BLE001, S110 - text another JAX wrote otherwise: traced again
            pass
    traced = _trace(forward, shaped, symbols)
    if stored is not None:
        stored.write(shaped, _as_text(traced))
    return traced


def _trace(forward: Callable, shaped: Signature, symbols: tuple[str, ...]) -> list[tuple] | None:
    import jax
    from jax import export

    try:
        dims = dict(zip(symbols, export.symbolic_shape(", ".join(symbols), constraints=_constraints(symbols))
                        if symbols else ()))
        groups = [tuple(jax.ShapeDtypeStruct(tuple(dims.get(n, n) for n in shape), np.dtype(dtype)) for shape, dtype in group)
                  for group in shaped]
        outputs = jax.eval_shape(forward, *groups)
    except Exception:   # noqa: BLE001 - whatever keeps the trace symbolic sends it to a concrete one
        return None
    return [tuple(o.shape) for o in (outputs if isinstance(outputs, (tuple, list)) else (outputs,))]


def output_shapes(key: Hashable, forward: Callable, signature: Signature, names: Names,
                  stored: Stored | None = None, ones: frozenset[str] = frozenset()) -> list[tuple[int, ...]] | None:
    """The output shapes of forward(*groups) at a signature, from the trace of its pattern; None if there is none.
    key names the function (the same key, the same function) for the traces kept in this process; stored, where
    its traces are kept between runs."""
    found = pattern(signature, names, ones)
    if found is None:
        return None
    shaped, sizes = found
    traced = _traced(key, forward, shaped, tuple(sizes), stored)
    if traced is None:
        return None
    try:
        return [tuple(int(d) if isinstance(d, (int, np.integer)) else int(d._evaluate(sizes)) for d in shape)
                for shape in traced]
    except Exception:   # noqa: BLE001 - a JAX whose expressions evaluate otherwise: the concrete trace
        return None
