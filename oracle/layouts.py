"""How a case's arrays are laid out for the reference, so that one compiled program serves many shapes.

JAX compiles a program per input shape, and compiling costs a hundred times more than running a
small one. Two kinds of op let a program compiled for a larger shape give the exact answer at a
smaller one:

- Flat (Spec.elementwise): the value at an element depends on that element alone. Inputs are
  flattened and padded to a power-of-two size (at least MIN_FLAT); the outputs and gradients
  are cut back.
  A reshape (Spec.flat) is evaluated so too, with the hyper-parameters that make it flat.
- Padded (Spec.padded, Spec.padding): along some dims, entries appended to every input (zeros, or
  Padding.fill's values) leave the outputs at the original positions unchanged (independent rows,
  terms of a sum that a zero makes vanish, a window that zeros make larger), or unchanged but for
  the divisor of a mean (Padding.averaged: multiplied back here). Those dims are padded to the
  dim's upper bound where it is small (else to a power of two; a dim averaged over, to a power
  of two in both cases, so that undoing the divisor is exact); the extra output entries get a zero
  upstream gradient, so the gradients at the original positions are unchanged too. The outputs
  and gradients are cut back to the leading block.

A layout is built from the shapes and dtypes of one case's inputs (at the evaluation's precision)
and its static hyper-parameters, once per such signature, and used for the whole evaluation:
static (the hyper-parameters the program is evaluated with), inputs(), cotangent() for each
upstream gradient, cut() for each result.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from functools import lru_cache
from typing import Any, NamedTuple

import numpy as np

from .spec import Spec, SpecError

__all__ = ["Flat", "Padded", "layout"]


def _power_of_two(size: int) -> int:
    return 1 << max(0, (size - 1).bit_length())


# The smallest flat size: every small case of an elementwise op shares one program (running one of
# 256 elements costs microseconds more than one of 4; compiling another costs tens of milliseconds).
MIN_FLAT = 256
# A padded dim whose bound is at most this is padded to the bound itself: one program for every
# size. Past it (a spec of large dims, or a size beyond the bound) it is padded to the next power of
# two, so that padding never makes an evaluation more than twice as large along a dim.
PAD_TO_BOUND = 16


class Flat:
    """An elementwise spec's arrays laid out flat and padded to a power-of-two size."""

    FILL = 1.0    # inside every catalogue domain (log and 1/x need it): padding never makes a NaN or a warning

    def __init__(self, shape: tuple[int, ...], static: tuple = (), same_shape: bool = True) -> None:
        self.shape = shape
        self.size = math.prod(shape)
        self.bucket = max(MIN_FLAT, _power_of_two(self.size))
        self.static = static
        self.same_shape = same_shape    # elementwise: every output has the inputs' shape

    @classmethod
    def of(cls, spec: Spec, inputs: Mapping[str, np.ndarray], static: tuple) -> Flat | None:
        shapes = {a.shape for a in inputs.values()}
        if not (spec.elementwise or spec.flat is not None) or len(shapes) != 1 \
                or any(a.dtype.kind != "f" for a in inputs.values()):
            return None
        if spec.elementwise:
            return cls(shapes.pop(), static)
        flat = dict(spec.flat or {})
        return cls(shapes.pop(), tuple((k, flat.get(k, v)) for k, v in static), same_shape=False)

    def _flat(self, a: np.ndarray, fill: float) -> np.ndarray:
        padded = np.full(self.bucket, fill, dtype=a.dtype)
        padded[: self.size] = np.asarray(a).reshape(-1)
        return padded

    def inputs(self, inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        return {n: self._flat(a, self.FILL) for n, a in inputs.items()}

    def output_shapes(self, spec: Spec, laid_out: list[tuple[int, ...]], at_true_shapes: Any) -> list[tuple[int, ...]]:
        if any(s != (self.bucket,) for s in laid_out):
            raise SpecError(f"spec {spec.name!r} is declared elementwise or flat, but its reference changes the shape")
        if self.same_shape:
            return [self.shape] * len(laid_out)
        shapes = at_true_shapes()
        if any(math.prod(s) != self.size for s in shapes):
            raise SpecError(f"spec {spec.name!r} is declared flat, but its reference changes the number of elements")
        return shapes

    def cotangent(self, c: np.ndarray, laid_out: tuple[int, ...]) -> np.ndarray:
        return self._flat(c, 0.0)

    def cut(self, a: Any, shape: tuple[int, ...]) -> np.ndarray:
        return np.asarray(a)[: self.size].reshape(shape)


class Padded:
    """A spec's arrays with entries appended along its padded dims (Spec.padded, Spec.padding)."""

    def __init__(self, targets: dict[str, tuple[int, ...]], static: tuple = (), scale: tuple[int, int] = (1, 1),
                 fill: Mapping[str, Any] | None = None) -> None:
        self.targets = targets      # input name -> its padded shape
        self.static = static
        self.scale = scale          # (padded count, true count) of the dims averaged over
        self.fill = dict(fill or {})

    @classmethod
    def of(cls, spec: Spec, inputs: Mapping[str, np.ndarray], static: tuple) -> Padded | None:
        windows = dict(spec.padding.windows)
        laid = set(spec.padded) | spec.padding.dims()
        if not laid:
            return None
        sizes: dict[str, int] = {}
        axes: dict[str, list[str | None]] = {}
        for name, a in inputs.items():
            named = spec.axis_dims(name, a.ndim)
            if named is None:
                return None
            axes[name] = [d if d in laid else None for d in named]
            for dim, size in zip(axes[name], a.shape):
                if dim is not None and sizes.setdefault(dim, size) != size:
                    return None     # inputs that disagree on a dim: evaluated as they are, to report it
        averaged = set(spec.padding.averaged_dims(dict(static))) & set(sizes)
        target = _targets(spec, sizes, windows, averaged)
        if all(target[d] == sizes[d] for d in sizes):
            return None
        scale = (math.prod(target[d] for d in averaged), math.prod(sizes[d] for d in averaged))
        return cls({name: tuple(a.shape[i] if d is None else target[d] for i, d in enumerate(axes[name]))
                    for name, a in inputs.items()}, static, scale, spec.padding.fill)

    @staticmethod
    def _grown(a: np.ndarray, shape: tuple[int, ...], fill: Any = None) -> np.ndarray:
        a = np.asarray(a)
        if a.shape == shape:
            return a
        grown = np.zeros(shape, dtype=a.dtype) if fill is None else np.array(fill(shape, a.dtype), dtype=a.dtype)
        grown[tuple(slice(0, s) for s in a.shape)] = a
        return grown

    def inputs(self, inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        return {n: self._grown(a, self.targets[n], self.fill.get(n)) for n, a in inputs.items()}

    def output_shapes(self, spec: Spec, laid_out: list[tuple[int, ...]], at_true_shapes: Any) -> list[tuple[int, ...]]:
        return at_true_shapes()

    def cotangent(self, c: np.ndarray, laid_out: tuple[int, ...]) -> np.ndarray:
        return self._grown(c, tuple(laid_out))

    def cut(self, a: Any, shape: tuple[int, ...]) -> np.ndarray:
        a = np.asarray(a)
        block = a[tuple(slice(0, s) for s in shape)]
        if self.scale[0] == self.scale[1]:
            return block
        # Averaged over the padded count instead of the true one: multiplied by a power of two (exact),
        # then divided by the true count once, as the reference at the true shape divides.
        return (block.astype(np.float64) * self.scale[0] / self.scale[1]).astype(a.dtype)


def _targets(spec: Spec, sizes: Mapping[str, int], windows: Mapping[str, str], averaged: set[str]) -> dict[str, int]:
    """Each laid-out dim's padded size: its bound where small, else the next power of two; a window dim's
    slid-over dim grows by as much as the window (so the outputs at the original positions stay); a dim
    averaged over, to a power of two."""
    bound = {d: spec.dim_range(d)[1] for d in sizes}

    def padded(size: int, most: int) -> int:
        return most if size <= most <= PAD_TO_BOUND else _power_of_two(size)

    target = {d: padded(size, bound[d]) for d, size in sizes.items() if d not in windows.values()}
    for window, slid in windows.items():
        if window in sizes and slid in sizes:
            grown = sizes[slid] + target[window] - sizes[window]
            target[slid] = padded(grown, bound[slid] + bound[window] - 1)
    target.update({d: sizes[d] for d in windows.values() if d not in target})
    for d in averaged:
        target[d] = _power_of_two(target[d])
    return target


class _Like(NamedTuple):
    """What a layout reads of an input array: its shape and dtype."""

    shape: tuple[int, ...]
    dtype: np.dtype

    @property
    def ndim(self) -> int:
        return len(self.shape)


def layout(spec: Spec, inputs: Mapping[str, np.ndarray], static: tuple = ()) -> Flat | Padded | None:
    """The layout the reference evaluates these inputs in, with these static hyper-parameters ((name, value)
    pairs), or None: as they are."""
    return _layout(spec, tuple((name, a.shape, a.dtype) for name, a in inputs.items()), static)


@lru_cache(maxsize=4096)
def _layout(spec: Spec, signature: tuple, static: tuple) -> Flat | Padded | None:
    # A layout depends on the spec, the inputs' shapes and dtypes and the static hyper-parameters alone,
    # and is never changed: one per signature.
    like = {name: _Like(shape, dtype) for name, shape, dtype in signature}
    return Flat.of(spec, like, static) or Padded.of(spec, like, static)
