"""Convolution and pooling backward passes with one mistake each: a flipped or transposed kernel,
or contributions of overlapping windows overwritten instead of accumulated."""

from __future__ import annotations

import numpy as np

from .layers import conv2d_forward, max_pool2d_forward


def _conv_backward(dout, cache, kernel_for_dx=None, assign=False):
    padded, w, stride, pad, shape = cache
    _, _, hh, ww = w.shape
    k = w if kernel_for_dx is None else kernel_for_dx
    dpadded, dw = np.zeros_like(padded), np.zeros_like(w)
    for i in range(dout.shape[2]):
        for j in range(dout.shape[3]):
            rows, cols = slice(i * stride, i * stride + hh), slice(j * stride, j * stride + ww)
            g = dout[:, :, i, j]
            dw += np.tensordot(g, padded[:, :, rows, cols], axes=([0], [0]))
            if assign:
                dpadded[:, :, rows, cols] = np.tensordot(g, k, axes=([1], [0]))
            else:
                dpadded[:, :, rows, cols] += np.tensordot(g, k, axes=([1], [0]))
    dx = dpadded[:, :, pad:pad + shape[2], pad:pad + shape[3]]
    return dx, dw, dout.sum(axis=(0, 2, 3))


def conv2d_backward_dw_flipped(dout, cache):
    """dw comes out with its spatial axes reversed (a convolution where a correlation was meant)."""
    dx, dw, db = _conv_backward(dout, cache)
    return dx, dw[:, :, ::-1, ::-1], db


def conv2d_backward_dx_kernel_flipped(dout, cache):
    """dx computed with the kernel flipped: the forward is a correlation, so its transpose uses w as it is."""
    w = cache[1]
    return _conv_backward(dout, cache, kernel_for_dx=w[:, :, ::-1, ::-1])


def conv2d_backward_dw_transposed(dout, cache):
    """dw with its two spatial axes swapped (rows for columns)."""
    dx, dw, db = _conv_backward(dout, cache)
    return dx, np.swapaxes(dw, 2, 3), db


def conv2d_backward_dw_channels_swapped(dout, cache):
    """dw with the filter and channel axes swapped."""
    dx, dw, db = _conv_backward(dout, cache)
    return dx, np.swapaxes(dw, 0, 1), db


def conv2d_backward_dx_channels_swapped(dout, cache):
    """dx computed with the kernel's filter and channel axes swapped (it only runs when there are as
    many filters as channels, so the mistake shows only then)."""
    w = cache[1]
    return _conv_backward(dout, cache, kernel_for_dx=np.swapaxes(w, 0, 1) if w.shape[0] == w.shape[1] else w)


def conv2d_backward_dx_overwritten(dout, cache):
    """Each window assigns its share of dx: where windows overlap, the last one wins."""
    return _conv_backward(dout, cache, assign=True)


def max_pool2d_backward_assigns_at_max(dout, cache):
    """Only the maximum's position is assigned (dx[max] = g): an element that is the maximum of two
    overlapping windows keeps only the last window's gradient."""
    x, size, stride = cache
    dx = np.zeros_like(x)
    n, c = x.shape[:2]
    for i in range(dout.shape[2]):
        for j in range(dout.shape[3]):
            window = x[:, :, i * stride:i * stride + size, j * stride:j * stride + size].reshape(n, c, -1)
            r, q = np.unravel_index(window.argmax(axis=2), (size, size))
            for a in range(n):
                for b in range(c):
                    dx[a, b, i * stride + r[a, b], j * stride + q[a, b]] = dout[a, b, i, j]
    return dx


def register(plugin) -> None:
    plugin.layer("conv2d", conv2d_forward, conv2d_backward_dw_flipped, name="conv2d_dw_flipped")
    plugin.layer("conv2d", conv2d_forward, conv2d_backward_dx_kernel_flipped, name="conv2d_dx_kernel_flipped")
    plugin.layer("conv2d", conv2d_forward, conv2d_backward_dw_transposed, name="conv2d_dw_transposed")
    plugin.layer("conv2d", conv2d_forward, conv2d_backward_dw_channels_swapped, name="conv2d_dw_channels_swapped")
    plugin.layer("conv2d", conv2d_forward, conv2d_backward_dx_channels_swapped, name="conv2d_dx_channels_swapped")
    plugin.layer("conv2d", conv2d_forward, conv2d_backward_dx_overwritten, name="conv2d_dx_overwritten")
    plugin.layer("max_pool2d", max_pool2d_forward, max_pool2d_backward_assigns_at_max, name="max_pool2d_assigns_at_max")
