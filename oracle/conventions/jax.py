"""The jax convention: a JAX function of arrays, usually with jax.custom_vjp or jax.custom_jvp.

    plugin.jax("softmax", my_softmax)        # called as my_softmax(*arrays, *hyper)

Reverse mode is jax.vjp, forward mode jax.jvp and second order jax.grad of ⟨pullback(v), w⟩,
all of the user's function, with respect to its differentiable inputs (labels, data and
hyper-parameters are held fixed), in the case's dtype. The user's JAX settings are left
alone: float64 cases run inside the scoped jax.enable_x64(True), every other case passes
arrays of an explicit dtype.

JAX's complaints about a custom rule (a bwd returning the wrong structure or shapes) become
ContractError findings; a bwd that returns the wrong dtype is left to the dtype check.
"""

from __future__ import annotations

from contextlib import nullcontext
from functools import lru_cache
from typing import Any, Callable, Sequence

import numpy as np

from ..plugin import ContractError, Implementation, ModeUnsupported
from ..reference import compiler_options, optimised

__all__ = ["vjp", "jvp", "second_order", "unsupported"]

_CONTRACTS = (
    ("Custom VJP bwd rule must produce an output with the same container", "custom_vjp_structure",
     "the custom_vjp bwd rule returned the wrong structure (one cotangent per primal argument, in a tuple)"),
    ("Custom VJP bwd rule must produce an output with the same type", "custom_vjp_shape",
     "the custom_vjp bwd rule returned a cotangent of the wrong shape"),
    ("Custom VJP fwd rule", "custom_vjp_fwd", "the custom_vjp fwd rule does not match the primal function"),
    ("Custom JVP rule", "custom_jvp_rule", "the custom_jvp rule returned the wrong structure, shape or dtype"),
    ("TracerArrayConversionError", "leaves_jax", "the rule leaves JAX (NumPy on a traced value)"),
    ("ConcretizationTypeError", "leaves_jax", "the rule needs concrete values where JAX traces"),
)


def _contract(error: BaseException, during: str) -> ContractError | None:
    text = f"{type(error).__name__}: {error}"
    for marker, kind, meaning in _CONTRACTS:
        if marker in text:
            return ContractError(kind, f"{meaning} ({during}): JAX says: {str(error).splitlines()[0][:300]}")
    return None


def _precision(args: Sequence[Any]):
    """float64 arrays need x64 on; switched on in a scoped context, never globally."""
    import jax

    wide = any(getattr(a, "dtype", None) == np.float64 for a in args)
    return jax.enable_x64(True) if wide else nullcontext()


def _hashable(value: Any) -> Any:
    return tuple(_hashable(v) for v in value) if isinstance(value, (list, tuple)) else value


# Each entry keeps the executables compiled for every shape it met; a worker judges many functions
# in turn, so only the most recent few are kept.
@lru_cache(maxsize=16)
def _programs(code: Any, spec: Any, hyper: tuple, jit: bool, optimised: bool = False) -> dict[str, Callable]:
    """The user's function differentiated four ways, as functions of (differentiable inputs, the other
    inputs and traced hyper-parameters, vectors); jitted, so that each new shape costs one compile
    instead of one per primitive. hyper holds the static hyper-parameters, None where one is traced
    (a value from a continuous range, Hyper.traced): it arrives with the other inputs instead.
    Compiled as the reference's programs are (oracle.reference): with XLA's quick options for small
    inputs, which compile several times faster, and its defaults where the inputs are large (optimised)."""
    import jax
    import jax.numpy as jnp

    names = spec.input_names
    positions = [names.index(n) for n in spec.differentiable]
    rest = [i for i in range(len(names)) if i not in positions]

    def call(primals, others):
        filled = [None] * len(names)
        for i, p in zip(positions, primals):
            filled[i] = p
        for i, o in zip(rest, others):
            filled[i] = o
        traced = iter(others[len(rest):])
        return code(*filled, *(next(traced) if h is None else h for h in hyper))

    def single(out, vectors):
        return tuple(vectors) if isinstance(out, (tuple, list)) else vectors[0]

    def pull(primals, others, cotangent):
        out, pullback = jax.vjp(lambda *p: call(p, others), *primals)
        return out, pullback(single(out, cotangent))

    def push(primals, others, tangents):
        return jax.jvp(lambda *p: call(p, others), tuple(primals), tuple(tangents))

    def second(primals, others, cotangent, direction):
        def inner(*p):
            out, pullback = jax.vjp(lambda *q: call(q, others), *p)
            grads = pullback(single(out, [jnp.asarray(c, o.dtype) for c, o in zip(cotangent, jax.tree_util.tree_leaves(out))]))
            return sum(jnp.vdot(g, d) for g, d in zip(grads, direction))
        return jax.grad(inner, argnums=tuple(range(len(primals))))(*primals)

    programs = {"forward": call, "pull": pull, "push": push, "second": second}
    options = compiler_options(optimised)
    return {k: jax.jit(f, compiler_options=options) for k, f in programs.items()} if jit else programs


_EAGER: set[int] = set()   # functions that cannot be traced by jit (NumPy on values, a Python branch on data)


