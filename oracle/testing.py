"""assert_gradients: check one implementation in one call, from any test.

    from oracle.testing import assert_gradients

    def test_my_relu():
        assert_gradients(relu_pullback, "relu")                                # pullback convention
        assert_gradients((affine_forward, affine_backward), "affine")          # layer convention
        assert_gradients(MultiplyGate, "mul", convention="gate")
        assert_gradients(my_plugin, ops=["matmul"])                            # a whole plugin

On failure it raises AssertionError whose text is the oracle's failure message: op, check,
argument, shrunk shapes, worst elements, error against threshold, seed and a reproduce line.
"""

from __future__ import annotations

import inspect
from typing import Any, Callable, Sequence

from .errors import UsageError
from .message import format_failure
from .plugin import Plugin
from .result import Run
from .spec import Spec

__all__ = ["assert_gradients", "as_plugin"]


def _guess_convention(implementation: Any) -> str:
    if isinstance(implementation, tuple) and len(implementation) == 2:
        return "layer"
    if inspect.isclass(implementation):
        return "gate"
    return "pullback"


def as_plugin(implementation: Any, op: str | Spec, convention: str | None = None, name: str = "assert_gradients") -> Plugin:
    """A one-implementation plugin around a function, a gate class or a (forward, backward) pair."""
    convention = convention or _guess_convention(implementation)
    plugin = Plugin(name)
    if convention == "layer":
        if not (isinstance(implementation, tuple) and len(implementation) == 2):
            raise UsageError("the layer convention takes a (forward, backward) pair")
        plugin.layer(op, forward=implementation[0], backward=implementation[1])
    elif convention in ("pullback", "gate", "value_and_grad", "loss"):
        getattr(plugin, convention)(op, implementation)
    else:
        raise UsageError(f"unknown calling convention {convention!r}; "
                         "choose from pullback, layer, gate, value_and_grad, loss")
    return plugin


def assert_gradients(implementation: Any, op: str | Spec | None = None, *, convention: str | None = None,
                     ops: Sequence[str] | None = None, dtypes: Sequence[str] | None = None, examples: int | None = None,
                     seed: int | None = None, **options: Any) -> Run:
    """Check an implementation (or a Plugin, or a plugin name) and raise AssertionError on any failure."""
    from .run import check

    if isinstance(implementation, (Plugin, str)):
        if op is not None:
            ops = [op.name if isinstance(op, Spec) else op, *(ops or [])]
        targets = [implementation]
    else:
        if op is None:
            raise UsageError("assert_gradients needs the op (a catalogue name or an oracle.Spec) for an implementation")
        targets = [as_plugin(implementation, op, convention)]
    run = check(targets, ops=ops, dtypes=dtypes, examples=examples, seed=seed, **options)
    failures = [v for v in run.verdicts if v.status in ("failed", "errored")]
    if failures:
        raise AssertionError("\n\n".join(format_failure(v) for v in failures)
                             + f"\n\n{run.summary_line()} (seed {run.seed})")
    return run
