"""Classifier outputs and losses: softmax, log_softmax, softmax_cross_entropy, svm_loss, mse, two_layer_net.

Scalar losses average over the batch N (CS231n), except two_layer_net, which sums.
"""

import jax
import jax.numpy as jnp
import numpy as np

from oracle.spec import Padding, Spec, data, labels


def _log_softmax(x):
    # Shifting by the row maximum changes nothing mathematically; it only keeps exp finite.
    shifted = x - jax.lax.stop_gradient(jnp.max(x, axis=-1, keepdims=True))
    return shifted - jnp.log(jnp.sum(jnp.exp(shifted), axis=-1, keepdims=True))


def _softmax(x):
    e = jnp.exp(x - jax.lax.stop_gradient(jnp.max(x, axis=-1, keepdims=True)))
    return e / jnp.sum(e, axis=-1, keepdims=True)


def _softmax_cross_entropy(x, y):
    picked = jnp.take_along_axis(_log_softmax(x), y[:, None], axis=1)
    return -jnp.mean(picked)


def _svm_loss(x, y):
    # Labels arrive traced under jit, so the class mask is built with jnp, not NumPy.
    correct = jnp.take_along_axis(x, y[:, None], axis=1)
    margins = jnp.maximum(0.0, x - correct + 1.0)
    wrong = jnp.arange(x.shape[1])[None, :] != y[:, None]
    return jnp.sum(jnp.where(wrong, margins, 0.0)) / x.shape[0]


def _svm_margins(x, y):
    # The hinge bends where a wrong class's margin crosses zero; the correct class has no hinge.
    rows = np.arange(x.shape[0])
    wrong = np.arange(x.shape[1])[None, :] != y[:, None]
    return (x - x[rows, y][:, None] + 1.0)[wrong]


# Logits appended to a softmax's classes: far enough below any drawn logit that exp gives exactly zero, so
# no probability changes, and finite, so an appended row of them is a finite (uniform) softmax.
_NO_CLASS = -1e30


def _outside_every_class(shape, dtype):
    return np.full(shape, _NO_CLASS, dtype=dtype)


def _won_by_first_class(shape, dtype):
    # An appended row that class 0 wins outright: its softmax is exactly one-hot, so with label 0 (labels are
    # filled with zeros) its cross-entropy, every hinge margin and their gradients are zero. Appended classes
    # take no probability and no margin in any row.
    rows = _outside_every_class(shape, dtype)
    rows[..., 0] = 0.0
    return rows


_SOFTMAX_PADDING = Padding(fill={"x": _outside_every_class})
# A loss averaged over the batch: an appended row adds exactly nothing but the divisor.
_BATCH_AVERAGED = Padding(averaged=("n",), fill={"x": _won_by_first_class})


def _two_layer_net(x, y, w1, w2):
    # jax.nn.sigmoid differentiates through its output, σ·(1 − σ), as the lectures' sigmoid gate does:
    # the rounding estimate (oracle.rounding) then sees the cancellation in 1 − σ where σ saturates.
    hidden = jax.nn.sigmoid(x @ w1)
    return jnp.sum((hidden @ w2 - y) ** 2)


SPECS = [
    Spec("softmax", inputs={"x": "n c"}, reference=_softmax, padded=("n", "c"), padding=_SOFTMAX_PADDING,
         math="pᵢⱼ = e^xᵢⱼ / Σₖ e^xᵢₖ over the last axis"),
    Spec("log_softmax", inputs={"x": "n c"}, reference=_log_softmax, padded=("n", "c"), padding=_SOFTMAX_PADDING,
         math="xᵢⱼ - log Σₖ e^xᵢₖ over the last axis"),
    Spec("softmax_cross_entropy", inputs={"x": "n c", "y": labels("n", classes="c")},
         reference=_softmax_cross_entropy, padded=("n", "c"), padding=_BATCH_AVERAGED,
         math="(1/N) Σᵢ -log softmax(xᵢ)[yᵢ];  dx = (softmax(x) - onehot(y)) / N"),
    Spec("svm_loss", inputs={"x": "n c", "y": labels("n", classes="c")}, reference=_svm_loss,
         padded=("n", "c"), padding=_BATCH_AVERAGED,
         kinks=_svm_margins,
         math="(1/N) Σᵢ Σ_{j≠yᵢ} max(0, xᵢⱼ - xᵢ_yᵢ + 1)"),
    Spec("mse", inputs={"y_pred": "n d", "y": "n d"}, reference=lambda y_pred, y: jnp.mean((y_pred - y) ** 2),
         padded=("n", "d"), padding=Padding(averaged=("n", "d")),
         math="mean((y_pred - y)²) over all elements;  dy_pred = 2 (y_pred - y) / (N·D) = -dy"),
    Spec("two_layer_net", inputs={"x": data("n d"), "y": data("n o"), "w1": "d h", "w2": "h o"},
         reference=_two_layer_net, weights=("w1", "w2"), padded=("d", "h", "o"),
         math="Σ (σ(x w1) w2 - y)²  over all elements; only w1, w2 are differentiated"),
]