def _run(impl: Implementation, args: Sequence[Any], which: str, *vectors: Any, during: str):
    """Run one program on the case's arrays, jitted if the user's code allows it, else op by op."""
    spec = impl.spec
    n = len(spec.inputs)
    arrays = [np.asarray(a) for a in args[:n]]
    differentiable = [arrays[spec.input_names.index(name)] for name in spec.differentiable]
    others = [a for name, a in zip(spec.input_names, arrays) if name not in spec.differentiable]
    traced = [spec.hyper[name].traced for name in spec.hyper]
    # In the inputs' own dtype: a float64 scalar would promote a bfloat16 computation to float32.
    dtype = differentiable[0].dtype if differentiable else np.float64
    others += [np.asarray(v, dtype=dtype) for v, t in zip(args[n:], traced) if t]
    hyper = tuple(None if t else _hashable(v) for v, t in zip(args[n:], traced))
    with _precision(args):
        if id(impl.code) not in _EAGER:
            try:
                large = optimised(differentiable, others)
                return _programs(impl.code, spec, hyper, True, large)[which](differentiable, others, *vectors)
            except Exception as error:
                if not _untraceable(error):
                    _raise(error, during)
                _EAGER.add(id(impl.code))
        try:
            return _programs(impl.code, spec, hyper, False)[which](differentiable, others, *vectors)
        except Exception as error:
            _raise(error, during)


def _untraceable(error: Exception) -> bool:
    import jax

    return isinstance(error, (jax.errors.TracerArrayConversionError, jax.errors.ConcretizationTypeError,
                              jax.errors.TracerBoolConversionError, jax.errors.TracerIntegerConversionError))


def _raise(error: Exception, during: str):
    if isinstance(error, TypeError) and "can't apply forward-mode autodiff (jvp) to a custom_vjp" in str(error):
        raise ModeUnsupported("it calls a jax.custom_vjp function, which has no forward mode") from None
    contract = _contract(error, during)
    if contract is None:
        raise error
    raise contract from None


def _numpy(value: Any) -> Any:
    if isinstance(value, (tuple, list)):
        return tuple(np.asarray(v) for v in value)
    return np.asarray(value)


def _vectors(values: Sequence[Any], like: Sequence[Any]) -> list:
    return [np.asarray(v).astype(np.asarray(w).dtype) for v, w in zip(values, like)]


def vjp(impl: Implementation, *args: Any):
    out = _run(impl, args, "forward", during="in the forward")
    outputs = out if isinstance(out, (tuple, list)) else (out,)

    def pullback(g):
        cotangent = _vectors(g if isinstance(g, tuple) else (g,), outputs)
        _, grads = _run(impl, args, "pull", cotangent, during="in the custom bwd rule")
        return tuple(np.asarray(gr) for gr in grads)

    return _numpy(out), pullback


def jvp(impl: Implementation, args: Sequence[Any], tangents: Sequence[Any]):
    primals = [args[impl.spec.input_names.index(n)] for n in impl.spec.differentiable]
    out, tangent_out = _run(impl, args, "push", _vectors(tangents, primals), during="in forward mode")
    tangent_out = tuple(tangent_out) if isinstance(tangent_out, (tuple, list)) else (tangent_out,)
    return _numpy(out), tuple(np.asarray(t) for t in tangent_out)


def second_order(impl: Implementation, args: Sequence[Any], cotangent: Sequence[Any], direction: Sequence[Any]):
    """∇ₓ ⟨pullback(v), w⟩: jax.grad through the user's rule (a custom_vjp's bwd is differentiated too)."""
    primals = [args[impl.spec.input_names.index(n)] for n in impl.spec.differentiable]
    grads = _run(impl, args, "second", [np.asarray(c) for c in cotangent], _vectors(direction, primals),
                 during="differentiating the pullback")
    return tuple(np.asarray(g) for g in grads)


def unsupported(impl: Implementation) -> dict[str, str]:
    import jax

    if isinstance(impl.code, jax.custom_vjp) and (impl.modes is None or "fwd" not in impl.modes):
        reason = "a jax.custom_vjp function has no forward mode"
        return {"jvp": reason, "adjoint": reason}
    return {}


# --------------------------------------------------------------------------- pickling custom rules
# Implementations travel to worker processes by cloudpickle, which cannot rebuild a custom_vjp or
# custom_jvp object (their __new__ needs the function). These rebuild them from their parts.

def _rebuild_custom_vjp(fun, nondiff_argnums, fwd, bwd, symbolic_zeros, optimize_remat):
    import jax

    rule = jax.custom_vjp(fun, nondiff_argnums=nondiff_argnums)
    if fwd is not None:
        rule.defvjp(fwd, bwd, symbolic_zeros=symbolic_zeros, optimize_remat=optimize_remat)
    return rule


def _rebuild_custom_jvp(fun, nondiff_argnums, jvp_rule, symbolic_zeros):
    import jax

    rule = jax.custom_jvp(fun, nondiff_argnums=nondiff_argnums)
    if jvp_rule is not None:
        rule.defjvp(jvp_rule, symbolic_zeros=symbolic_zeros)
    return rule


def _reduce_custom_vjp(rule):
    return _rebuild_custom_vjp, (rule.fun, rule.nondiff_argnums, getattr(rule, "fwd", None), getattr(rule, "bwd", None),
                                 getattr(rule, "symbolic_zeros", False), getattr(rule, "optimize_remat", False))


def _reduce_custom_jvp(rule):
    return _rebuild_custom_jvp, (rule.fun, rule.nondiff_argnums, getattr(rule, "jvp", None),
                                 getattr(rule, "symbolic_zeros", False))


def register_pickling() -> None:
    """Teach pickle (and so cloudpickle) to send custom_vjp and custom_jvp rules to workers."""
    import copyreg

    import jax

    copyreg.pickle(jax.custom_vjp, _reduce_custom_vjp)
    copyreg.pickle(jax.custom_jvp, _reduce_custom_jvp)


register_pickling()
