"""How a case's arrays are laid out for the reference, so that one compiled program serves many shapes.

JAX compiles a program per input shape, and compiling costs a hundred times more than running a
small one. Two kinds of op let a program compiled for a larger shape give the exact answer at a
smaller one:

- Flat (Spec.elementwise): the value at an element depends on that element alone. Inputs are
  flattened and padded to a power-of-two size (at least MIN_FLAT); the outputs and gradients
  are cut back.
- Padded (Spec.padded): along some dims, zeros appended to every input leave the outputs at the
  original positions unchanged (independent rows, or terms of a sum that a zero makes vanish).
  Those dims are padded to the dim's upper bound where it is small (else to a power of two); the extra
  output entries get a zero upstream gradient, so the gradients at the original positions are
  unchanged too. The outputs and gradients are cut back to the leading block.

A layout is built from the shapes and dtypes of one case's inputs (at the evaluation's precision),
once per such signature, and used for the whole evaluation: inputs(), cotangent() for each upstream
gradient, cut() for each result.
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

    def __init__(self, shape: tuple[int, ...]) -> None:
        self.shape = shape
        self.size = math.prod(shape)
        self.bucket = max(MIN_FLAT, _power_of_two(self.size))

    @classmethod
    def of(cls, spec: Spec, inputs: Mapping[str, np.ndarray]) -> Flat | None:
        shapes = {a.shape for a in inputs.values()}
        if not spec.elementwise or len(shapes) != 1 or any(a.dtype.kind != "f" for a in inputs.values()):
            return None
        return cls(shapes.pop())

    def _flat(self, a: np.ndarray, fill: float) -> np.ndarray:
        padded = np.full(self.bucket, fill, dtype=a.dtype)
        padded[: self.size] = np.asarray(a).reshape(-1)
        return padded

    def inputs(self, inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        return {n: self._flat(a, self.FILL) for n, a in inputs.items()}

    def output_shapes(self, spec: Spec, laid_out: list[tuple[int, ...]], at_true_shapes: Any) -> list[tuple[int, ...]]:
        if any(s != (self.bucket,) for s in laid_out):
            raise SpecError(f"spec {spec.name!r} is declared elementwise, but its reference changes the shape")
        return [self.shape] * len(laid_out)

    def cotangent(self, c: np.ndarray, laid_out: tuple[int, ...]) -> np.ndarray:
        return self._flat(c, 0.0)

    def cut(self, a: Any, shape: tuple[int, ...]) -> np.ndarray:
        return np.asarray(a)[: self.size].reshape(shape)


class Padded:
    """A spec's arrays with zeros appended along its padded dims (Spec.padded)."""

    def __init__(self, targets: dict[str, tuple[int, ...]]) -> None:
        self.targets = targets      # input name -> its padded shape

    @classmethod
    def of(cls, spec: Spec, inputs: Mapping[str, np.ndarray]) -> Padded | None:
        if not spec.padded:
            return None
        sizes: dict[str, int] = {}
        axes: dict[str, list[str | None]] = {}
        for name, a in inputs.items():
            named = spec.axis_dims(name, a.ndim)
            if named is None:
                return None
            axes[name] = [d if d in spec.padded else None for d in named]
            for dim, size in zip(axes[name], a.shape):
                if dim is not None and sizes.setdefault(dim, size) != size:
                    return None     # inputs that disagree on a dim: evaluated as they are, to report it
        bound = {d: spec.dim_range(d)[1] for d in sizes}
        target = {d: bound[d] if size <= bound[d] <= PAD_TO_BOUND else _power_of_two(size) for d, size in sizes.items()}
        if all(target[d] == sizes[d] for d in sizes):
            return None
        return cls({name: tuple(a.shape[i] if d is None else target[d] for i, d in enumerate(axes[name]))
                    for name, a in inputs.items()})

    @staticmethod
    def _grown(a: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
        a = np.asarray(a)
        if a.shape == shape:
            return a
        grown = np.zeros(shape, dtype=a.dtype)
        grown[tuple(slice(0, s) for s in a.shape)] = a
        return grown

    def inputs(self, inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        return {n: self._grown(a, self.targets[n]) for n, a in inputs.items()}

    def output_shapes(self, spec: Spec, laid_out: list[tuple[int, ...]], at_true_shapes: Any) -> list[tuple[int, ...]]:
        return at_true_shapes()

    def cotangent(self, c: np.ndarray, laid_out: tuple[int, ...]) -> np.ndarray:
        return self._grown(c, tuple(laid_out))

    def cut(self, a: Any, shape: tuple[int, ...]) -> np.ndarray:
        return np.asarray(a)[tuple(slice(0, s) for s in shape)]


class _Like(NamedTuple):
    """What a layout reads of an input array: its shape and dtype."""

    shape: tuple[int, ...]
    dtype: np.dtype

    @property
    def ndim(self) -> int:
        return len(self.shape)


def layout(spec: Spec, inputs: Mapping[str, np.ndarray]) -> Flat | Padded | None:
    """The layout the reference evaluates these inputs in, or None: as they are."""
    return _layout(spec, tuple((name, a.shape, a.dtype) for name, a in inputs.items()))


@lru_cache(maxsize=4096)
def _layout(spec: Spec, signature: tuple) -> Flat | Padded | None:
    # A layout depends on the spec and the inputs' shapes and dtypes alone, and is never changed: one per signature.
    like = {name: _Like(shape, dtype) for name, shape, dtype in signature}
    return Flat.of(spec, like) or Padded.of(spec, like)
