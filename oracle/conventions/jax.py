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
from typing import Any, Sequence

import numpy as np

from ..plugin import ContractError, Implementation, ModeUnsupported

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


def _closure(impl: Implementation, args: Sequence[Any]):
    """(f of the differentiable inputs only, their values as JAX arrays); call inside _precision."""
    import jax.numpy as jnp

    spec = impl.spec
    n = len(spec.inputs)
    arrays = [jnp.asarray(a, dtype=a.dtype) if a.dtype.kind in "fV" else jnp.asarray(a)
              for a in map(np.asarray, args[:n])]
    hyper = list(args[n:])
    positions = [spec.input_names.index(name) for name in spec.differentiable]

    def f(*primals):
        filled = list(arrays)
        for i, p in zip(positions, primals):
            filled[i] = p
        return impl.code(*filled, *hyper)

    return f, tuple(arrays[i] for i in positions)


def _numpy(value: Any) -> Any:
    if isinstance(value, (tuple, list)):
        return tuple(np.asarray(v) for v in value)
    return np.asarray(value)


def _guarded(during: str, fn, *args):
    try:
        return fn(*args)
    except Exception as error:
        contract = _contract(error, during)
        if contract is None:
            raise
        raise contract from None


def vjp(impl: Implementation, *args: Any):
    import jax

    with _precision(args):
        f, primals = _closure(impl, args)
        out, pullback_jax = _guarded("in the forward", jax.vjp, f, *primals)

    def pullback(g):
        cotangent = tuple(g) if isinstance(g, tuple) else g
        with _precision(args):
            if isinstance(out, (tuple, list)) and not isinstance(cotangent, tuple):
                cotangent = (cotangent,)
            cotangent = jax.tree_util.tree_map(lambda c, o: np.asarray(c, dtype=o.dtype), cotangent, out)
            grads = _guarded("in the custom bwd rule", pullback_jax, cotangent)
        return tuple(np.asarray(g) for g in grads)

    return _numpy(out), pullback


def jvp(impl: Implementation, args: Sequence[Any], tangents: Sequence[Any]):
    import jax

    with _precision(args):
        f, primals = _closure(impl, args)
        tangents = tuple(np.asarray(t, dtype=np.asarray(p).dtype) for t, p in zip(tangents, primals))
        try:
            out, tangent_out = jax.jvp(f, primals, tangents)
        except TypeError as error:
            if "can't apply forward-mode autodiff (jvp) to a custom_vjp function" in str(error):
                raise ModeUnsupported("it calls a jax.custom_vjp function, which has no forward mode") from None
            raise
        except Exception as error:
            contract = _contract(error, "in forward mode")
            if contract is None:
                raise
            raise contract from None
    tangent_out = tuple(tangent_out) if isinstance(tangent_out, (tuple, list)) else (tangent_out,)
    return _numpy(out), tuple(np.asarray(t) for t in tangent_out)


def second_order(impl: Implementation, args: Sequence[Any], cotangent: Sequence[Any], direction: Sequence[Any]):
    """∇ₓ ⟨pullback(v), w⟩: jax.grad through the user's rule (a custom_vjp's bwd is differentiated too)."""
    import jax
    import jax.numpy as jnp

    with _precision(args):
        f, primals = _closure(impl, args)
        w = tuple(jnp.asarray(d, dtype=p.dtype) for d, p in zip(direction, primals))

        def inner(*p):
            out, pullback = jax.vjp(f, *p)
            v = tuple(jnp.asarray(c, dtype=o.dtype) for c, o in zip(cotangent, out if isinstance(out, (tuple, list)) else (out,)))
            grads = pullback(v if isinstance(out, (tuple, list)) else v[0])
            return sum(jnp.vdot(g, d) for g, d in zip(grads, w))

        grads = _guarded("differentiating the pullback", jax.grad(inner, argnums=tuple(range(len(primals)))), *primals)
    return tuple(np.asarray(g) for g in grads)


def unsupported(impl: Implementation) -> dict[str, str]:
    import jax

    if isinstance(impl.code, jax.custom_vjp) and (impl.modes is None or "fwd" not in impl.modes):
        reason = "a jax.custom_vjp function has no forward mode"
        return {"jvp": reason, "adjoint": reason}
    return {}
