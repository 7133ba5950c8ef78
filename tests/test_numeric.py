"""Finite differences' pieces: random directions, and vᵀ·J·u by a central difference."""

import numpy as np

from oracle.numeric import directional_derivative, directions


def test_directions_have_entries_of_either_sign_between_a_half_and_one():
    u, scalar = directions(np.random.default_rng(0), [np.zeros((400, 50)), np.zeros(())])
    assert u.shape == (400, 50) and u.dtype == np.float64 and scalar.shape == ()
    assert (np.abs(u) >= 0.5).all() and (np.abs(u) < 1).all()
    assert 0.45 < (u > 0).mean() < 0.55
    # Magnitudes spread over the whole range: each fifth of it holds about a fifth of the entries.
    counts = np.histogram(np.abs(u), bins=5, range=(0.5, 1.0))[0]
    assert counts.min() > 0.15 * u.size


def test_the_same_stream_gives_the_same_directions_and_another_stream_others():
    first = directions(np.random.default_rng(7), [np.zeros(10)])[0]
    again = directions(np.random.default_rng(7), [np.zeros(10)])[0]
    other = directions(np.random.default_rng(8), [np.zeros(10)])[0]
    assert np.array_equal(first, again) and not np.array_equal(first, other)


def test_a_directional_derivative_of_a_linear_map_is_its_product_with_the_direction():
    rng = np.random.default_rng(1)
    a, x, v = rng.standard_normal((5, 7)), rng.standard_normal(7), rng.standard_normal(5)
    (u,) = directions(rng, [x])
    got = directional_derivative(lambda primals: (a @ primals[0],), [x], [u], [v])
    assert np.isclose(got, v @ a @ u, rtol=1e-8)


def test_an_output_that_broadcasts_against_its_upstream_gradient_is_weighted_as_numpy_broadcasts():
    x = np.array([0.3, -0.2])
    (u,) = directions(np.random.default_rng(2), [x])
    # A scalar output weighted by an upstream gradient of two entries: both weights count.
    got = directional_derivative(lambda primals: (np.sum(primals[0]),), [x], [u], [np.array([1.0, 2.0])])
    assert np.isclose(got, 3 * u.sum(), rtol=1e-8)
