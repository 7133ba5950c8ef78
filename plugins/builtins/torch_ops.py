"""torch built-ins for catalogue ops: torch.tanh, torch.matmul and torch.nn.functional."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def softmax(x):
    return F.softmax(x, dim=-1)


def log_softmax(x):
    return F.log_softmax(x, dim=-1)


def cross_entropy(x, y):
    return F.cross_entropy(x, y)


def layer_norm(x, gamma, beta, eps):
    return F.layer_norm(x, x.shape[-1:], gamma, beta, eps)


def conv2d(x, w, b, stride, pad):
    return F.conv2d(x, w, b, stride=stride, padding=pad)


def max_pool2d(x, size, stride):
    return F.max_pool2d(x, size, stride)


def leaky_relu(x, alpha):
    return F.leaky_relu(x, alpha)


def register(plugin) -> None:
    for op, fn in [("add", torch.add), ("sub", torch.sub), ("mul", torch.mul), ("div", torch.div),
                   ("neg", torch.neg), ("max", torch.maximum), ("min", torch.minimum), ("exp", torch.exp),
                   ("log", torch.log), ("reciprocal", torch.reciprocal), ("sigmoid", torch.sigmoid),
                   ("tanh", torch.tanh), ("relu", F.relu), ("leaky_relu", leaky_relu), ("matmul", torch.matmul),
                   ("dot", torch.dot), ("softmax", softmax), ("log_softmax", log_softmax),
                   ("softmax_cross_entropy", cross_entropy), ("mse", F.mse_loss), ("max_pool2d", max_pool2d)]:
        plugin.torch(op, fn, name=f"{op}_torch")
    # torch 2.13's CPU bfloat16 conv2d leaves weight-gradient elements that only meet padding
    # uninitialised: with a 1x1 image, stride 2 and padding 1 the same call gives 0, 3.5e-17 or -112.5
    # from one call to the next. The oracle flags it (determinism, reference); it is not ours to excuse.
    plugin.torch("conv2d", conv2d, name="conv2d_torch", dtypes=("float64", "float32", "float16"))
    # torch's forward-mode rule for layer_norm overflows float16 where a row's variance is ~0
    # (rstd³ > 65504, then inf·0 = NaN); its reverse mode is fine there. (F.batch_norm refuses a
    # batch of one in training mode, which the catalogue's batchnorm allows: not registered.)
    plugin.torch("layernorm", layer_norm, name="layernorm_torch", dtypes=("float64", "float32", "bfloat16"))
