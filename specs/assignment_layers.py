"""The layers of CS231n-style assignments that the other families do not already describe.

affine_nd takes N-D inputs (N, d1, ..., dk) flattened per sample; the normalisations keep
running statistics (checked by the `running_stats` property); max_pool has non-square
windows; dropout_any is judged from the mask its own output reveals, whatever RNG draws it.
Images are NCHW.
"""

import jax.numpy as jnp
import numpy as np
from hypothesis import strategies as st

from oracle.spec import Spec, choice, hyper, integers, nonzero

_IMAGE_DIMS = {"n": (1, 3), "c": (1, 3), "h": (1, 5), "w": (1, 5)}


def _affine_nd(x, w, b):
    return x.reshape(x.shape[0], -1) @ w + b


def _normalise(x, gamma, beta, eps, axis):
    mean = jnp.mean(x, axis=axis, keepdims=True)
    var = jnp.mean((x - mean) ** 2, axis=axis, keepdims=True)  # biased, as in training mode
    return gamma * (x - mean) / jnp.sqrt(var + eps) + beta


def _batchnorm(x, gamma, beta, eps, momentum):
    return _normalise(x, gamma, beta, eps, axis=0)


def _spatial_batchnorm(x, gamma, beta, eps, momentum):
    return _normalise(x, gamma[None, :, None, None], beta[None, :, None, None], eps, axis=(0, 2, 3))


def _spatial_groupnorm(x, gamma, beta, groups, eps):
    n, c, h, w = x.shape
    grouped = x.reshape(n, groups, c // groups, h, w)
    mean = jnp.mean(grouped, axis=(2, 3, 4), keepdims=True)
    var = jnp.mean((grouped - mean) ** 2, axis=(2, 3, 4), keepdims=True)
    normalised = ((grouped - mean) / jnp.sqrt(var + eps)).reshape(n, c, h, w)
    return gamma * normalised + beta


def _max_pool(x, pool_height, pool_width, stride):
    out_h = 1 + (x.shape[2] - pool_height) // stride
    out_w = 1 + (x.shape[3] - pool_width) // stride
    windows = [x[:, :, i:i + stride * (out_h - 1) + 1:stride, j:j + stride * (out_w - 1) + 1:stride]
               for i in range(pool_height) for j in range(pool_width)]
    return jnp.max(jnp.stack(windows, axis=-1), axis=-1)


def _pool_gaps(x, pool_height, pool_width, stride):
    # Max pooling is not differentiable where a window's two largest values tie.
    if pool_height * pool_width == 1:
        return np.zeros(0)
    windows = np.lib.stride_tricks.sliding_window_view(np.asarray(x), (pool_height, pool_width), axis=(2, 3))
    windows = windows[:, :, ::stride, ::stride]
    ordered = np.sort(windows.reshape(windows.shape[:4] + (-1,)), axis=-1)
    return (ordered[..., -1] - ordered[..., -2]).ravel()


def _pool_fits(dims, hyper):
    return hyper["pool_height"] <= dims["h"] and hyper["pool_width"] <= dims["w"]


SPECS = [
    Spec("affine_nd", inputs={"x": "n *batch d", "w": "batch*d m", "b": "m"}, reference=_affine_nd,
         dims={"n": (1, 4), "d": (1, 4), "m": (1, 4)},
         math="x.reshape(N, D) w + b for x of shape (N, d1, ..., dk);  dx = (dout wᵀ).reshape(x.shape)"),
    Spec("batchnorm_running", inputs={"x": "n d", "gamma": "d", "beta": "d"},
         hyper={"eps": choice(1e-5), "momentum": choice(0.9, 0.5)}, reference=_batchnorm,
         properties=("running_stats",), dims={"n": (2, 5)},
         math="γ (x - mean₀ x) / √(var₀ x + ε) + β in train mode; running mean and variance "
              "updated as m·running + (1 - m)·batch; test mode normalises with them"),
    Spec("spatial_batchnorm", inputs={"x": "n c h w", "gamma": "c", "beta": "c"},
         hyper={"eps": choice(1e-5), "momentum": choice(0.9, 0.5)}, reference=_spatial_batchnorm,
         properties=("running_stats",), dims={"n": (1, 3), "c": (1, 3), "h": (1, 3), "w": (1, 3)},
         where=lambda dims, hyper: dims["n"] * dims["h"] * dims["w"] > 1,
         math="batchnorm of each channel over (N, H, W); running statistics as in batchnorm"),
    Spec("spatial_groupnorm", inputs={"x": "n g*cg h w", "gamma": "1 g*cg 1 1", "beta": "1 g*cg 1 1"},
         hyper={"G": hyper(lambda dims: st.just(dims["g"]), "the number of groups, dividing C"), "eps": choice(1e-5)},
         reference=_spatial_groupnorm, dims={"n": (1, 2), "g": (1, 3), "cg": (1, 3), "h": (1, 3), "w": (1, 3)},
         where=lambda dims, hyper: dims["cg"] * dims["h"] * dims["w"] > 1,
         math="x split into G groups of C/G channels, each group of each sample normalised over (C/G, H, W); "
              "then γ·x̂ + β with γ, β of shape (1, C, 1, 1)"),
    Spec("max_pool", inputs={"x": "n c h w"},
         hyper={"pool_height": choice(2, 1, 3), "pool_width": choice(2, 1, 3), "stride": choice(2, 1, 3)},
         reference=_max_pool, kinks=_pool_gaps, where=_pool_fits, dims=_IMAGE_DIMS,
         math="max over each pool_height×pool_width window, step stride;  dout goes to each window's maximum "
              "(added where windows overlap)"),
    Spec("dropout_any", inputs={"x": nonzero("n d")},
         hyper={"p": choice(0.5, 0.25, 0.75, 0.1, 0.9), "mode": choice("train", "test"), "seed": integers(0, 2**31 - 1)},
         stochastic=True, properties=("dropout_mask",), dims={"n": (1, 6), "d": (1, 6)},
         math="inverted dropout with any RNG: every element 0 or x/keep (keep = p, or 1 - p, the same reading "
              "throughout); dx = dout · out / x; test mode: out = x"),
]
