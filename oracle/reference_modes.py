"""The reference's forward mode and second order: jax.jvp and the gradient of ⟨vjp(v), w⟩, in float64.

Built on the same traced forward as oracle.reference (one jitted program per op and static
hyper-parameters, kept for the process), inside the scoped jax.enable_x64(True). precision
names another dtype to evaluate in instead: a measure of what rounding does in that dtype.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import lru_cache

import numpy as np

from .cases import Case
from .reference import (
    _array,
    _as_tuple,
    _compiler_options,
    _hashable,
    _hyper_value,
    _programs,
    _ran,
    stored_program,
)

__all__ = ["reference_modes"]


@lru_cache(maxsize=256)
def _mode_program(spec, static: tuple) -> Callable:
    """One jitted program for both products, so that each new shape costs one compile, not two."""
    import jax

    forward, _ = _programs(spec, static)

    def both(primals, others, tangents, cotangent, direction):
        f = lambda *p: forward(p, others)
        _, tangent_out = jax.jvp(f, tuple(primals), tuple(tangents))

        def pulled(*p):
            out, pullback = jax.vjp(f, *p)
            return pullback(tuple(cotangent) if isinstance(out, (tuple, list)) else cotangent[0])

        # ∇ₓ⟨vjp_x(v), w⟩ is the Hessian of ⟨v, f⟩ times w, and a Hessian is symmetric: forward
        # over reverse gives it, and compiles faster than differentiating the pullback in reverse.
        _, second = jax.jvp(pulled, tuple(primals), tuple(direction))
        return _as_tuple(tangent_out), tuple(second)

    return jax.jit(both, compiler_options=_compiler_options())


def _arguments(case: Case, precision: str):
    # Converted by NumPy (a JAX conversion compiles a program per shape); a traced seed stays an exact integer.
    spec = case.spec
    as_jax = {n: _array(a, precision) for n, a in case.inputs.items()}
    primals = tuple(as_jax[n] for n in spec.differentiable)
    others = tuple(as_jax[n] for n in spec.input_names if n not in spec.differentiable) + tuple(
        _hyper_value(v, precision) for k, v in case.hyper.items() if spec.hyper[k].traced)
    static = tuple((k, _hashable(v)) for k, v in case.hyper.items() if not case.spec.hyper[k].traced)
    return primals, others, static


def reference_modes(case: Case, tangents: Sequence[np.ndarray], cotangent: Sequence[np.ndarray],
                    direction: Sequence[np.ndarray], precision: str = "float64"):
    """(the tangent of each output along `tangents`, ∇ₓ ⟨vjp_x(cotangent), direction⟩ for each differentiable input)."""
    import jax

    with jax.enable_x64(True):
        primals, others, static = _arguments(case, precision)
        program = _mode_program(case.spec, static)
        groups = [tuple(np.asarray(a).astype(precision) for a in group) for group in (tangents, cotangent, direction)]
        args = (primals, others, *groups)
        try:
            tangent_out, second = _ran(stored_program("modes", case.spec, static, program, args, precision), *args)
        except Exception:  # noqa: BLE001
            try:   # a stored program that does not run: compile it again
                tangent_out, second = _ran(stored_program("modes", case.spec, static, program, args, precision,
                                                          stored=False), *args)
            except Exception:  # noqa: BLE001 - a reference that traces only op by op (a Python branch on data)
                tangent_out, second = _ran(program.__wrapped__, *args)
    return (tuple(np.asarray(t, dtype=np.float64) for t in tangent_out),
            tuple(np.asarray(g, dtype=np.float64) for g in second))
