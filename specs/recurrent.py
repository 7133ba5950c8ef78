"""Recurrent layers of captioning assignments: vanilla RNN and LSTM (a step and a whole sequence),
word embeddings, the temporal affine layer and the temporal softmax loss.

Sequences are (N, T, D); hidden states (N, H); the LSTM's gates are stacked i, f, o, g along
the 4H axis, as in CS231n.
"""

import jax
import jax.numpy as jnp

from oracle.spec import Spec, labels, mask

_DIMS = {"n": (1, 3), "t": (1, 4), "d": (1, 4), "h": (1, 4)}
# Through T steps, a correct float32 implementation is tens of rounding units from float64.
_RECURRENT_TOLERANCE = {"float32": 25}


@jax.custom_jvp
def _tanh(a):
    return jnp.tanh(a)


@_tanh.defjvp
def _tanh_jvp(primals, tangents):
    # As the assignments differentiate it: 1 - h² of the output. JAX's own rule, (1 - h)(1 + h),
    # is more accurate where the unit saturates, so its float32 evaluation would not show the
    # rounding a correct float32 implementation of this formula makes there.
    (a,), (da,) = primals, tangents
    h = jnp.tanh(a)
    return h, (1 - h * h) * da


def _rnn_step(x, prev_h, wx, wh, b):
    return _tanh(x @ wx + prev_h @ wh + b)


def _rnn(x, h0, wx, wh, b):
    # A Python loop over the (few) time steps, as the assignment writes it.
    hs, h = [], h0
    for t in range(x.shape[1]):
        h = _rnn_step(x[:, t], h, wx, wh, b)
        hs.append(h)
    return jnp.stack(hs, axis=1)


def _lstm_step(x, prev_h, prev_c, wx, wh, b):
    a = x @ wx + prev_h @ wh + b
    i, f, o, g = jnp.split(a, 4, axis=1)
    next_c = jax.nn.sigmoid(f) * prev_c + jax.nn.sigmoid(i) * _tanh(g)
    next_h = jax.nn.sigmoid(o) * _tanh(next_c)
    return next_h, next_c


def _lstm(x, h0, wx, wh, b):
    hs, h, c = [], h0, jnp.zeros_like(h0)
    for t in range(x.shape[1]):
        h, c = _lstm_step(x[:, t], h, c, wx, wh, b)
        hs.append(h)
    return jnp.stack(hs, axis=1)


def _temporal_softmax_loss(x, y, m):
    shifted = x - jax.lax.stop_gradient(jnp.max(x, axis=-1, keepdims=True))
    log_p = shifted - jnp.log(jnp.sum(jnp.exp(shifted), axis=-1, keepdims=True))
    picked = jnp.take_along_axis(log_p, y[..., None], axis=-1)[..., 0]
    return -jnp.sum(jnp.where(m, picked, 0.0)) / x.shape[0]


SPECS = [
    Spec("rnn_step", inputs={"x": "n d", "prev_h": "n h", "Wx": "d h", "Wh": "h h", "b": "h"},
         reference=_rnn_step, dims=_DIMS, tolerance=_RECURRENT_TOLERANCE, math="next_h = tanh(x Wx + prev_h Wh + b)"),
    Spec("rnn", inputs={"x": "n t d", "h0": "n h", "Wx": "d h", "Wh": "h h", "b": "h"},
         reference=_rnn, dims=_DIMS, tolerance=_RECURRENT_TOLERANCE, math="h[:, t] = tanh(x[:, t] Wx + h[:, t-1] Wh + b), h[:, -1] = h0; out (N, T, H)"),
    Spec("lstm_step", inputs={"x": "n d", "prev_h": "n h", "prev_c": "n h", "Wx": "d 4*h", "Wh": "h 4*h", "b": "4*h"},
         reference=_lstm_step, outputs=2, dims=_DIMS, tolerance=_RECURRENT_TOLERANCE,
         math="a = x Wx + prev_h Wh + b split i, f, o, g;  c' = σ(f)·c + σ(i)·tanh(g),  h' = σ(o)·tanh(c')"),
    Spec("lstm", inputs={"x": "n t d", "h0": "n h", "Wx": "d 4*h", "Wh": "h 4*h", "b": "4*h"},
         reference=_lstm, dims=_DIMS, tolerance=_RECURRENT_TOLERANCE, math="lstm_step over T steps from (h0, c0 = 0); out: every hidden state (N, T, H)"),
    Spec("word_embedding", inputs={"x": labels("n t", classes="v"), "W": "v d"},
         reference=lambda x, w: w[x], dims={**_DIMS, "v": (1, 5)},
         math="out[n, t] = W[x[n, t]];  dW[v] = Σ of dout where x == v (repeated words add up)"),
    Spec("temporal_affine", inputs={"x": "n t d", "w": "d m", "b": "m"},
         reference=lambda x, w, b: x @ w + b, dims={**_DIMS, "m": (1, 4)},
         math="out[:, t] = x[:, t] w + b;  dw = Σ_{n,t} x[n,t]ᵀ dout[n,t]"),
    Spec("temporal_softmax_loss", inputs={"x": "n t v", "y": labels("n t", classes="v"), "mask": mask("n t")},
         reference=_temporal_softmax_loss, dims={**_DIMS, "v": (1, 5)},
         math="-(1/N) Σ_{n,t} mask[n,t] · log softmax(x[n,t])[y[n,t]]"),
]
