"""Network layers: batchnorm, layernorm, conv2d, max_pool2d, dropout.

Images are NCHW; convolution weights are (F, C, HH, WW). Output sides are floored, as in PyTorch.
"""

from dataclasses import replace

import jax
import jax.numpy as jnp
import numpy as np

from oracle.spec import Padding, Spec, choice, integers

# Small batches and channel counts are enough to exercise every index of a conv or pool;
# larger ones only make finite differences slower.
_IMAGE_DIMS = {"n": (1, 3), "c": (1, 3), "h": (1, 5), "w": (1, 5)}


def _normalise(x, gamma, beta, eps, axis):
    mean = jnp.mean(x, axis=axis, keepdims=True)
    var = jnp.mean((x - mean) ** 2, axis=axis, keepdims=True)  # biased, as in training mode
    return gamma * (x - mean) / jnp.sqrt(var + eps) + beta


def _windows(x, hh, ww, stride):
    """Strided views of x (N, C, H, W), one per window offset: shape (N, C, hh, ww, out_h, out_w).

    Plain slicing keeps the gradients to pads, slices and sums: the gradient of
    lax.conv_general_dilated with stride 2 aborts the whole process on some shapes (XLA's
    CPU algebraic simplifier, e.g. x (1,1,1,4), w (3,1,2,2), stride 2, pad 1).
    """
    out_h = 1 + (x.shape[2] - hh) // stride
    out_w = 1 + (x.shape[3] - ww) // stride
    rows = []
    for i in range(hh):
        cols = [x[:, :, i:i + stride * (out_h - 1) + 1:stride, j:j + stride * (out_w - 1) + 1:stride]
                for j in range(ww)]
        rows.append(jnp.stack(cols, axis=2))
    return jnp.stack(rows, axis=2)


def _conv2d(x, w, b, stride, pad):
    padded = jnp.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    patches = _windows(padded, w.shape[2], w.shape[3], stride)
    out = jnp.einsum("ncijpq,fcij->nfpq", patches, w, precision=jax.lax.Precision.HIGHEST)
    return out + b[None, :, None, None]


def _conv_fits(dims, hyper):
    pad = hyper["pad"]
    return dims["hh"] <= dims["h"] + 2 * pad and dims["ww"] <= dims["w"] + 2 * pad


def _max_pool2d(x, size, stride):
    # The gradient of a max goes to the window's largest value (unique away from the kinks).
    return jnp.max(_windows(x, size, size, stride), axis=(2, 3))


def _pool_windows(x, size, stride):
    """Every pooling window's values, flattened: shape (N, C, out_h, out_w, size * size)."""
    windows = np.lib.stride_tricks.sliding_window_view(x, (size, size), axis=(2, 3))
    windows = windows[:, :, ::stride, ::stride]
    return windows.reshape(windows.shape[:4] + (size * size,))


def _pool_gaps(x, size, stride):
    # Max pooling is not differentiable where a window's two largest values tie.
    if size == 1:
        return np.zeros(0)
    ordered = np.sort(_pool_windows(np.asarray(x), size, stride), axis=-1)
    return (ordered[..., -1] - ordered[..., -2]).ravel()


def _pool_fits(dims, hyper):
    return hyper["size"] <= dims["h"] and hyper["size"] <= dims["w"]


def dropout_mask(shape, p, seed):
    """The mask every dropout implementation must use: kept where a uniform draw is >= p."""
    return np.random.default_rng(seed).random(shape) >= p


def _dropout(x, p, seed):
    # The mask is data, not a function of x: the gradient is dout * mask / (1 - p). The seed and p
    # are traced (one compiled program serves every seed and p), so NumPy draws the mask in a callback.
    mask = jax.pure_callback(lambda s, q: dropout_mask(x.shape, float(q), int(s)),
                             jax.ShapeDtypeStruct(x.shape, jnp.bool_), seed, p, vmap_method="sequential")
    return x * mask.astype(x.dtype) / (1.0 - p)


SPECS = [
    Spec("batchnorm", inputs={"x": "n d", "gamma": "d", "beta": "d"}, hyper={"eps": choice(1e-5)},
         reference=lambda x, gamma, beta, eps: _normalise(x, gamma, beta, eps, axis=0), padded=("d",),
         math="γ (x - mean₀ x) / √(var₀ x + ε) + β, batch statistics over axis 0 (biased variance)"),
    Spec("layernorm", inputs={"x": "n d", "gamma": "d", "beta": "d"}, hyper={"eps": choice(1e-5)},
         reference=lambda x, gamma, beta, eps: _normalise(x, gamma, beta, eps, axis=-1), padded=("n",),
         math="γ (x - mean x) / √(var x + ε) + β, statistics of each row (biased variance)"),
    Spec("conv2d", inputs={"x": "n c h w", "w": "f c hh ww", "b": "f"},
         hyper={"stride": choice(1, 2), "pad": choice(0, 1, 2)},
         reference=_conv2d, where=_conv_fits, padded=("n", "c", "f", "h", "w"),
         padding=Padding(windows={"hh": "h", "ww": "w"}),
         dims={**_IMAGE_DIMS, "f": (1, 3), "hh": (1, 3), "ww": (1, 3)},
         math="out[n,f] = Σ_c x_padded[n,c] ⋆ w[f,c] (cross-correlation, zero padding) + b[f]"),
    Spec("max_pool2d", inputs={"x": "n c h w"}, hyper={"size": choice(2, 1, 3), "stride": choice(2, 1)},
         reference=_max_pool2d, kinks=_pool_gaps, where=_pool_fits, dims=_IMAGE_DIMS, padded=("n", "c", "h", "w"),
         math="max over each size×size window, step stride;  dout goes to each window's maximum"),
    Spec("dropout", inputs={"x": "n d"},
         hyper={"p": replace(choice(0.5, 0.0, 0.25, 0.75), traced=True),
                "seed": replace(integers(0, 2**32 - 1), traced=True)},
         # Elementwise too: NumPy draws a mask in C order, so the first elements of a longer draw are
         # the draw of a shorter one, and the flat, padded layout keeps every element's mask.
         reference=_dropout, elementwise=True,
         math="x · mask / (1 - p),  mask = default_rng(seed).random(x.shape) >= p"),
]
