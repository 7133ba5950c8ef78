"""Wrong jax.custom_vjp and jax.custom_jvp rules: each right in every way but one."""

from __future__ import annotations

import jax
import jax.numpy as jnp


def _custom_vjp(forward, fwd, bwd):
    rule = jax.custom_vjp(forward)
    rule.defvjp(fwd, bwd)
    return rule


def _softmax(x):
    return jax.nn.softmax(x, axis=-1)


def _softmax_fwd(x):
    y = _softmax(x)
    return y, y


softmax_diagonal_only = _custom_vjp(_softmax, _softmax_fwd, lambda y, g: (g * y * (1 - y),))


def _mul(x, y):
    return x * y


def _mul_fwd(x, y):
    return x * y, (x, y)


mul_one_cotangent = _custom_vjp(_mul, _mul_fwd, lambda r, g: (g * r[1],))
mul_float16_cotangent = _custom_vjp(_mul, _mul_fwd, lambda r, g: (g * r[1], (g * r[0]).astype(jnp.float16)))


def _tanh_fwd(x):
    y = jnp.tanh(x)
    return y, y


tanh_bwd_stops_gradient = _custom_vjp(jnp.tanh, _tanh_fwd,
                                      lambda y, g: (g * (1 - jax.lax.stop_gradient(y) ** 2),))


def _exp_fwd(x):
    y = jnp.exp(x)
    return y, y


# The bwd computes in float32 whatever the input: right only for float32.
exp_float32_only = _custom_vjp(jnp.exp, _exp_fwd, lambda y, g: ((g.astype(jnp.float32) * y.astype(jnp.float32)).astype(y.dtype),))


def _matmul_fwd(a, b):
    return a @ b, (a, b)


matmul_transposed_bwd = _custom_vjp(jnp.matmul, _matmul_fwd, lambda r, g: (g @ r[1].T, (r[0].T @ g).T))


def _sigmoid_fwd(x):
    s = jax.nn.sigmoid(x)
    return s, s


def _sigmoid_lossy_bwd(s, g):
    if s.dtype == jnp.bfloat16:       # a lookup table of quarters, used only for bfloat16
        s = jnp.round(s * 4) / 4
    return (g * s * (1 - s),)


sigmoid_bfloat16_loss = _custom_vjp(jax.nn.sigmoid, _sigmoid_fwd, _sigmoid_lossy_bwd)


@jax.custom_jvp
def tanh_wrong_jvp(x):
    return jnp.tanh(x)


@tanh_wrong_jvp.defjvp
def _tanh_wrong_jvp(primals, tangents):
    (x,), (t,) = primals, tangents
    y = jnp.tanh(x)
    return y, t * (1 - y)


@jax.custom_jvp
def log_softmax_jvp_missing_term(x):
    return jax.nn.log_softmax(x, axis=-1)


@log_softmax_jvp_missing_term.defjvp
def _log_softmax_jvp(primals, tangents):
    (x,), (t,) = primals, tangents
    return jax.nn.log_softmax(x, axis=-1), t      # forgot − Σ softmax(x)·t


def register(plugin) -> None:
    plugin.jax("softmax", softmax_diagonal_only, name="softmax_jax_diagonal_only")
    plugin.jax("mul", mul_one_cotangent, name="mul_jax_bwd_one_cotangent")
    plugin.jax("mul", mul_float16_cotangent, name="mul_jax_bwd_float16_cotangent")
    plugin.jax("tanh", tanh_bwd_stops_gradient, name="tanh_jax_bwd_stops_gradient")
    plugin.jax("exp", exp_float32_only, name="exp_jax_float32_only")
    plugin.jax("matmul", matmul_transposed_bwd, name="matmul_jax_transposed_bwd")
    plugin.jax("sigmoid", sigmoid_bfloat16_loss, name="sigmoid_jax_bfloat16_loss", dtypes=("bfloat16",))
    plugin.jax("tanh", tanh_wrong_jvp, name="tanh_jax_wrong_custom_jvp")
    plugin.jax("log_softmax", log_softmax_jvp_missing_term, name="log_softmax_jax_jvp_missing_term")
