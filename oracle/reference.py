"""The JAX reference: the spec's forward and `jax.vjp` of it, in float64.

float64 is switched on only inside `jax.enable_x64(True)`, a scoped context, so the JAX
settings that the user's own code sees are never changed. The reference is evaluated at
exactly the values the implementation saw (a float32 case is cast up, not redrawn).

JAX compiles per shape. Evaluating op by op compiles every primitive for every new shape;
one jitted program per (op, hyper-parameters), kept for the whole process, compiles once
per shape and is shared by both dtypes and by every plugin that implements the op.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any, Callable, Sequence

import numpy as np

from .cases import Case
from .spec import Spec

__all__ = ["reference"]


def _as_tuple(value) -> tuple:
    return tuple(value) if isinstance(value, (tuple, list)) else (value,)


def _hashable(value: Any) -> Any:
    if isinstance(value, (list, tuple)):
        return tuple(_hashable(v) for v in value)
    return value


@lru_cache(maxsize=512)
def _programs(spec: Spec, static: tuple) -> tuple[Callable, Callable, Callable]:
    """(forward, value-and-vjp, its jitted form) for one spec with its static hyper-parameters fixed.

    static holds (name, value) for hyper-parameters that shape the computation (a stride, an
    axis); the traced ones (Hyper.traced) arrive as arguments with the non-differentiated inputs.
    """
    import jax

    wanted = spec.differentiable
    names = spec.input_names
    fixed = dict(static)
    traced = [h for h in spec.hyper if h not in fixed]

    def forward(primals, others):
        args = dict(zip([n for n in names if n not in wanted] + traced, others))
        args.update(zip(wanted, primals))
        args.update(fixed)
        return spec.reference(*(args[n] for n in names), *(args[h] for h in spec.hyper))

    def value_and_vjp(primals, others, cotangent):
        out, pullback = jax.vjp(lambda *p: forward(p, others), *primals)
        grads = pullback(cotangent if isinstance(out, (tuple, list)) else cotangent[0])
        return _as_tuple(out), grads

    return forward, value_and_vjp, jax.jit(value_and_vjp)


# Every compiled shape keeps executable code mapped; a long run over thousands of shapes (a
# benchmark, conv2d's many hyper-parameters) would exhaust the process's mappings. Past this
# many programs, JAX's caches are dropped and start again.
MAX_COMPILED = 1500
_compiled: set[tuple] = set()


def _count_compile(key: tuple) -> None:
    import jax

    if key in _compiled:
        return
    if len(_compiled) >= MAX_COMPILED:
        jax.clear_caches()
        _programs.cache_clear()
        _compiled.clear()
    _compiled.add(key)


# Specs whose reference cannot be traced (NumPy on labels, say) are evaluated op by op instead.
_UNTRACEABLE: set[str] = set()


def reference(case: Case, cotangent_for: Callable[[Sequence[tuple[int, ...]]], tuple[np.ndarray, ...]],
              precision: str = "float64"):
    """(outputs, cotangent, gradients) of the spec's reference at the case, as float64 NumPy.

    cotangent_for gets the output shapes and returns the upstream gradients to pull back.
    precision "float32" evaluates the reference in float32 instead: a measure of the rounding
    that a sound float32 algorithm makes in this case.
    """
    import jax
    import jax.numpy as jnp

    spec = case.spec
    wanted = spec.differentiable
    static = tuple((k, _hashable(v)) for k, v in case.hyper.items() if not spec.hyper[k].traced)
    _count_compile((spec.name, static, precision, tuple(a.shape for a in case.inputs.values())))
    forward, value_and_vjp, jitted = _programs(spec, static)
    with jax.enable_x64(True):
        as_jax = {n: jnp.asarray(a, dtype=precision) if a.dtype.kind == "f" else jnp.asarray(a)
                  for n, a in case.inputs.items()}
        primals = tuple(as_jax[n] for n in wanted)
        others = tuple(as_jax[n] for n in spec.input_names if n not in wanted) + tuple(
            jnp.asarray(v, dtype=precision) for k, v in case.hyper.items() if spec.hyper[k].traced)
        traceable = spec.name not in _UNTRACEABLE
        if traceable:
            try:
                shapes = [tuple(s.shape) for s in _as_tuple(jax.eval_shape(forward, primals, others))]
            except Exception:
                _UNTRACEABLE.add(spec.name)
                traceable = False
        if not traceable:
            shapes = [tuple(np.shape(o)) for o in _as_tuple(forward(primals, others))]
        cotangent = cotangent_for(shapes)
        ct = tuple(jnp.asarray(c, dtype=precision) for c in cotangent)
        try:
            outputs, grads = (jitted if traceable else value_and_vjp)(primals, others, ct)
        except Exception:
            if not traceable:
                raise
            # Traceable in shape but not in value (a Python branch on data): op by op may still work.
            _UNTRACEABLE.add(spec.name)
            outputs, grads = value_and_vjp(primals, others, ct)
    return (tuple(np.asarray(o, dtype=np.float64) for o in outputs), cotangent,
            tuple(np.asarray(g, dtype=np.float64) for g in grads))
