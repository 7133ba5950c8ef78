"""A worker keeps large freed blocks, so a large NumPy temporary reuses memory instead of faulting in new pages."""

from __future__ import annotations

import platform
import resource

import numpy as np
import pytest

from oracle.execution.pool import WorkerPool

pytestmark = pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="the allocator is tuned under glibc only")


def page_faults_of_large_temporaries(repeats: int = 20) -> float:
    """Page faults per round of arithmetic on arrays of 8 MB, each result a new temporary."""
    x = np.linspace(-1.0, 1.0, 10**6)
    float(np.tanh(x).sum())
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for _ in range(repeats):
        y = np.tanh(x)
        float(((1 - y * y) * x + y).sum())
    return (resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before) / repeats


def test_a_worker_reuses_the_memory_of_large_temporaries():
    pool = WorkerPool(1)
    try:
        faults = pool.submit(page_faults_of_large_temporaries).result(timeout=120)
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
    # Each 8 MB array is 2,048 pages: a process that maps every temporary afresh faults thousands of times a round.
    assert faults < 100
