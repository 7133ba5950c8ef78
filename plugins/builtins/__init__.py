"""builtins: torch's and JAX's own differentiable ops, registered for their catalogue ops.

They are right, so they are the correct side of `oracle selftest` for the torch and jax
conventions: any verdict of theirs that does not pass, in any dtype (float16 and bfloat16
included), is a false alarm. torch's are registered only when torch is installed.
"""

from __future__ import annotations

import importlib.util

import oracle

from . import jax_ops

__all__ = ["plugin"]

plugin = oracle.Plugin("builtins")
jax_ops.register(plugin)
if importlib.util.find_spec("torch") is not None:
    from . import torch_ops

    torch_ops.register(plugin)
