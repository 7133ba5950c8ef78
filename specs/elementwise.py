"""Elementwise gates: add, sub, mul, div, neg, max, min, copy and the scalar functions.

Every array input has the shape '*batch n'; the binary gates take two arrays of the same shape.
"""

from dataclasses import replace

import jax
import jax.numpy as jnp

from oracle.spec import Spec, choice, floats, nonzero, positive

X = "*batch n"


def _unary(name, reference, math, x=X, **extra):
    return Spec(name, inputs={"x": x}, reference=reference, math=math, elementwise=True, **extra)


def _binary(name, reference, math, y=X, **extra):
    return Spec(name, inputs={"x": X, "y": y}, reference=reference, math=math, elementwise=True, **extra)


def _sigmoid(x):
    # lax.logistic differentiates through its output, σ·(1 − σ), the way the lectures do; the
    # rounding estimate (oracle.rounding) then sees the cancellation in 1 − σ where σ saturates.
    return jax.nn.sigmoid(x)


def _leaky_relu(x, alpha):
    return jnp.where(x > 0, x, alpha * x)


SPECS = [
    _binary("add", lambda x, y: x + y, "x + y;  dx = dy = dout",
            properties=("add_distributes",)),
    _binary("sub", lambda x, y: x - y, "x - y;  dx = dout,  dy = -dout"),
    _binary("mul", lambda x, y: x * y, "x · y;  dx = y · dout,  dy = x · dout",
            properties=("mul_swaps",)),
    _binary("div", lambda x, y: x / y, "x / y;  dx = dout / y,  dy = -x · dout / y²", y=nonzero(X)),
    _unary("neg", lambda x: -x, "-x"),
    # max/min are not differentiable where x == y: the gate's routing is a convention there.
    _binary("max", jnp.maximum, "max(x, y): dout goes to the larger input",
            kinks=lambda x, y: x - y, properties=("max_routes",)),
    _binary("min", jnp.minimum, "min(x, y): dout goes to the smaller input",
            kinks=lambda x, y: x - y),
    _unary("copy", lambda x: (x, x), "(x, x): one value used twice;  dx = dout1 + dout2",
           outputs=2, properties=("copy_adds",)),
    _unary("exp", jnp.exp, "eˣ;  dx = eˣ · dout"),
    _unary("log", jnp.log, "ln x  (x > 0);  dx = dout / x", x=positive(X)),
    _unary("reciprocal", lambda x: 1.0 / x, "1 / x  (x ≠ 0);  dx = -dout / x²", x=nonzero(X)),
    Spec("add_const", inputs={"x": X}, hyper={"c": floats(-3.0, 3.0)},
         reference=lambda x, c: x + c, math="x + c  (c a constant)", elementwise=True),
    Spec("mul_const", inputs={"x": X}, hyper={"c": floats(-3.0, 3.0)},
         reference=lambda x, c: x * c, math="c · x  (c a constant)", elementwise=True),
    # The exponent is an argument of the reference, not part of its program: one program for every p
    # (x > 0, so a power with a float exponent is defined, within an ulp of repeated products).
    Spec("pow_const", inputs={"x": positive(X)}, hyper={"p": replace(choice(2, 3, -1, -2, 0.5), traced=True)},
         reference=lambda x, p: x ** p, math="xᵖ  (x > 0);  dx = p · xᵖ⁻¹ · dout", elementwise=True),
    _unary("sigmoid", _sigmoid, "σ(x) = 1 / (1 + e⁻ˣ);  dx = σ(x)(1 - σ(x)) · dout"),
    _unary("tanh", jnp.tanh, "tanh x;  dx = (1 - tanh² x) · dout"),
    _unary("relu", lambda x: jnp.maximum(x, 0.0), "max(0, x)",
           kinks=lambda x: x, properties=("relu_sparse",)),
    Spec("leaky_relu", inputs={"x": X}, hyper={"alpha": replace(choice(0.01, 0.1, 0.2), traced=True)},
         reference=_leaky_relu, kinks=lambda x, alpha: x, math="x if x > 0 else α · x", elementwise=True),
]
