"""Linear algebra and reductions: matmul, dot, transpose, reshape, sum, mean, bias_add, l2_squared, affine."""

import jax.numpy as jnp
from hypothesis import strategies as st

from oracle.spec import Padding, Spec, choice, hyper


def _averaged_by_mean(hyper):
    axis = hyper["axis"]
    return ("n", "m") if axis is None else (("n", "m")[axis],)


def _reshape_targets(dims):
    # Every shape with the same number of elements that a reshape gate is commonly asked for.
    n, m = dims["n"], dims["m"]
    return st.sampled_from([(n * m,), (m, n), (1, n * m), (n * m, 1)])


SPECS = [
    Spec("matmul", inputs={"a": "n k", "b": "k m"}, reference=lambda a, b: a @ b,
         properties=("matmul_transpose",), padded=("n", "k", "m"), math="C = A·B;  dA = dC·Bᵀ,  dB = Aᵀ·dC"),
    Spec("dot", inputs={"x": "n", "y": "n"}, reference=jnp.dot, padded=("n",),
         math="Σᵢ xᵢ yᵢ (a scalar);  dx = dout · y,  dy = dout · x"),
    Spec("transpose", inputs={"x": "n m"}, reference=lambda x: x.T, padded=("n", "m"), math="xᵀ;  dx = doutᵀ"),
    Spec("reshape", inputs={"x": "n m"},
         hyper={"shape": hyper(_reshape_targets, "one of (n·m,), (m, n), (1, n·m), (n·m, 1)")},
         reference=jnp.reshape, flat={"shape": (-1,)}, math="x.reshape(shape);  dx = dout.reshape(x.shape)"),
    Spec("sum", inputs={"x": "n m"}, hyper={"axis": choice(0, 1)},
         reference=lambda x, axis: jnp.sum(x, axis=axis), padded=("n", "m"),
         math="Σ over one axis;  dx = dout broadcast back along it"),
    Spec("mean", inputs={"x": "n m"}, hyper={"axis": choice(None, 0, 1)},
         reference=lambda x, axis: jnp.mean(x, axis=axis), padded=("n", "m"),
         padding=Padding(averaged=_averaged_by_mean),
         math="mean over all elements (axis None) or one axis;  dx = dout / count, broadcast"),
    Spec("bias_add", inputs={"x": "n d", "b": "d"}, reference=lambda x, b: x + b, padded=("n", "d"),
         math="x + b, b broadcast over rows;  db = Σᵢ doutᵢ"),
    Spec("l2_squared", inputs={"W": "m n", "x": "n"}, reference=lambda W, x: jnp.sum((W @ x) ** 2), padded=("m", "n"),
         math="‖W x‖²;  dW = 2 (W x) xᵀ,  dx = 2 Wᵀ (W x)"),
    Spec("affine", inputs={"x": "n d", "W": "d m", "b": "m"}, reference=lambda x, W, b: x @ W + b, padded=("n", "d", "m"),
         math="x W + b;  dx = dout Wᵀ,  dW = xᵀ dout,  db = Σᵢ doutᵢ"),
]
