"""Padding: what a spec declares, beyond its padded dims, so that more of its shapes share a program.

Spec.padded names the dims along which zeros appended to every input leave the reference's outputs
unchanged (oracle.layouts). Some ops are that close to it without being it:

- averaged: the reference averages over these dims (a mean, a loss divided by the batch size).
  Entries appended along them add nothing to the sum but count in the divisor, so the outputs and
  gradients are those at the true shape times padded count ÷ true count; the layout divides that
  back (exactly: it pads such dims to a power of two). A tuple, or a function of the static
  hyper-parameters (by name) giving one (a mean over the axis it is given).
- windows: window dim -> the dim it slides over (a convolution's kernel height -> the image's
  height). Zeros appended to a window add nothing to any product, and the outputs at the original
  positions stay where they were when the slid-over dim grows by as much.
- fill: input name -> function of (shape, dtype) giving the values its appended entries take,
  for ops where zeros are not neutral (a row of logits that its label wins outright adds exactly
  nothing to a cross-entropy or a hinge loss). Inputs not named are filled with zeros.

Each declaration is the spec author's claim; tests/test_layouts.py holds every catalogue spec's
padded reference to the reference at the shape itself.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

__all__ = ["Padding"]


@dataclass(frozen=True)
class Padding:
    """How a spec's dims are padded beyond zeros appended (see the module's docstring)."""

    averaged: tuple[str, ...] | Callable[[Mapping[str, Any]], tuple[str, ...]] = ()
    windows: Mapping[str, str] = field(default_factory=dict)
    fill: Mapping[str, Callable[[tuple[int, ...], np.dtype], np.ndarray]] = field(default_factory=dict)

    def averaged_dims(self, static: Mapping[str, Any]) -> tuple[str, ...]:
        """The dims averaged over, given the static hyper-parameters by name."""
        return tuple(self.averaged(static) if callable(self.averaged) else self.averaged)

    def dims(self) -> set[str]:
        """Every dim named here whose size a layout changes (averaged ones may depend on hyper-parameters,
        so only those declared as a tuple)."""
        named = set(self.windows) | set(self.windows.values())
        return named | (set() if callable(self.averaged) else set(self.averaged))
