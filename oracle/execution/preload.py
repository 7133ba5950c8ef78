"""Imported by the fork server, after its lifeline: what every worker needs before its first job.

Each import is guarded. The standard library's fork server passes over a preloaded module that
raises ImportError but dies on any other error, and then no worker could start; a module that
fails here fails again in the worker that needs it, where the failure becomes that job's verdict.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterable

__all__ = ["ENGINE", "load"]

ENGINE = ("oracle.execution.worker", "oracle.run", "oracle.reference", "oracle.specs", "jax", "jax.numpy")


def load(names: Iterable[str]) -> list[str]:
    """Import each module that imports; the names of those that did."""
    loaded = []
    for name in names:
        try:
            importlib.import_module(name)
        except Exception:   # noqa: BLE001, S112 - see the module's docstring
            continue
        loaded.append(name)
    return loaded


load(ENGINE)
