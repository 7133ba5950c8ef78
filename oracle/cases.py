"""Cases: concrete draws of an op's inputs, built from its spec by hypothesis.

Hypothesis draws the structure (dims, batch dims, hyper-parameters) and a seed; the arrays
come from NumPy's generator seeded with it. Shrinking therefore works on what a reader
cares about (the shapes, the hyper-parameters), and every array is reproducible from the
seed alone. Values are short decimals, and cases whose kink quantities come within
KINK_MARGIN of zero are redrawn, so no correct implementation is judged where it is not
differentiable.
"""

from __future__ import annotations

import contextlib
import copy
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import ml_dtypes  # noqa: F401 - registers bfloat16 with NumPy: half-precision cases are drawn in float64, then rounded
import numpy as np
from hypothesis import assume
from hypothesis import strategies as st

from .result import CaseRecord
from .spec import BATCH_DIM_RANGE, DEFAULT_BATCH_RANGE, Spec
from .streams import generator, thousandths

__all__ = ["KINK_MARGIN", "SMALLEST_VALUE_DRAWS", "Case", "CaseGroup", "build_case", "case_groups", "cases",
           "kink_distance", "steady_constants"]

# Inputs are multiples of 1e-3, so a linear kink quantity is 0 or at least ~1e-3 away from it.
# The margin sits between that and the finite-difference step (1e-6), which never crosses it.
KINK_MARGIN = 5e-4
_REDRAWS = 25
_SHOWN_INPUT_ELEMENTS = 2000


@dataclass
class Case:
    """One concrete draw: dims, batch dims, hyper-parameters, dtype, seed and the input arrays."""

    spec: Spec
    dtype: str
    dims: dict[str, int]
    batch: tuple[int, ...]
    hyper: dict[str, Any]
    seed: int
    inputs: dict[str, np.ndarray]

    def args(self) -> tuple:
        """Fresh copies of the positional arguments: inputs, then hyper-parameters."""
        return tuple(a.copy() for a in self.inputs.values()) + tuple(copy.deepcopy(list(self.hyper.values())))

    def args_as(self, dtype: str) -> tuple:
        """The same arguments with every float input cast to `dtype` (finite differences run in float64)."""
        cast = [a.astype(dtype) if a.dtype.kind in "fV" else a.copy() for a in self.inputs.values()]
        return tuple(cast) + tuple(copy.deepcopy(list(self.hyper.values())))

    def cotangent(self, shapes: Sequence[tuple[int, ...]], stream: int = 0) -> tuple[np.ndarray, ...]:
        """Upstream gradients for outputs of these shapes: short numbers (thousandths in [-2, 2]),
        reproducible from the seed."""
        rng = generator(self.seed, 1 + stream)
        return tuple(thousandths(rng, s).astype(self.dtype, copy=False) for s in shapes)

    def describe(self) -> str:
        parts = [f"{n}={v}" for n, v in self.dims.items()]
        if self.batch:
            parts.append(f"batch={tuple(self.batch)}")
        parts += [f"{n}={v!r}" for n, v in self.hyper.items()]
        return ", ".join(parts)

    def record(self, cotangent: Sequence[np.ndarray] | None = None) -> CaseRecord:
        shown = sum(a.size for a in self.inputs.values()) <= _SHOWN_INPUT_ELEMENTS
        ct = None
        if cotangent is not None and sum(np.size(c) for c in cotangent) <= _SHOWN_INPUT_ELEMENTS:
            ct = list(cotangent) if len(cotangent) > 1 else cotangent[0]
        return CaseRecord(
            dims=dict(self.dims), batch=list(self.batch), hyper=dict(self.hyper), dtype=self.dtype,
            seed=self.seed, shapes={n: list(a.shape) for n, a in self.inputs.items()},
            inputs=dict(self.inputs) if shown else {}, cotangent=ct,
        )


def _kink_quantities(spec: Spec, inputs: Mapping[str, np.ndarray], hyper: Mapping[str, Any]) -> list[np.ndarray]:
    args = [np.asarray(a, dtype=np.float64) if a.dtype.kind in "fV" else a for a in inputs.values()]
    quantities = spec.kinks(*args, *hyper.values())
    if not isinstance(quantities, (tuple, list)):
        quantities = (quantities,)
    return [np.asarray(q, dtype=np.float64) for q in quantities]


def kink_distance(spec: Spec, inputs: Mapping[str, np.ndarray], hyper: Mapping[str, Any]) -> float:
    """How close the case comes to a non-differentiable point (inf when the spec has no kinks)."""
    if spec.kinks is None:
        return float("inf")
    sizes = [np.abs(q).min() for q in _kink_quantities(spec, inputs, hyper) if q.size]
    return float(min(sizes)) if sizes else float("inf")


def _move_off_kinks(spec: Spec, inputs: dict[str, np.ndarray], hyper: Mapping[str, Any], dims: Mapping[str, int],
                    dtype: str, rng: np.random.Generator) -> bool:
    """Redraw, in place, only the elements that sit near a kink; True once none does.

    Works where a kink quantity is elementwise in an input of its shape (relu's x, max's x - y):
    at a million elements a few hundred sit on a kink, and redrawing the whole array would land
    on others. Every pass checks the whole case again, so a quantity that is not elementwise
    after all only makes this give up (False), never lets a kink through.
    """
    for _ in range(_REDRAWS):
        near = next((np.abs(q) < KINK_MARGIN for q in _kink_quantities(spec, inputs, hyper)
                     if q.size and np.abs(q).min() < KINK_MARGIN), None)
        if near is None:
            return True
        name = next((n for n, arg in spec.inputs.items() if not arg.is_labels and inputs[n].shape == near.shape), None)
        if name is None:
            return False
        where = np.nonzero(near)
        inputs[name][where] = spec.inputs[name].domain.sample(rng, where[0].shape, dims)
    return False


