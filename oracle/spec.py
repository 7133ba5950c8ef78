"""Spec: the meaning of one op, written once.

A spec names its inputs in order, each with a shape pattern and a value domain, then its
hyper-parameters (drawn over their whole valid range), a JAX reference, the quantities that
must stay away from zero (kinks) and named properties. Everything the oracle draws or
checks about an op is derived from here.

    relu = Spec("relu", inputs={"x": "*batch n"}, reference=lambda x: jnp.maximum(x, 0),
                kinks=lambda x: x, properties=("relu_sparse",), math="max(0, x)")
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Callable, Mapping, Sequence

import numpy as np
from hypothesis import strategies as st

from .errors import SpecError
from .spec_padding import Padding

__all__ = [
    "Spec", "Input", "Hyper", "Domain",
    "real", "positive", "nonzero", "bounded", "data", "labels", "mask",
    "choice", "integers", "floats", "hyper",
    "SpecError", "parse_shape", "Padding",
]

_DIM_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


# --------------------------------------------------------------------------- domains

@dataclass(frozen=True)
class Domain:
    """Where an input's values are drawn from.

    kind is one of: real (uniform in [low, high]), nonzero (|value| in [low, high], either
    sign), labels (integers in [0, size of dim `classes`), never differentiated), mask (booleans,
    True with probability `high`, never differentiated).
    """

    kind: str = "real"
    low: float = -2.0
    high: float = 2.0
    classes: str | None = None

    KINDS = ("real", "nonzero", "labels", "mask")

    def __post_init__(self) -> None:
        # Checked where the spec is written, so a plugin that defines a bad one fails to load, naming it.
        if self.kind not in self.KINDS:
            raise SpecError(f"unknown domain kind {self.kind!r}; choose from {', '.join(self.KINDS)}")
        if self.kind in ("real", "nonzero") and not (isinstance(self.low, (int, float)) and isinstance(self.high, (int, float))
                                                     and math.isfinite(self.low) and math.isfinite(self.high)
                                                     and self.low <= self.high):
            raise SpecError(f"a {self.kind} domain needs finite low <= high, got [{self.low!r}, {self.high!r}]")

    def sample(self, rng: np.random.Generator, shape: tuple[int, ...], dims: Mapping[str, int]) -> np.ndarray:
        if self.kind == "labels":
            return rng.integers(0, dims[self.classes], size=shape).astype(np.int64)
        if self.kind == "mask":
            return rng.random(shape) < self.high
        values = rng.uniform(self.low, self.high, size=shape)
        if self.kind == "nonzero":
            values = values * rng.choice([-1.0, 1.0], size=shape)
        # Short decimal numbers keep failure messages readable, and make every linear kink
        # quantity either exactly zero or at least 1e-3 away from it.
        return np.round(values, 3)

    def describe(self) -> str:
        if self.kind == "labels":
            return f"integer labels in [0, {self.classes})"
        if self.kind == "mask":
            return f"booleans, True with probability {self.high:g}"
        if self.kind == "nonzero":
            return f"|value| in [{self.low:g}, {self.high:g}], either sign"
        return f"[{self.low:g}, {self.high:g}]"


@dataclass(frozen=True)
class Input:
    """One positional array argument: its shape pattern, domain and whether it is differentiated."""

    shape: str
    domain: Domain = Domain()
    differentiable: bool = True

    @property
    def is_labels(self) -> bool:
        """Integer labels or a boolean mask: kept as drawn (never cast to the case's dtype), never differentiated."""
        return self.domain.kind in ("labels", "mask")


def real(shape: str, low: float = -2.0, high: float = 2.0) -> Input:
    return Input(shape, Domain("real", low, high))


def positive(shape: str, low: float = 0.5, high: float = 2.0) -> Input:
    if low <= 0:
        raise SpecError(f"positive() needs low > 0, got {low}")
    return Input(shape, Domain("real", low, high))


def nonzero(shape: str, low: float = 0.5, high: float = 2.0) -> Input:
    if low <= 0:
        raise SpecError(f"nonzero() needs low > 0, got {low}")
    return Input(shape, Domain("nonzero", low, high))


def bounded(shape: str, low: float, high: float) -> Input:
    if not low < high:
        raise SpecError(f"bounded() needs low < high, got [{low}, {high}]")
    return Input(shape, Domain("real", low, high))


def data(shape: str, low: float = -2.0, high: float = 2.0) -> Input:
    """A real input that is not differentiated (targets, data of a model's loss)."""
    return Input(shape, Domain("real", low, high), differentiable=False)


def labels(shape: str, classes: str) -> Input:
    """Integer class labels in [0, size of dim `classes`); never differentiated."""
    return Input(shape, Domain("labels", classes=classes), differentiable=False)


def mask(shape: str, share: float = 0.75) -> Input:
    """A boolean mask, True with probability `share` (which time steps count in a loss); never differentiated."""
    return Input(shape, Domain("mask", 0.0, share), differentiable=False)


# --------------------------------------------------------------------------- hyper-parameters

@dataclass(frozen=True)
class Hyper:
    """A hyper-parameter: passed positionally after the inputs, never differentiated.

    draw is a hypothesis strategy, or a function of the drawn dims that returns one (a
    reshape's target shape depends on the input's shape). describe says its range in words.
    traced marks a value from a continuous range: the JAX reference takes it as an argument
    rather than compiling a program for every value drawn.
    """

    draw: Any
    describe: str = ""
    traced: bool = False

    def strategy(self, dims: Mapping[str, int]) -> st.SearchStrategy:
        return self.draw(dims) if callable(self.draw) and not isinstance(self.draw, st.SearchStrategy) else self.draw


def choice(*values: Any) -> Hyper:
    if not values:
        raise SpecError("choice() needs at least one value")
    return Hyper(st.sampled_from(values), "one of " + ", ".join(map(repr, values)))


def integers(low: int, high: int) -> Hyper:
    return Hyper(st.integers(low, high), f"integer in [{low}, {high}]")


def floats(low: float, high: float) -> Hyper:
    # Rounded like the inputs, so messages stay short.
    return Hyper(st.floats(low, high).map(lambda v: round(v, 3)), f"float in [{low:g}, {high:g}]", traced=True)


def hyper(draw: Callable[[Mapping[str, int]], st.SearchStrategy], describe: str = "") -> Hyper:
    """A hyper-parameter whose range depends on the drawn dims."""
    return Hyper(draw, describe or "depends on the shapes")


# --------------------------------------------------------------------------- shape patterns

@dataclass(frozen=True)
class ShapePattern:
    """A parsed shape pattern: '*batch n k' -> batch=True, parts=('n', 'k'); '3 n' -> (3, 'n').

    '*batch' may stand at any position (batch_at: how many parts precede it): 'n *batch d' is an
    N-D input with its batch dims after n. A part 'a*b' (or '4*h', 'batch*d') is the product of
    its factors, where the factor 'batch' is the product of the batch dims (1 when there are none).
    """

    text: str
    batch: bool
    parts: tuple[str | int | tuple[str | int, ...], ...]
    batch_at: int = 0

    def dim_names(self) -> list[str]:
        names: list[str] = []
        for p in self.parts:
            for factor in (p if isinstance(p, tuple) else (p,)):
                if isinstance(factor, str) and factor != "batch" and factor not in names:
                    names.append(factor)
        return names

    def resolve(self, dims: Mapping[str, int], batch: Sequence[int] = ()) -> tuple[int, ...]:
        def size(part: str | int) -> int:
            if isinstance(part, int):
                return part
            return int(np.prod(batch, dtype=np.int64)) if part == "batch" else dims[part]

        own = tuple(int(np.prod([size(f) for f in p])) if isinstance(p, tuple) else size(p) for p in self.parts)
        if not self.batch:
            return own
        return own[:self.batch_at] + tuple(batch) + own[self.batch_at:]


def _shape_part(token: str, text: str) -> str | int:
    if token.isdigit():
        return int(token)
    if _DIM_NAME.match(token):
        return token
    raise SpecError(f"shape {text!r}: {token!r} is neither a dim name nor a literal size")


@lru_cache(maxsize=1024)   # a spec's few patterns are read for every case
def parse_shape(text: str) -> ShapePattern:
    tokens = text.split()
    batch_at = None
    parts: list[str | int | tuple[str | int, ...]] = []
    for token in tokens:
        if token.startswith("*"):
            if token != "*batch":
                raise SpecError(f"shape {text!r}: only '*batch' may be starred, got {token!r}")
            if batch_at is not None:
                raise SpecError(f"shape {text!r}: '*batch' appears twice")
            batch_at = len(parts)
        elif "*" in token:
            parts.append(tuple(_shape_part(f, text) if f != "batch" else "batch" for f in token.split("*")))
        elif token == "batch":
            raise SpecError(f"shape {text!r}: 'batch' is the product of the batch dims; write '*batch' for the dims")
        else:
            parts.append(_shape_part(token, text))
    return ShapePattern(text, batch_at is not None, tuple(parts), batch_at or 0)


# --------------------------------------------------------------------------- the spec

KNOWN_PROPERTIES = ("relu_sparse", "matmul_transpose", "add_distributes", "max_routes", "mul_swaps", "copy_adds",
                    "dropout_mask", "running_stats")

DEFAULT_DIM_RANGE = (1, 5)
DEFAULT_BATCH_RANGE = (0, 2)  # how many batch dims a '*batch' pattern gets
BATCH_DIM_RANGE = (1, 3)


@dataclass(frozen=True)
class Spec:
    """The meaning of one op.

    name:        catalogue name ('matmul') or the user's own.
    inputs:      name -> shape pattern string or Input, in positional order.
    hyper:       name -> Hyper, passed positionally after the inputs.
    reference:   JAX function of (*inputs, *hyper) -> output or tuple of outputs; None means
                 the op is judged by finite differences of the implementation's own forward.
    outputs:     how many outputs (the copy gate has two).
    kinks:       function of (*inputs, *hyper) on float64 numpy arrays returning the
                 quantities that must stay away from zero (an array or a tuple of arrays).
    properties:  names of extra structural checks (see KNOWN_PROPERTIES).
    dims:        dim name -> (low, high) to override the default sizes.
    where:       function of (dims, hyper) -> bool, for combinations that are not valid
                 (a conv window larger than the padded image).
    weights:     for whole-model losses, the inputs that are the model's weights (the
                 `loss` calling convention passes them as a dict).
    tolerance:   dtype name -> multiplier of the oracle's default thresholds, for ops whose
                 rounding is known to be worse (normalisations).
    elementwise: the reference maps array inputs of one shape element by element, so its value at an
                 element depends on that element alone: one compiled program per flat size bucket
                 serves every shape (oracle.layouts pads, evaluates, and cuts the result back).
    padded:      dims along which zeros appended to every input leave the reference's outputs at the
                 original positions unchanged (independent rows; terms of a sum that a zero makes
                 vanish): one compiled program serves every size of them up to the dim's upper bound
                 (oracle.layouts). Such a dim must stand alone in its inputs' shapes.
    padding:     a Padding (oracle.spec_padding): dims averaged over, window dims, appended values
                 other than zeros; what lets more ops be padded.
    flat:        hyper-parameters with which the reference, given its inputs flattened, gives its
                 outputs flattened (a reshape: shape=(-1,)): evaluated in the elementwise layout.
    stochastic:  the forward draws random numbers of its own (dropout): it is judged from what its
                 output reveals (a property), not by finite differences or by calling it twice.
    math:        the op in one line.
    """

    name: str
    inputs: Mapping[str, str | Input]
    hyper: Mapping[str, Hyper] = field(default_factory=dict)
    reference: Callable[..., Any] | None = None
    outputs: int = 1
    kinks: Callable[..., Any] | None = None
    properties: tuple[str, ...] = ()
    dims: Mapping[str, tuple[int, int]] = field(default_factory=dict)
    where: Callable[[Mapping[str, int], Mapping[str, Any]], bool] | None = None
    weights: tuple[str, ...] | None = None
    tolerance: Mapping[str, float] = field(default_factory=dict)
    math: str = ""
    stochastic: bool = False
    elementwise: bool = False
    padded: tuple[str, ...] = ()
    padding: Padding = field(default_factory=Padding)
    flat: Mapping[str, Any] | None = None

    def __post_init__(self) -> None:
        if not self.name or not isinstance(self.name, str):
            raise SpecError("a spec needs a name")
        normalised = {k: (v if isinstance(v, Input) else Input(v)) for k, v in self.inputs.items()}
        object.__setattr__(self, "inputs", normalised)
        object.__setattr__(self, "hyper", dict(self.hyper))
        object.__setattr__(self, "dims", dict(self.dims))
        object.__setattr__(self, "tolerance", dict(self.tolerance))
        object.__setattr__(self, "properties", tuple(self.properties))
        if not normalised:
            raise SpecError(f"spec {self.name!r} has no inputs")
        clash = set(normalised) & set(self.hyper)
        if clash:
            raise SpecError(f"spec {self.name!r}: {sorted(clash)} named both as input and hyper-parameter")
        names = set()
        for arg_name, arg in normalised.items():
            pattern = parse_shape(arg.shape)
            names.update(pattern.dim_names())
            if arg.domain.kind == "labels" and arg.domain.classes not in names | self._all_dim_names():
                raise SpecError(f"spec {self.name!r}: labels {arg_name!r} count classes in unknown dim {arg.domain.classes!r}")
        unknown = [p for p in self.properties if p not in KNOWN_PROPERTIES]
        if unknown:
            raise SpecError(f"spec {self.name!r}: unknown properties {unknown}; known: {', '.join(KNOWN_PROPERTIES)}")
        if self.outputs < 1:
            raise SpecError(f"spec {self.name!r}: outputs must be at least 1")
        if self.weights is not None:
            missing = [w for w in self.weights if w not in normalised]
            if missing:
                raise SpecError(f"spec {self.name!r}: weights {missing} are not inputs")
        if not any(arg.differentiable for arg in normalised.values()):
            raise SpecError(f"spec {self.name!r} has no differentiable input")
        object.__setattr__(self, "padded", tuple(self.padded))
        if self.flat is not None and set(self.flat) - set(self.hyper):
            raise SpecError(f"spec {self.name!r}: flat names {sorted(set(self.flat) - set(self.hyper))}, not hyper-parameters")
        for dim in (*self.padded, *sorted(self.padding.dims() - set(self.padded))):
            if dim not in names:
                raise SpecError(f"spec {self.name!r}: padded dim {dim!r} is not a dim of its inputs")
            if any(dim in pattern.dim_names() and (pattern.batch or dim not in pattern.parts)
                   for pattern in (parse_shape(arg.shape) for arg in normalised.values())):
                raise SpecError(f"spec {self.name!r}: padded dim {dim!r} must stand alone in its inputs' shapes")

    # -- derived views

    def _all_dim_names(self) -> set[str]:
        return {n for arg in self.inputs.values() for n in parse_shape(arg.shape).dim_names()}

    @property
    def input_names(self) -> list[str]:
        return list(self.inputs)

    @property
    def differentiable(self) -> list[str]:
        """Names of the inputs that get gradients, in positional order."""
        return [n for n, arg in self.inputs.items() if arg.differentiable]

    @property
    def weight_names(self) -> list[str]:
        return list(self.weights) if self.weights is not None else self.differentiable

    def axis_dims(self, name: str, ndim: int) -> tuple[str | None, ...] | None:
        """The dim each axis of input `name` is, for an array of `ndim` axes (None for an axis of a fixed
        size or a product of dims); None when its pattern cannot say (batch dims, another rank)."""
        parsed = parse_shape(self.inputs[name].shape)
        if parsed.batch or len(parsed.parts) != ndim:
            return None
        return tuple(p if isinstance(p, str) else None for p in parsed.parts)

    @property
    def has_batch(self) -> bool:
        return any(parse_shape(a.shape).batch for a in self.inputs.values())

    def dim_names(self) -> list[str]:
        seen: list[str] = []
        for arg in self.inputs.values():
            for n in parse_shape(arg.shape).dim_names():
                if n not in seen:
                    seen.append(n)
        return seen

    def dim_range(self, name: str) -> tuple[int, int]:
        return tuple(self.dims.get(name, DEFAULT_DIM_RANGE))  # type: ignore[return-value]

    def shapes(self, dims: Mapping[str, int], batch: Sequence[int] = ()) -> dict[str, tuple[int, ...]]:
        return {n: parse_shape(a.shape).resolve(dims, batch) for n, a in self.inputs.items()}

    def signature(self) -> str:
        """'matmul(a: n k, b: k m)' for listings and messages."""
        args = [f"{n}: {a.shape or 'scalar'}" for n, a in self.inputs.items()]
        args += [f"{n}=" for n in self.hyper]
        return f"{self.name}({', '.join(args)})"

    def __hash__(self) -> int:
        return hash(self.name)
