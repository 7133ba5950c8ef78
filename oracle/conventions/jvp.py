"""The jvp convention: NumPy forward mode.

    plugin.jvp("tanh", tanh_jvp)     # tanh_jvp(*inputs, *hyper, *tangents) -> (out, tangent_out)

one tangent per differentiable input, in their order; tangent_out has the output's shape (a
tuple of them for several outputs). Every check of the reverse mode still applies: the pullback
is built from the implementation's own jvp, one call per input element (the cases are small),
so vᵀJ is exactly what its forward mode says J is.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from ..plugin import Implementation, StructureError, describe_value

__all__ = ["vjp", "jvp", "unsupported"]


def jvp(impl: Implementation, args: Sequence[Any], tangents: Sequence[Any]):
    returned = impl.code(*args, *tangents)
    if not isinstance(returned, (tuple, list)) or len(returned) != 2:
        raise StructureError(f"a jvp implementation must return (output, tangent_out); got {describe_value(returned)}")
    out, tangent_out = returned
    tangent_out = tuple(tangent_out) if impl.spec.outputs > 1 else (tangent_out,)
    return out, tangent_out


def vjp(impl: Implementation, *args: Any):
    spec = impl.spec
    names = spec.input_names
    primals = [np.asarray(args[names.index(n)]) for n in spec.differentiable]
    out, _ = jvp(impl, args, [np.zeros_like(p) for p in primals])
    columns: list[list[tuple]] = []   # per differentiable input, per element: the tangent of each output

    def jacobian() -> list[list[tuple]]:
        if not columns:
            for i, p in enumerate(primals):
                per_element = []
                for k in range(p.size):
                    tangents = [np.zeros_like(q) for q in primals]
                    tangents[i].reshape(-1)[k] = 1
                    _, tangent_out = jvp(impl, args, tangents)
                    per_element.append(tuple(np.asarray(t, dtype=np.float64) for t in tangent_out))
                columns.append(per_element)
        return columns

    def pullback(g):
        cotangent = tuple(np.asarray(c, dtype=np.float64) for c in (g if isinstance(g, tuple) else (g,)))
        grads = []
        for p, per_element in zip(primals, jacobian()):
            flat = [sum(float(np.sum(t * c)) for t, c in zip(outs, cotangent)) for outs in per_element]
            grads.append(np.asarray(flat, dtype=np.float64).reshape(p.shape).astype(p.dtype))
        return tuple(grads)

    return out, pullback


def unsupported(impl: Implementation) -> dict[str, str]:
    return {"adjoint": "its reverse mode is built from its own jvp, so they agree by construction",
            "second_order": "a NumPy jvp cannot be differentiated"}
