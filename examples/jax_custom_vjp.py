"""A jax.custom_vjp for softmax cross-entropy with integer labels, checked by the oracle.

The fwd keeps the softmax, the bwd returns (softmax − onehot)/N times the upstream gradient
for the logits and None for the labels (integers have no cotangent). The oracle differentiates
the bwd rule again for the second-order check. Check it from the command line:

    oracle check examples/jax_custom_vjp.py --dtype float64 --dtype float32 --dtype bfloat16

or run this file, which does the same with assert_gradients.
"""

import jax
import jax.numpy as jnp

import oracle


@jax.custom_vjp
def softmax_cross_entropy(x, y):
    log_p = jax.nn.log_softmax(x, axis=1)
    return -jnp.mean(jnp.take_along_axis(log_p, y[:, None], axis=1))


def _fwd(x, y):
    return softmax_cross_entropy(x, y), (jax.nn.softmax(x, axis=1), y)


def _bwd(residuals, g):
    p, y = residuals
    onehot = jax.nn.one_hot(y, p.shape[1], dtype=p.dtype)
    return g * (p - onehot) / p.shape[0], None


softmax_cross_entropy.defvjp(_fwd, _bwd)

plugin = oracle.Plugin("jax_example")
plugin.jax("softmax_cross_entropy", softmax_cross_entropy)   # custom_vjp: no forward mode, said so in the report


if __name__ == "__main__":
    from oracle.testing import assert_gradients

    run = assert_gradients(softmax_cross_entropy, "softmax_cross_entropy", dtypes=["float64", "float32", "bfloat16"],
                           examples=30, seed=0)
    for verdict in run.verdicts:
        print(f"{verdict.implementation} {verdict.dtype}: {verdict.status}, {verdict.message}")
    print("checks:", ", ".join(run.verdicts[0].checks))
