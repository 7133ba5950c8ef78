"""JAX built-ins for catalogue ops: jax.nn activations and losses' building blocks, jax.numpy algebra.

(jax.nn.standardize is not registered for layernorm: its variance E[x²] − E[x]² cancels, and the
oracle rightly flags the float32 forward it gives on rows with a large mean.)
"""

from __future__ import annotations

import jax
import jax.numpy as jnp


def softmax(x):
    return jax.nn.softmax(x, axis=-1)


def log_softmax(x):
    return jax.nn.log_softmax(x, axis=-1)


def cross_entropy(x, y):
    return -jnp.mean(jnp.take_along_axis(jax.nn.log_softmax(x, axis=-1), y[:, None], axis=1))


def leaky_relu(x, alpha):
    return jax.nn.leaky_relu(x, alpha)


def register(plugin) -> None:
    for op, fn in [("sigmoid", jax.nn.sigmoid), ("tanh", jnp.tanh), ("relu", jax.nn.relu),
                   ("leaky_relu", leaky_relu), ("exp", jnp.exp), ("log", jnp.log), ("mul", jnp.multiply),
                   ("max", jnp.maximum), ("matmul", jnp.matmul), ("softmax", softmax), ("log_softmax", log_softmax),
                   ("softmax_cross_entropy", cross_entropy)]:
        plugin.jax(op, fn, name=f"{op}_jax")
