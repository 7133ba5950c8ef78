"""A worker runs JAX's CPU programs in its own thread: no hand-over to JAX's threads for each small reference."""

from __future__ import annotations

from oracle.execution.pool import WorkerPool


def asynchronous_dispatch_of_this_process() -> bool:
    import jax

    return bool(jax.config.values["jax_cpu_enable_async_dispatch"])


def test_a_worker_switches_off_jaxs_asynchronous_cpu_dispatch():
    pool = WorkerPool(1)
    try:
        assert pool.submit(asynchronous_dispatch_of_this_process).result(timeout=120) is False
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def test_this_process_keeps_the_users_setting_until_it_becomes_a_worker():
    # The pytest plugin and `workers=0` judge in the user's own process: its JAX settings are the user's.
    assert asynchronous_dispatch_of_this_process() is True
