"""JAX primitives evaluated with NumPy, for the rounding estimate (oracle.rounding).

Interpreting the reference's VJP with NumPy costs no compilation, so a new shape costs
microseconds instead of the seconds XLA takes to compile a disturbed program. A primitive not
listed here is evaluated by JAX itself (compiled once per shape): correct, only slower.
"""

from __future__ import annotations

import string
from collections.abc import Callable
from typing import Any

import numpy as np


def _dtype(params: dict, default=np.float64):
    dtype = params.get("new_dtype") or params.get("dtype")
    try:
        return np.dtype(dtype) if dtype is not None else np.dtype(default)
    except TypeError:
        return np.dtype(default)


def _broadcast_in_dim(x, shape, broadcast_dimensions, **_):
    x = np.asarray(x)
    expanded = [1] * len(shape)
    for axis, size in zip(broadcast_dimensions, x.shape):
        expanded[axis] = size
    return np.broadcast_to(x.reshape(expanded), tuple(shape)).copy()


def _dot_general(a, b, dimension_numbers, **_):
    (contract_a, contract_b), (batch_a, batch_b) = dimension_numbers
    letters = iter(string.ascii_letters)
    sa = [None] * np.ndim(a)
    sb = [None] * np.ndim(b)
    for i, j in zip(batch_a, batch_b):
        sa[i] = sb[j] = next(letters)
    for i, j in zip(contract_a, contract_b):
        sa[i] = sb[j] = next(letters)
    for k in range(len(sa)):
        sa[k] = sa[k] or next(letters)
    for k in range(len(sb)):
        sb[k] = sb[k] or next(letters)
    batch = [sa[i] for i in batch_a]
    free_a = [sa[i] for i in range(len(sa)) if i not in batch_a and i not in contract_a]
    free_b = [sb[j] for j in range(len(sb)) if j not in batch_b and j not in contract_b]
    out = "".join(batch + free_a + free_b)
    return np.einsum(f"{''.join(sa)},{''.join(sb)}->{out}", a, b)


def _pad(x, padding_value, padding_config, **_):
    x = np.asarray(x)
    for axis, (low, high, interior) in enumerate(padding_config):
        if interior:
            n = x.shape[axis]
            shape = list(x.shape)
            shape[axis] = n + (n - 1) * interior if n else 0
            spread = np.full(shape, padding_value, dtype=x.dtype)
            index = [slice(None)] * x.ndim
            index[axis] = slice(None, None, interior + 1)
            spread[tuple(index)] = x
            x = spread
        for amount, at_start in ((low, True), (high, False)):
            if amount > 0:
                shape = list(x.shape)
                shape[axis] = amount
                block = np.full(shape, padding_value, dtype=x.dtype)
                x = np.concatenate([block, x] if at_start else [x, block], axis=axis)
            elif amount < 0:
                index = [slice(None)] * x.ndim
                index[axis] = slice(-amount, None) if at_start else slice(None, x.shape[axis] + amount)
                x = x[tuple(index)]
    return x


def _slice(x, start_indices, limit_indices, strides=None, **_):
    strides = strides or (1,) * len(start_indices)
    return np.asarray(x)[tuple(slice(s, e, k) for s, e, k in zip(start_indices, limit_indices, strides))]


def _iota(dtype, shape, dimension, **_):
    values = np.arange(shape[dimension], dtype=np.dtype(dtype))
    expanded = [1] * len(shape)
    expanded[dimension] = shape[dimension]
    return np.broadcast_to(values.reshape(expanded), tuple(shape)).copy()


def _select_n(which, *cases):
    which = np.asarray(which)
    return np.choose(which.astype(np.int64), np.broadcast_arrays(*cases)) if which.dtype != bool else \
        np.where(which, cases[1], cases[0])


def _cumsum(x, axis, reverse=False, **_):
    x = np.asarray(x)
    if reverse:
        return np.flip(np.cumsum(np.flip(x, axis), axis=axis), axis)
    return np.cumsum(x, axis=axis)


def _argmax(x, axes, index_dtype, **_):
    return np.argmax(x, axis=axes[0]).astype(np.dtype(index_dtype))


def _logistic(x, **_):
    x = np.asarray(x)
    with np.errstate(over="ignore"):
        return 1 / (1 + np.exp(-x))


