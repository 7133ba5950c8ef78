"""What rounding in the case's dtype can do to a sound algorithm for this op, in this very case.

The reference's own VJP (the program `jax.vjp` builds from the spec) is evaluated again in
float64, primitive by primitive, with every result disturbed the way rounding in the case's
dtype disturbs it:

- every inexact primitive's result is multiplied by (1 + u·eps), u uniform in [-1, 1], per element;
- a primitive that accumulates (a sum, a dot product, a convolution) also gets u·eps times the same
  primitive applied to the absolute values of its operands: the size of the terms it adds up, which
  is what rounding inside an accumulation is proportional to (and all that is left when they cancel);
- the inputs and the upstream gradient are moved by one rounding unit, as the conditioning does.

The spread of a few such evaluations around the exact result is the rounding this case allows.
It comes from the magnitudes of the terms that cancel, not from one particular float32 evaluation
(which may round luckily), so textbook algorithms that cancel where the reference's does not
(a batchnorm of one row, a saturated sigmoid's (1 − σ)·σ) are covered by the allowance on it.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache

import numpy as np

from .cases import Case
from .primitives import IMPLEMENTATIONS
from .streams import generator
from .tolerances import eps as rounding_unit

__all__ = ["SAMPLES", "modes_rounding_spread", "rounding_spread"]

SAMPLES = 3

# Primitives whose result is exact: they move, select or compare values, or change only the sign.
_EXACT = {
    "reshape", "broadcast_in_dim", "transpose", "squeeze", "expand_dims", "slice", "dynamic_slice",
    "dynamic_update_slice", "concatenate", "pad", "select_n", "neg", "abs", "max", "min", "reduce_max",
    "reduce_min", "argmax", "argmin", "gather", "stack", "unstack", "split", "copy", "copy_p", "sign", "stop_gradient", "eq", "ne", "lt",
    "le", "gt", "ge", "and", "or", "not", "iota", "rev", "clamp", "floor", "ceil", "round", "convert_element_type",
    "sort", "is_finite", "zeros_like", "select_and_scatter_add", "scatter", "full_like",
}
# Primitives that add up many terms: rounding grows with the size of the terms.
_ACCUMULATE = {"reduce_sum", "dot_general", "conv_general_dilated", "cumsum", "add_any", "add", "sub",
               "scatter-add", "scatter_add", "reduce_window_sum", "select_and_scatter_add"}
# Sub-programs evaluated by recursion, so their primitives are disturbed too.
_CALLS = {"pjit": "jaxpr", "jit": "jaxpr", "closed_call": "call_jaxpr", "core_call": "call_jaxpr",
          "custom_jvp_call": "call_jaxpr", "custom_vjp_call": "call_jaxpr", "remat": "jaxpr", "checkpoint": "jaxpr"}


def _is_float(value) -> bool:
    import jax.numpy as jnp

    dtype = getattr(value, "dtype", None)
    return dtype is not None and jnp.issubdtype(dtype, jnp.floating)


def _bind(eqn, values: list) -> list:
    """One primitive, by NumPy where oracle.primitives knows it, else by JAX itself."""
    implementation = IMPLEMENTATIONS.get(eqn.primitive.name)
    if implementation is not None:
        out = implementation(*values, **eqn.params)
    else:
        import jax

        with jax.enable_x64(True):
            out = eqn.primitive.bind(*values, **eqn.params)
    outs = list(out) if eqn.primitive.multiple_results else [out]
    return [np.asarray(o) for o in outs]


def _evaluate(jaxpr, consts: Sequence, args: Sequence, rng: np.random.Generator, unit: float) -> list:
    """The jaxpr's outputs with every inexact primitive disturbed as rounding would (see the module's text)."""
    from jax.extend.core import Literal

    env: dict = {}

    def read(var):
        return np.asarray(var.val) if isinstance(var, Literal) else env[var]

    for var, value in zip(jaxpr.constvars, consts):
        env[var] = np.asarray(value)
    for var, value in zip(jaxpr.invars, args):
        env[var] = value
    for eqn in jaxpr.eqns:
        values = [read(v) for v in eqn.invars]
        name = eqn.primitive.name
        if name in _CALLS and _CALLS[name] in eqn.params:
            inner = eqn.params[_CALLS[name]]
            inner_jaxpr = getattr(inner, "jaxpr", inner)
            inner_consts = getattr(inner, "consts", ())
            outs = _evaluate(inner_jaxpr, inner_consts, values[len(values) - len(inner_jaxpr.invars):], rng, unit)
        else:
            outs = _bind(eqn, values)
            if name not in _EXACT:
                sizes: list = [None] * len(outs)
                if name in _ACCUMULATE:
                    magnitudes = [np.abs(v) if v.dtype.kind == "f" else v for v in values]
                    if name == "sub":   # |a - b| can be far below |a| + |b|: that is the cancellation
                        sizes = [magnitudes[0] + magnitudes[1]]
                    else:
                        sizes = _bind(eqn, magnitudes)
                outs = [_disturb(o, size, rng, unit) for o, size in zip(outs, sizes)]
        for var, value in zip(eqn.outvars, outs):
            env[var] = value
    return [read(v) for v in jaxpr.outvars]


def _disturb(value: np.ndarray, size, rng: np.random.Generator, unit: float) -> np.ndarray:
    if value.dtype.kind != "f":
        return value
    moved = value * (1 + unit * rng.uniform(-1, 1, size=value.shape))
    if size is not None:
        moved = moved + unit * rng.uniform(-1, 1, size=value.shape) * size
    return moved


@lru_cache(maxsize=512)
def _program(spec, static: tuple, shapes: tuple):
    """The closed jaxpr of the reference's value-and-vjp for one spec, hyper-parameters and shapes (traced, not compiled)."""
    import jax

    from .reference import _programs

    _, value_and_vjp = _programs(spec, static)
    with jax.enable_x64(True):
        return jax.make_jaxpr(value_and_vjp)(*_shaped(shapes))


