"""Random streams reproducible from a case's seed, built at a seventh of np.random.default_rng's cost.

Every draw of the oracle (a case's inputs, its upstream gradients, nudges, directions) comes from
np.random.default_rng([seed, stream]): a new generator each time, so that each is reproducible on
its own. Nearly all of a new generator's cost (13 µs, four or more times a case) is SeedSequence
hashing the key into the generator's starting state, the same for the same key. That state is kept
per key (NumPy's ISeedSequence: what a bit generator asks its seed for) and a new generator starts
from it in 2 µs. The streams are default_rng's, number for number. Upstream gradients and tangents
are drawn from them as thousandths (thousandths()).
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
from numpy.random.bit_generator import ISeedSequence

__all__ = ["generator", "thousandths"]


class _Hashed(ISeedSequence):
    """A key's SeedSequence with the state words it generates kept, for every generator of that key."""

    def __init__(self, key: tuple[int, ...]) -> None:
        self._sequence = np.random.SeedSequence(list(key))
        self._words: dict[tuple[int, str], np.ndarray] = {}

    def generate_state(self, n_words: int, dtype=np.uint32) -> np.ndarray:
        asked = (int(n_words), np.dtype(dtype).str)
        if asked not in self._words:
            self._words[asked] = self._sequence.generate_state(n_words, dtype)
        return self._words[asked].copy()


_hashed = lru_cache(maxsize=8192)(_Hashed)


def generator(*key: int) -> np.random.Generator:
    """np.random.default_rng(list(key)): a new generator at the start of the same stream."""
    return np.random.Generator(np.random.PCG64(_hashed(tuple(int(k) for k in key))))


def thousandths(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    """Short numbers for readable evidence: k / 1000 for k uniform on -2000..2000, in float64.

    A uniform draw scaled to 4001 integers, in place: four passes over a million values, where
    rounding a uniform draw to three decimals took seven."""
    values = np.asarray(rng.random(shape))
    values *= 4001
    np.floor(values, out=values)
    values -= 2000
    values /= 1000
    return values
