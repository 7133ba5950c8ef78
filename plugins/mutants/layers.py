"""Wrong network layers: CS231n-style forward/backward pairs with one mistake each."""

from __future__ import annotations

import numpy as np


# --------------------------------------------------------------------------- normalisation

def batchnorm_forward(x, gamma, beta, eps):
    centred = x - x.mean(axis=0)
    inv_std = 1 / np.sqrt((centred**2).mean(axis=0) + eps)
    xhat = centred * inv_std
    return gamma * xhat + beta, (xhat, gamma, inv_std)


def batchnorm_backward_missing_mean(dout, cache):
    """The term that comes through the batch mean, -mean(dxhat), is left out of dx."""
    xhat, gamma, inv_std = cache
    dxhat = dout * gamma
    dx = inv_std * (dxhat - xhat * (dxhat * xhat).mean(axis=0))
    return dx, (dout * xhat).sum(axis=0), dout.sum(axis=0)


def layernorm_forward(x, gamma, beta, eps):
    centred = x - x.mean(axis=1, keepdims=True)
    inv_std = 1 / np.sqrt((centred**2).mean(axis=1, keepdims=True) + eps)
    xhat = centred * inv_std
    return gamma * xhat + beta, (xhat, gamma, inv_std)


def layernorm_backward_dgamma_not_reduced(dout, cache):
    """dgamma left per row: gamma is broadcast over the batch, so its gradient must be summed over it."""
    xhat, gamma, inv_std = cache
    dxhat = dout * gamma
    dx = inv_std * (dxhat - dxhat.mean(axis=1, keepdims=True) - xhat * (dxhat * xhat).mean(axis=1, keepdims=True))
    return dx, dout * xhat, dout.sum(axis=0)


# --------------------------------------------------------------------------- convolution and pooling

def conv2d_forward(x, w, b, stride, pad):
    n, _, height, width = x.shape
    filters, _, hh, ww = w.shape
    padded = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    out_h, out_w = 1 + (height + 2 * pad - hh) // stride, 1 + (width + 2 * pad - ww) // stride
    out = np.zeros((n, filters, out_h, out_w), dtype=x.dtype)
    for i in range(out_h):
        for j in range(out_w):
            window = padded[:, :, i * stride:i * stride + hh, j * stride:j * stride + ww]
            out[:, :, i, j] = np.tensordot(window, w, axes=([1, 2, 3], [1, 2, 3]))
    return out + b[None, :, None, None], (padded, w, stride, pad, x.shape)


def conv2d_backward_db_not_reduced(dout, cache):
    """db summed over the batch only: the bias is shared by every output position too."""
    padded, w, stride, pad, shape = cache
    _, _, hh, ww = w.shape
    dpadded, dw = np.zeros_like(padded), np.zeros_like(w)
    for i in range(dout.shape[2]):
        for j in range(dout.shape[3]):
            rows, cols = slice(i * stride, i * stride + hh), slice(j * stride, j * stride + ww)
            g = dout[:, :, i, j]
            dw += np.tensordot(g, padded[:, :, rows, cols], axes=([0], [0]))
            dpadded[:, :, rows, cols] += np.tensordot(g, w, axes=([1], [0]))
    dx = dpadded[:, :, pad:pad + shape[2], pad:pad + shape[3]]
    return dx, dw, dout.sum(axis=0)


def max_pool2d_forward(x, size, stride):
    n, c, height, width = x.shape
    out_h, out_w = 1 + (height - size) // stride, 1 + (width - size) // stride
    out = np.empty((n, c, out_h, out_w), dtype=x.dtype)
    for i in range(out_h):
        for j in range(out_w):
            out[:, :, i, j] = x[:, :, i * stride:i * stride + size, j * stride:j * stride + size].max(axis=(2, 3))
    return out, (x, size, stride)


def max_pool2d_backward_overwrites(dout, cache):
    """Each window assigns its gradient instead of adding it: overlapping windows overwrite each other."""
    x, size, stride = cache
    dx = np.zeros_like(x)
    for i in range(dout.shape[2]):
        for j in range(dout.shape[3]):
            rows, cols = slice(i * stride, i * stride + size), slice(j * stride, j * stride + size)
            window = x[:, :, rows, cols]
            at_max = window == window.max(axis=(2, 3), keepdims=True)
            dx[:, :, rows, cols] = at_max * dout[:, :, i, j][:, :, None, None]
    return dx


# --------------------------------------------------------------------------- dropout

def _keep(shape, p, seed):
    return np.random.default_rng(seed).random(shape) >= p


def dropout_not_rescaled(x, p, seed):
    """The forward divides by 1 - p; the backward forgets to."""
    keep = _keep(x.shape, p, seed)
    return x * keep / (1 - p), lambda g: (g * keep,)


def dropout_mask_redrawn(x, p, seed):
    """The backward draws a new mask, without the seed, instead of reusing the forward's."""
    keep = _keep(x.shape, p, seed)

    def pullback(g):
        redrawn = np.random.default_rng().random(x.shape) >= p
        return (g * redrawn / (1 - p),)

    return x * keep / (1 - p), pullback


def register(plugin) -> None:
    plugin.layer("batchnorm", batchnorm_forward, batchnorm_backward_missing_mean, name="batchnorm_missing_mean_term")
    plugin.layer("layernorm", layernorm_forward, layernorm_backward_dgamma_not_reduced, name="layernorm_dgamma_not_reduced")
    plugin.layer("conv2d", conv2d_forward, conv2d_backward_db_not_reduced, name="conv2d_db_not_reduced")
    plugin.layer("max_pool2d", max_pool2d_forward, max_pool2d_backward_overwrites, name="max_pool2d_overlap_overwritten")
    plugin.pullback("dropout", dropout_not_rescaled, name="dropout_not_rescaled")
    plugin.pullback("dropout", dropout_mask_redrawn, name="dropout_mask_redrawn")