def build_case(spec: Spec, dtype: str, dims: Mapping[str, int], batch: Sequence[int],
               hyper: Mapping[str, Any], seed: int) -> Case | None:
    """The case for this structure and seed, or None when every redraw lands near a kink.

    Elements near a kink are moved off it where the kink is elementwise (one pass at any size);
    otherwise the whole draw is made again.
    """
    shapes = spec.shapes(dims, batch)
    for attempt in range(_REDRAWS):
        rng = generator(seed, 0, attempt)
        inputs = {}
        for name, arg in spec.inputs.items():
            values = arg.domain.sample(rng, shapes[name], dims)
            inputs[name] = values if arg.is_labels else values.astype(dtype, copy=False)
        if kink_distance(spec, inputs, hyper) >= KINK_MARGIN or _move_off_kinks(spec, inputs, hyper, dims, dtype, rng):
            return Case(spec, dtype, dict(dims), tuple(batch), dict(hyper), seed, inputs)
    return None


@contextlib.contextmanager
def steady_constants() -> Iterator[None]:
    """Within the block, hypothesis draws from the seed alone.

    Hypothesis also draws, now and then, constants it finds in the source of every non-library
    module loaded so far, so the same seed drew different cases in a fresh worker and in a
    process that had imported more (a failure's explanation, another plugin). Its pool of such
    constants is emptied for the block and restored after it.
    """
    try:
        from hypothesis.internal.conjecture import providers
        found, cache = providers._get_local_constants, providers.CONSTANTS_CACHE
    except (ImportError, AttributeError):   # a hypothesis without the feature: nothing to steady
        yield
        return
    empty = providers.Constants()
    providers._get_local_constants = lambda: empty
    cache.cache.clear()
    try:
        yield
    finally:
        providers._get_local_constants = found
        cache.cache.clear()


def _structure(draw, spec: Spec) -> tuple[dict[str, int], list[int], dict[str, Any]]:
    """Draw every dim, the batch dims and every hyper-parameter: what shrinking works on."""
    dims = {}
    for name in spec.dim_names():
        low, high = spec.dim_range(name)
        dims[name] = draw(st.integers(low, high), label=name)
    batch: list[int] = []
    if spec.has_batch:
        batch = draw(st.lists(st.integers(*BATCH_DIM_RANGE), min_size=DEFAULT_BATCH_RANGE[0],
                              max_size=DEFAULT_BATCH_RANGE[1]), label="batch")
    hyper = {name: draw(h.strategy(dims), label=name) for name, h in spec.hyper.items()}
    assume(spec.where is None or spec.where(dims, hyper))
    return dims, batch, hyper


@st.composite
def cases(draw, spec: Spec, dtype: str) -> Case:
    """Hypothesis strategy of cases for `spec` in `dtype`; shrinks toward size-1 dims and simple hyper-parameters."""
    dims, batch, hyper = _structure(draw, spec)
    seed = draw(st.integers(0, 2**32 - 1), label="seed")
    case = build_case(spec, dtype, dims, batch, hyper, seed)
    assume(case is not None)
    return case


# Value draws for the smallest structures: every input of at most one element, where shrinking
# ends. Elsewhere a structure gets one: at a fixed number of cases value draws would stand in for
# structures, and a matmul bug that shows only on square inputs was found within 40 cases from 24
# of 30 seeds with one value draw per structure, 14 with 2 and 1 of 12 with 5. At the smallest
# structure a bug that shows only for some values (relu wrong where x > 1.5) needs several tries
# to show, or shrinking stops one size above it. The draws share one compiled reference program,
# and which structures get them depends on the drawn structure alone, as hypothesis requires.
SMALLEST_VALUE_DRAWS = 5


@dataclass
class CaseGroup:
    """One drawn structure and its value draws (case seeds `base + j·2³²`, j < n: the first is cases()'s).

    The first case is built when drawn; the others, judged only for the smallest structures
    (see SMALLEST_VALUE_DRAWS), as they are asked for.
    """

    first: Case
    seeds: tuple[int, ...] = ()    # of the others

    def cases(self) -> Iterator[Case]:
        yield self.first
        f = self.first
        if any(np.size(a) > 1 for a in f.inputs.values()):
            return
        for seed in self.seeds:
            case = build_case(f.spec, f.dtype, f.dims, f.batch, f.hyper, seed)
            if case is not None:
                yield case

    def __repr__(self) -> str:
        return f"CaseGroup({1 + len(self.seeds)} value draws of {self.first.describe()}, seed {self.first.seed})"


@st.composite
def case_groups(draw, spec: Spec, dtype: str, values: int = SMALLEST_VALUE_DRAWS) -> CaseGroup:
    """Hypothesis strategy of CaseGroups: a structure, as cases() draws it, with `values` value draws.

    Its first case is the one cases() draws from the same choices; shrinking works as for
    cases(): toward the smallest structure (and seed) where any of its value draws fails.
    """
    dims, batch, hyper = _structure(draw, spec)
    base = draw(st.integers(0, 2**32 - 1), label="seed")
    first = build_case(spec, dtype, dims, batch, hyper, base)
    assume(first is not None)
    return CaseGroup(first, tuple(base + j * 2**32 for j in range(1, values)))