def _shaped(tree):
    import jax

    if isinstance(tree, tuple) and len(tree) == 2 and isinstance(tree[1], str):
        return jax.ShapeDtypeStruct(tree[0], tree[1])
    return tuple(_shaped(t) for t in tree)


def rounding_spread(case: Case, cotangent: Sequence[np.ndarray], outputs: Sequence[np.ndarray],
                    grads: Sequence[np.ndarray], samples: int = SAMPLES) -> tuple[tuple, tuple] | None:
    """(output spread, gradient spread): elementwise, the largest distance from the exact result over a few
    evaluations of the reference's VJP under rounding of the case's dtype. None when the reference
    cannot be traced (then the conditioning estimate stands alone)."""

    from .reference import _hashable

    spec = case.spec
    unit = rounding_unit(case.dtype)
    static = tuple((k, _hashable(v)) for k, v in case.hyper.items() if not spec.hyper[k].traced)
    wanted = spec.differentiable
    primals = [np.asarray(case.inputs[n], dtype=np.float64) for n in wanted]
    others = [np.asarray(case.inputs[n], dtype=np.float64) if case.inputs[n].dtype.kind == "f" else case.inputs[n]
              for n in spec.input_names if n not in wanted]
    others += [np.asarray(v, dtype=np.float64) for k, v in case.hyper.items() if spec.hyper[k].traced]
    ct = [np.asarray(c, dtype=np.float64) for c in cotangent]

    def described(arrays):
        return tuple((tuple(np.shape(a)), str(np.asarray(a).dtype)) for a in arrays)

    try:
        closed = _program(spec, static, (described(primals), described(others), described(ct)))
        rng = generator(case.seed, 17)
        out_spread = [np.zeros(np.shape(o)) for o in outputs]
        grad_spread = [np.zeros(np.shape(g)) for g in grads]
        with np.errstate(all="ignore"):
            for _ in range(samples):
                args = [_disturb(np.asarray(a), None, rng, unit) for a in (*primals, *others, *ct)]
                flat = [np.asarray(f, dtype=np.float64) for f in _evaluate(closed.jaxpr, closed.consts, args, rng, unit)]
                out_spread = [np.fmax(s, np.abs(f - o)) for s, f, o in zip(out_spread, flat, outputs)]
                grad_spread = [np.fmax(s, np.abs(f - g)) for s, f, g in zip(grad_spread, flat[len(outputs):], grads)]
    except Exception:
        return None
    return tuple(out_spread), tuple(grad_spread)


def modes_rounding_spread(case: Case, tangents: Sequence[np.ndarray], cotangent: Sequence[np.ndarray],
                          direction: Sequence[np.ndarray], expected: tuple[Sequence[np.ndarray], Sequence[np.ndarray]],
                          samples: int = SAMPLES) -> tuple[tuple, tuple] | None:
    """(tangent spread, second-order spread): as rounding_spread, for the reference's forward mode and
    second-order product (oracle.reference_modes' program), whose terms cancel where a first-order
    gradient's need not (a layer norm of two features). None when the program cannot be traced."""
    import jax

    from .reference_modes import _arguments, _mode_program

    unit = rounding_unit(case.dtype)
    primals, others, static = _arguments(case, "float64")
    groups = [tuple(np.asarray(a, dtype=np.float64) for a in group) for group in (tangents, cotangent, direction)]
    exact = [*expected[0], *expected[1]]
    try:
        with jax.enable_x64(True):
            closed = jax.make_jaxpr(_mode_program(case.spec, static).__wrapped__)(primals, others, *groups)
        rng = generator(case.seed, 19)
        spread = [np.zeros(np.shape(e)) for e in exact]
        with np.errstate(all="ignore"):
            for _ in range(samples):
                args = [_disturb(np.asarray(a), None, rng, unit) for a in (*primals, *others, *(x for g in groups for x in g))]
                flat = [np.asarray(f, dtype=np.float64) for f in _evaluate(closed.jaxpr, closed.consts, args, rng, unit)]
                spread = [np.fmax(s, np.abs(f - e)) for s, f, e in zip(spread, flat, exact)]
    except Exception:  # noqa: BLE001 - no estimate: the other measures of rounding stand alone
        return None
    return tuple(spread[: len(expected[0])]), tuple(spread[len(expected[0]):])
