"""Every random stream of the oracle is np.random.default_rng([seed, stream])'s, however it is built."""

from __future__ import annotations

import numpy as np
import pytest

from oracle.streams import generator


@pytest.mark.parametrize("key", [(0, 11), (2**40 + 3, 1), (7, 0, 4)])
def test_a_stream_is_default_rngs_number_for_number(key):
    ours, numpys = generator(*key), np.random.default_rng(list(key))
    np.testing.assert_array_equal(ours.uniform(-2, 2, size=50), numpys.uniform(-2, 2, size=50))
    np.testing.assert_array_equal(ours.integers(0, 2, size=50), numpys.integers(0, 2, size=50))


def test_each_generator_starts_its_stream_afresh_whatever_another_of_the_same_key_drew():
    first = generator(5, 11)
    first.uniform(size=1000)
    np.testing.assert_array_equal(generator(5, 11).uniform(size=3), np.random.default_rng([5, 11]).uniform(size=3))
