"""Random streams reproducible from a case's seed, built at a seventh of np.random.default_rng's cost.

Every draw of the oracle (a case's inputs, its upstream gradients, nudges, directions) comes from
np.random.default_rng([seed, stream]): a new generator each time, so that each is reproducible on
its own. Nearly all of a new generator's cost (13 µs, four or more times a case) is SeedSequence
hashing the key into the generator's starting state, the same for the same key. That state is kept
per key (NumPy's ISeedSequence: what a bit generator asks its seed for) and a new generator starts
from it in 2 µs. The streams are default_rng's, number for number.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
from numpy.random.bit_generator import ISeedSequence

__all__ = ["generator"]


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
