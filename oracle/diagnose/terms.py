"""A typo in one term: the wrong gradient differs from the reference by a simple multiple of one term.

The terms tried are the products a backward is written from: the upstream gradient g, each
input, the output y, their products of up to three factors, and such a product's mean over
one axis times a factor (softmax's Σ(g·y), batchnorm's mean(dx̂·x̂)·x̂). A sign typo in a
term t leaves the difference ∓2·t; a constant typo, a small fraction of t.
"""

from __future__ import annotations

import itertools
from fractions import Fraction

import numpy as np

from .kinds import diagnosis
from .numbers import close

_MAX_TERMS = 600


def _factors(ev, shape: tuple[int, ...]) -> list[tuple[str, np.ndarray]]:
    found: list[tuple[str, np.ndarray]] = []

    def add(label: str, value) -> None:
        value = np.asarray(value, dtype=np.float64)
        try:
            np.broadcast_to(value, shape)
        except ValueError:
            return
        if value.size and np.any(value != 0):
            found.append((label, value))

    for i, c in enumerate(ev.cotangent):
        add("g" if len(ev.cotangent) == 1 else f"g{i + 1}", c)
    for name, value in ev.case.inputs.items():
        if np.asarray(value).dtype.kind == "f":
            add(name, value)
    for i, y in enumerate(ev.reference_output or ()):
        add("y" if len(ev.reference_output) == 1 else f"y{i + 1}", y)
    return found


def _terms(ev, shape: tuple[int, ...]):
    factors = _factors(ev, shape)
    products = []
    for count in (1, 2, 3):
        for combo in itertools.combinations_with_replacement(range(len(factors)), count):
            label = "·".join(factors[i][0] for i in combo)
            value = np.ones(())
            for i in combo:
                value = value * factors[i][1]
            if value.shape != () and np.broadcast_shapes(value.shape, shape) == tuple(shape):
                products.append((label, value))
    yield from products
    for (label, value), axis in itertools.product(products, range(len(shape))):
        if value.ndim != len(shape) or value.shape[axis] < 2:
            continue
        for reduce, name in ((np.sum, "Σ"), (np.mean, "mean")):
            reduced = reduce(value, axis=axis, keepdims=True)
            yield f"{name}({label}, axis {axis})", reduced
            for other, factor in factors:
                yield f"{name}({label}, axis {axis})·{other}", reduced * factor


def _simple_multiple(c: float, snap: float) -> Fraction | None:
    fraction = Fraction(c).limit_denominator(4)
    if fraction != 0 and abs(fraction) <= 8 and abs(c - float(fraction)) <= snap * max(1.0, abs(c)):
        return fraction
    return None


def typo(ev, got: np.ndarray, expected: np.ndarray, tol: float, snap: float) -> dict | None:
    difference = got - expected
    if not np.any(difference):
        return None
    shape = tuple(got.shape)
    for count, (label, term) in enumerate(_terms(ev, shape)):
        if count > _MAX_TERMS:
            break
        term = np.broadcast_to(term, shape)
        norm = float(np.sum(term * term))
        if norm == 0 or (np.any(expected) and close(
                term * float(np.sum(term * expected) / max(float(np.sum(expected**2)), 1e-300)), expected, tol)):
            continue  # a term the reference is a multiple of: that is a scale, not a typo
        c = float(np.sum(difference * term) / norm)
        multiple = _simple_multiple(c, max(snap, 10 * tol))
        if multiple is None or not close(got, expected + float(multiple) * term, tol):
            continue
        if abs(multiple) == 2:
            text = (f"differs from the reference by {multiple} × {label}: the term ±{label} has the wrong sign "
                    "(a sign typo)")
        elif abs(multiple) == 1:
            text = (f"differs from the reference by {multiple} × {label}: the term {label} is missing or "
                    "there once too often")
        else:
            text = f"differs from the reference by {multiple} × {label}: a constant in the term {label} is off (a typo)"
        return diagnosis("typo", text, term=label, multiple=float(multiple))
    return None
