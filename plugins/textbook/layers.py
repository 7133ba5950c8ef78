"""Layers as CS231n's assignments write them: closed-form backward passes and naive loops."""

from __future__ import annotations

import numpy as np

# --------------------------------------------------------------------------- normalisation

def batchnorm_forward(x, gamma, beta, eps):
    mu = x.mean(axis=0)
    var = x.var(axis=0)
    istd = 1 / np.sqrt(var + eps)
    xhat = (x - mu) * istd
    return gamma * xhat + beta, (xhat, gamma, istd)


def batchnorm_backward_alt(dout, cache):
    """The one-line closed form: dx = (N·dout − Σdout − x̂·Σ(dout·x̂))·γ·istd/N.

    With a batch of one the true dx is 0; the three terms cancel to a rounding unit of them."""
    xhat, gamma, istd = cache
    n = dout.shape[0]
    dgamma = np.sum(dout * xhat, axis=0)
    dbeta = np.sum(dout, axis=0)
    dx = (n * dout - dbeta - xhat * dgamma) * gamma * istd / n
    return dx, dgamma, dbeta


def batchnorm_forward_staged(x, gamma, beta, eps):
    """The computational graph, node by node, as in the well-known step-by-step derivation."""
    n = x.shape[0]
    mu = 1.0 / n * np.sum(x, axis=0)
    xmu = x - mu
    sq = xmu**2
    var = 1.0 / n * np.sum(sq, axis=0)
    sqrtvar = np.sqrt(var + eps)
    ivar = 1.0 / sqrtvar
    xhat = xmu * ivar
    return gamma * xhat + beta, (xhat, gamma, xmu, ivar, sqrtvar, var, eps)


def batchnorm_backward_staged(dout, cache):
    xhat, gamma, xmu, ivar, sqrtvar, var, eps = cache
    n = dout.shape[0]
    dbeta = np.sum(dout, axis=0)
    dgamma = np.sum(dout * xhat, axis=0)
    dxhat = dout * gamma
    divar = np.sum(dxhat * xmu, axis=0)
    dxmu1 = dxhat * ivar
    dsqrtvar = -1.0 / (sqrtvar**2) * divar
    dvar = 0.5 * 1.0 / np.sqrt(var + eps) * dsqrtvar
    dsq = 1.0 / n * np.ones_like(dout) * dvar
    dxmu2 = 2 * xmu * dsq
    dx1 = dxmu1 + dxmu2
    dmu = -1 * np.sum(dx1, axis=0)
    dx2 = 1.0 / n * np.ones_like(dout) * dmu
    return dx1 + dx2, dgamma, dbeta


def layernorm_forward(x, gamma, beta, eps):
    """Layer normalisation as batchnorm of the transpose, the assignment's hint."""
    _, (xhat_t, _, istd) = batchnorm_forward(x.T, np.ones(x.shape[0], dtype=x.dtype),
                                                 np.zeros(x.shape[0], dtype=x.dtype), eps)
    xhat = xhat_t.T
    return gamma * xhat + beta, (xhat, gamma, istd)


def layernorm_backward(dout, cache):
    """With one feature (D = 1) the true dx is 0 and the closed form cancels to noise."""
    xhat, gamma, istd = cache
    dgamma = np.sum(dout * xhat, axis=0)
    dbeta = np.sum(dout, axis=0)
    dxhat_t = (dout * gamma).T
    d = dxhat_t.shape[0]
    dx_t = (d * dxhat_t - dxhat_t.sum(axis=0) - xhat.T * (dxhat_t * xhat.T).sum(axis=0)) * istd / d
    return dx_t.T, dgamma, dbeta


# --------------------------------------------------------------------------- convolution and pooling

def conv_forward_naive(x, w, b, stride, pad):
    n, _, height, width = x.shape
    f, _, hh, ww = w.shape
    xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)), mode="constant")
    out_h = 1 + (height + 2 * pad - hh) // stride
    out_w = 1 + (width + 2 * pad - ww) // stride
    out = np.zeros((n, f, out_h, out_w), dtype=x.dtype)
    for i in range(n):
        for k in range(f):
            for r in range(out_h):
                for c in range(out_w):
                    window = xp[i, :, r * stride:r * stride + hh, c * stride:c * stride + ww]
                    out[i, k, r, c] = np.sum(window * w[k]) + b[k]
    return out, (x, w, stride, pad)


def conv_backward_naive(dout, cache):
    x, w, stride, pad = cache
    _, _, hh, ww = w.shape
    xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)), mode="constant")
    dxp, dw = np.zeros_like(xp), np.zeros_like(w)
    db = np.sum(dout, axis=(0, 2, 3))
    n, f, out_h, out_w = dout.shape
    for i in range(n):
        for k in range(f):
            for r in range(out_h):
                for c in range(out_w):
                    rows, cols = slice(r * stride, r * stride + hh), slice(c * stride, c * stride + ww)
                    dw[k] += xp[i, :, rows, cols] * dout[i, k, r, c]
                    dxp[i, :, rows, cols] += w[k] * dout[i, k, r, c]
    return dxp[:, :, pad:pad + x.shape[2], pad:pad + x.shape[3]], dw, db


def max_pool_forward_naive(x, size, stride):
    n, c, height, width = x.shape
    out_h, out_w = 1 + (height - size) // stride, 1 + (width - size) // stride
    out = np.zeros((n, c, out_h, out_w), dtype=x.dtype)
    for r in range(out_h):
        for col in range(out_w):
            out[:, :, r, col] = np.max(x[:, :, r * stride:r * stride + size, col * stride:col * stride + size], axis=(2, 3))
    return out, (x, size, stride)


def max_pool_backward_naive(dout, cache):
    """The mask of each window's maximum times its upstream value, accumulated (windows may overlap)."""
    x, size, stride = cache
    dx = np.zeros_like(x)
    n, c, out_h, out_w = dout.shape
    for i in range(n):
        for ch in range(c):
            for r in range(out_h):
                for col in range(out_w):
                    window = x[i, ch, r * stride:r * stride + size, col * stride:col * stride + size]
                    mask = window == np.max(window)
                    dx[i, ch, r * stride:r * stride + size, col * stride:col * stride + size] += mask * dout[i, ch, r, col]
    return (dx,)


# --------------------------------------------------------------------------- affine

def affine_forward(x, w, b):
    """float64 temporaries, cast back to the input's dtype."""
    out = x.astype(np.float64) @ w.astype(np.float64) + b
    return out.astype(x.dtype), (x, w)


def affine_backward(dout, cache):
    x, w = cache
    d = dout.astype(np.float64)
    return ((d @ w.T.astype(np.float64)).astype(x.dtype), (x.T.astype(np.float64) @ d).astype(w.dtype),
            d.sum(axis=0).astype(x.dtype))


def register(plugin) -> None:
    plugin.layer("batchnorm", batchnorm_forward, batchnorm_backward_alt, name="batchnorm_closed_form")
    plugin.layer("batchnorm", batchnorm_forward_staged, batchnorm_backward_staged, name="batchnorm_staged")
    plugin.layer("layernorm", layernorm_forward, layernorm_backward, name="layernorm_via_transpose")
    plugin.layer("conv2d", conv_forward_naive, conv_backward_naive, name="conv_naive")
    plugin.layer("max_pool2d", max_pool_forward_naive, max_pool_backward_naive, name="max_pool_naive")
    plugin.layer("affine", affine_forward, affine_backward, name="affine_float64_temporaries")
