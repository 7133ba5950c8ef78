"""Correct fast conv and pool layers in the style of CS231n's fast_layers.py, in NumPy only
(no Cython): im2col by strided views. Like the course's, they assert that sizes divide evenly."""
import numpy as np


def _im2col(x_pad, HH, WW, stride, H_out, W_out):
    N, C = x_pad.shape[:2]
    cols = np.empty((N, C, HH, WW, H_out, W_out), dtype=x_pad.dtype)
    for i in range(HH):
        for j in range(WW):
            cols[:, :, i, j] = x_pad[:, :, i:i + stride * H_out:stride, j:j + stride * W_out:stride]
    return cols


def conv_forward_fast(x, w, b, conv_param):
    N, C, H, W = x.shape
    F, _, HH, WW = w.shape
    stride, pad = conv_param["stride"], conv_param["pad"]
    assert (W + 2 * pad - WW) % stride == 0, "width does not work"
    assert (H + 2 * pad - HH) % stride == 0, "height does not work"
    H_out = (H + 2 * pad - HH) // stride + 1
    W_out = (W + 2 * pad - WW) // stride + 1
    x_pad = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)), mode="constant")
    cols = _im2col(x_pad, HH, WW, stride, H_out, W_out)
    out = np.einsum("ncijpq,fcij->nfpq", cols, w) + b.reshape(1, -1, 1, 1)
    cache = (x, w, b, conv_param, cols)
    return out, cache


def conv_backward_fast(dout, cache):
    x, w, b, conv_param, cols = cache
    stride, pad = conv_param["stride"], conv_param["pad"]
    N, C, H, W = x.shape
    F, _, HH, WW = w.shape
    H_out, W_out = dout.shape[2:]
    db = np.sum(dout, axis=(0, 2, 3))
    dw = np.einsum("nfpq,ncijpq->fcij", dout, cols)
    dcols = np.einsum("nfpq,fcij->ncijpq", dout, w)
    dx_pad = np.zeros((N, C, H + 2 * pad, W + 2 * pad), dtype=dout.dtype)
    for i in range(HH):
        for j in range(WW):
            dx_pad[:, :, i:i + stride * H_out:stride, j:j + stride * W_out:stride] += dcols[:, :, i, j]
    dx = dx_pad[:, :, pad:pad + H, pad:pad + W]
    return dx, dw, db


def max_pool_forward_fast(x, pool_param):
    N, C, H, W = x.shape
    ph, pw, stride = pool_param["pool_height"], pool_param["pool_width"], pool_param["stride"]
    assert (H - ph) % stride == 0, "Invalid height"
    assert (W - pw) % stride == 0, "Invalid width"
    H_out = (H - ph) // stride + 1
    W_out = (W - pw) // stride + 1
    cols = _im2col(x, ph, pw, stride, H_out, W_out).reshape(N, C, ph * pw, H_out, W_out)
    arg = np.argmax(cols, axis=2)
    out = np.take_along_axis(cols, arg[:, :, None], axis=2)[:, :, 0]
    cache = (x.shape, pool_param, arg)
    return out, cache


def max_pool_backward_fast(dout, cache):
    shape, pool_param, arg = cache
    pw, stride = pool_param["pool_width"], pool_param["stride"]
    dx = np.zeros(shape, dtype=dout.dtype)
    r, s = np.divmod(arg, pw)
    n, c, i, j = np.indices(dout.shape)
    np.add.at(dx, (n, c, i * stride + r, j * stride + s), dout)
    return dx
