"""The reference's forward mode and second order: jax.jvp and the gradient of ⟨vjp(v), w⟩, in float64.

Built on the same traced forward as oracle.reference (one jitted program per op and static
hyper-parameters, kept for the process), inside the scoped jax.enable_x64(True). precision
names another dtype to evaluate in instead: a measure of what rounding does in that dtype.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any, Callable, Sequence

import numpy as np

from .cases import Case
from .reference import _array, _as_tuple, _hashable, _hyper_value, _programs

__all__ = ["reference_jvp", "reference_second_order"]


@lru_cache(maxsize=256)
def _mode_programs(spec, static: tuple) -> tuple[Callable, Callable]:
    import jax
    import jax.numpy as jnp

    forward, _, _ = _programs(spec, static)

    def jvp(primals, others, tangents):
        _, tangent_out = jax.jvp(lambda *p: forward(p, others), tuple(primals), tuple(tangents))
        return _as_tuple(tangent_out)

    def second(primals, others, cotangent, direction):
        def inner(*p):
            out, pullback = jax.vjp(lambda *q: forward(q, others), *p)
            grads = pullback(tuple(cotangent) if isinstance(out, (tuple, list)) else cotangent[0])
            return sum(jnp.vdot(g, d) for g, d in zip(grads, direction))

        return jax.grad(inner, argnums=tuple(range(len(primals))))(*primals)

    return jax.jit(jvp), jax.jit(second)


def _arguments(case: Case, precision: str):
    # Converted by NumPy (a JAX conversion compiles a program per shape); a traced seed stays an exact integer.
    spec = case.spec
    as_jax = {n: _array(a, precision) for n, a in case.inputs.items()}
    primals = tuple(as_jax[n] for n in spec.differentiable)
    others = tuple(as_jax[n] for n in spec.input_names if n not in spec.differentiable) + tuple(
        _hyper_value(v, precision) for k, v in case.hyper.items() if spec.hyper[k].traced)
    static = tuple((k, _hashable(v)) for k, v in case.hyper.items() if not case.spec.hyper[k].traced)
    return primals, others, static


def _evaluate(case: Case, which: int, extra: Sequence[Sequence[Any]], precision: str) -> tuple[np.ndarray, ...]:
    import jax

    with jax.enable_x64(True):
        primals, others, static = _arguments(case, precision)
        program = _mode_programs(case.spec, static)[which]
        converted = [tuple(_array(a, precision) for a in group) for group in extra]
        try:
            result = program(primals, others, *converted)
        except Exception:  # a reference that traces only op by op (a Python branch on data)
            result = program.__wrapped__(primals, others, *converted)
    return tuple(np.asarray(r, dtype=np.float64) for r in _as_tuple(result))


def reference_jvp(case: Case, tangents: Sequence[np.ndarray], precision: str = "float64") -> tuple[np.ndarray, ...]:
    """The tangent of each output of the reference along `tangents` (one per differentiable input)."""
    return _evaluate(case, 0, [tangents], precision)


def reference_second_order(case: Case, cotangent: Sequence[np.ndarray], direction: Sequence[np.ndarray],
                           precision: str = "float64") -> tuple[np.ndarray, ...]:
    """∇ₓ ⟨vjp_x(cotangent), direction⟩ of the reference, one array per differentiable input."""
    return _evaluate(case, 1, [cotangent, direction], precision)