IMPLEMENTATIONS: dict[str, Callable[..., Any]] = {
    "neg": lambda x, **_: -np.asarray(x),
    "exp": lambda x, **_: np.exp(x),
    "exp2": lambda x, **_: np.exp2(x),
    "log": lambda x, **_: np.log(x),
    "log1p": lambda x, **_: np.log1p(x),
    "expm1": lambda x, **_: np.expm1(x),
    "tanh": lambda x, **_: np.tanh(x),
    "logistic": _logistic,
    "sin": lambda x, **_: np.sin(x),
    "cos": lambda x, **_: np.cos(x),
    "sqrt": lambda x, **_: np.sqrt(x),
    "rsqrt": lambda x, **_: 1 / np.sqrt(x),
    "square": lambda x, **_: np.square(x),
    "abs": lambda x, **_: np.abs(x),
    "sign": lambda x, **_: np.sign(x),
    "floor": lambda x, **_: np.floor(x),
    "ceil": lambda x, **_: np.ceil(x),
    "integer_pow": lambda x, y, **_: np.asarray(x, dtype=np.float64) ** y if y < 0 else np.asarray(x) ** y,
    "add": lambda a, b, **_: np.add(a, b),
    "add_any": lambda a, b, **_: np.add(a, b),
    "sub": lambda a, b, **_: np.subtract(a, b),
    "mul": lambda a, b, **_: np.multiply(a, b),
    "div": lambda a, b, **_: np.divide(a, b) if np.asarray(a).dtype.kind == "f" or np.asarray(b).dtype.kind == "f"
    else np.floor_divide(a, b),
    "rem": lambda a, b, **_: np.fmod(a, b),
    "pow": lambda a, b, **_: np.power(a, b),
    "max": lambda a, b, **_: np.maximum(a, b),
    "min": lambda a, b, **_: np.minimum(a, b),
    "eq": lambda a, b, **_: np.equal(a, b),
    "ne": lambda a, b, **_: np.not_equal(a, b),
    "lt": lambda a, b, **_: np.less(a, b),
    "le": lambda a, b, **_: np.less_equal(a, b),
    "gt": lambda a, b, **_: np.greater(a, b),
    "ge": lambda a, b, **_: np.greater_equal(a, b),
    "and": lambda a, b, **_: np.logical_and(a, b) if np.asarray(a).dtype == bool else np.bitwise_and(a, b),
    "or": lambda a, b, **_: np.logical_or(a, b) if np.asarray(a).dtype == bool else np.bitwise_or(a, b),
    "not": lambda a, **_: np.logical_not(a) if np.asarray(a).dtype == bool else np.invert(a),
    "select_n": lambda which, *cases, **_: _select_n(which, *cases),
    "clamp": lambda lo, x, hi, **_: np.clip(x, lo, hi),
    "reduce_sum": lambda x, axes, **_: np.sum(x, axis=tuple(axes)),
    "reduce_max": lambda x, axes, **_: np.max(x, axis=tuple(axes)),
    "reduce_min": lambda x, axes, **_: np.min(x, axis=tuple(axes)),
    "argmax": _argmax,
    "cumsum": _cumsum,
    "broadcast_in_dim": _broadcast_in_dim,
    "reshape": lambda x, new_sizes, **_: np.reshape(x, tuple(new_sizes)),
    "transpose": lambda x, permutation, **_: np.transpose(x, permutation),
    "squeeze": lambda x, dimensions, **_: np.squeeze(x, axis=tuple(dimensions)),
    "expand_dims": lambda x, dimensions, **_: np.expand_dims(x, tuple(dimensions)),
    "rev": lambda x, dimensions, **_: np.flip(x, axis=tuple(dimensions)),
    "convert_element_type": lambda x, **params: np.asarray(x).astype(_dtype(params)),
    "copy": lambda x, **_: np.array(x),
    "copy_p": lambda x, **_: np.array(x),
    "stop_gradient": lambda x, **_: np.asarray(x),
    "dot_general": _dot_general,
    "pad": _pad,
    "slice": _slice,
    "concatenate": lambda *xs, dimension, **_: np.concatenate(xs, axis=dimension),
    "iota": _iota,
    "stack": lambda *xs, axis, **_: np.stack(xs, axis=axis),
    "unstack": lambda x, axis, **_: [np.take(x, i, axis=axis) for i in range(np.shape(x)[axis])],
    "split": lambda x, sizes, axis, **_: np.split(x, np.cumsum(sizes)[:-1], axis=axis),
    "is_finite": lambda x, **_: np.isfinite(x),
}
