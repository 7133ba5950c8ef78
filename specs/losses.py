"""Classifier outputs and losses: softmax, log_softmax, softmax_cross_entropy, svm_loss, mse, two_layer_net.

Scalar losses average over the batch N (CS231n), except two_layer_net, which sums.
"""

import jax
import jax.numpy as jnp
import numpy as np

from oracle.spec import Spec, data, labels


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


def _two_layer_net(x, y, w1, w2):
    # jax.nn.sigmoid differentiates through its output, σ·(1 − σ), as the lectures' sigmoid gate does:
    # the rounding estimate (oracle.rounding) then sees the cancellation in 1 − σ where σ saturates.
    hidden = jax.nn.sigmoid(x @ w1)
    return jnp.sum((hidden @ w2 - y) ** 2)


SPECS = [
    Spec("softmax", inputs={"x": "n c"}, reference=_softmax, padded=("n",),
         math="pᵢⱼ = e^xᵢⱼ / Σₖ e^xᵢₖ over the last axis"),
    Spec("log_softmax", inputs={"x": "n c"}, reference=_log_softmax, padded=("n",),
         math="xᵢⱼ - log Σₖ e^xᵢₖ over the last axis"),
    Spec("softmax_cross_entropy", inputs={"x": "n c", "y": labels("n", classes="c")},
         reference=_softmax_cross_entropy,
         math="(1/N) Σᵢ -log softmax(xᵢ)[yᵢ];  dx = (softmax(x) - onehot(y)) / N"),
    Spec("svm_loss", inputs={"x": "n c", "y": labels("n", classes="c")}, reference=_svm_loss,
         kinks=_svm_margins,
         math="(1/N) Σᵢ Σ_{j≠yᵢ} max(0, xᵢⱼ - xᵢ_yᵢ + 1)"),
    Spec("mse", inputs={"y_pred": "n d", "y": "n d"}, reference=lambda y_pred, y: jnp.mean((y_pred - y) ** 2),
         math="mean((y_pred - y)²) over all elements;  dy_pred = 2 (y_pred - y) / (N·D) = -dy"),
    Spec("two_layer_net", inputs={"x": data("n d"), "y": data("n o"), "w1": "d h", "w2": "h o"},
         reference=_two_layer_net, weights=("w1", "w2"), padded=("d", "h", "o"),
         math="Σ (σ(x w1) w2 - y)²  over all elements; only w1, w2 are differentiated"),
]
