"""Shared helpers: judge one implementation quickly, with a fixed seed."""

import pytest

from oracle.run import check
from oracle.testing import as_plugin


def verdicts_of(implementation, op, convention=None, dtypes=("float64",), examples=15, seed=1234, **options):
    """The verdicts for one implementation of `op`, one per dtype."""
    run = check([as_plugin(implementation, op, convention)], dtypes=list(dtypes), examples=examples, seed=seed, **options)
    return run.verdicts


def verdict_of(implementation, op, convention=None, dtype="float64", **options):
    (verdict,) = verdicts_of(implementation, op, convention, dtypes=(dtype,), **options)
    return verdict


@pytest.fixture
def judge():
    return verdict_of
